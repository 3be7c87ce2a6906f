"""bfloat16 convolutions (``agent.model.conv_dtype=bfloat16``) against the float32 default: does
the agent still learn, and do the exact checks stay exact?

    python scripts/conv_dtype.py                        # 20 Catch runs x 100k + one Pong run x 40k, ~15 min on 2 cores
    python scripts/conv_dtype.py catch_seeds=holdout pong_steps=0 out=/tmp/conv_dtype.md

Catch: every seed of the ``catch_seeds`` set (default ``evaluation``) trained with bfloat16
convolutions, each paired with the clean float32 run of the same seed (``runs/clean/catch_100000/``,
shared with ``scripts/false_alarms.py``; trained when missing). Reported: the final returns, their
mean paired difference with its 95% t interval (``scipy.stats.ttest_rel``), every detector event
the runs recorded, and each exact check's largest value on either side. Pong: one bfloat16 run
(``env=pong seed=0``, ``pong_steps`` steps), its exact checks against the same thresholds. The
speed is ``scripts/bench_throughput.py``'s business.

Writes ``results/throughput/conv_dtype.md`` (a committed one only when named with ``out=``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from scipy import stats

from rl_lab.lab.check import exact_check_table
from rl_lab.lab.runs import RunSpec, result_path, run_script, train_missing, write_result
from rl_lab.lab.seeds import seed_set
from rl_lab.run.runlog import read_events
from rl_lab.run.training import compose_settings

ROOT = Path(__file__).resolve().parent.parent
BF16 = "agent.model.conv_dtype=bfloat16"
CATCH_STEPS = 100_000  # the clean Catch runs' budget (runs/clean/catch_100000)


def _final_return(spec: RunSpec) -> float:
    return json.loads((spec.run_dir / "summary.json").read_text())["final_return"]


def _events(specs: list[RunSpec]) -> str:
    events = [(spec.run_dir.name, e) for spec in specs for e in read_events(spec.run_dir)]
    return ", ".join(f"{run} `{e['detector']}` ({e['kind']}) at {e['step']:,}" for run, e in events) or "none"


def main() -> None:
    args = OmegaConf.merge(
        OmegaConf.create({"catch_seeds": "evaluation", "pong_steps": 40_000, "out": None}), OmegaConf.from_cli()
    )
    out = result_path(ROOT / "results" / "throughput" / "conv_dtype.md", args.out)
    seeds = seed_set(args.catch_seeds)
    base = ("env=catch", f"total_steps={CATCH_STEPS}")
    float32 = [
        RunSpec((*base, f"seed={s}"), ROOT / "runs" / "clean" / f"catch_{CATCH_STEPS}" / f"seed{s}") for s in seeds
    ]
    bfloat16 = [
        RunSpec((*base, BF16, f"seed={s}"), ROOT / "runs" / "conv_dtype" / f"catch_{CATCH_STEPS}" / f"seed{s}")
        for s in seeds
    ]
    pong = [
        RunSpec(("env=pong", BF16, f"total_steps={args.pong_steps}", "seed=0"), ROOT / "runs" / "conv_dtype" / "pong")
    ]
    trained = train_missing(float32 + bfloat16 + (pong if args.pong_steps else []))

    f32, bf16 = np.array([_final_return(s) for s in float32]), np.array([_final_return(s) for s in bfloat16])
    test = stats.ttest_rel(bf16, f32)
    low, high = test.confidence_interval(0.95)
    catch = compose_settings(["env=catch"]).diagnostics
    command = f"python scripts/conv_dtype.py catch_seeds={args.catch_seeds} pong_steps={args.pong_steps}"
    lines = [
        "# bfloat16 convolutions against float32",
        "",
        f"Command: `{command}` ({trained} runs trained by that call). `{BF16}` runs NatureCNN's three "
        "convolutions in bfloat16 and the rest in float32 (`rl_lab/agent/models.py`); off by default.",
        "",
        f"## Catch, {CATCH_STEPS:,} steps, seeds `{args.catch_seeds}` ({len(seeds)})",
        "",
        f"Final return (mean of the last 100 episodes): float32 mean {f32.mean():.3f} (median {np.median(f32):.3f}), "
        f"bfloat16 mean {bf16.mean():.3f} (median {np.median(bf16):.3f}); paired difference bfloat16 - float32 "
        f"**{(bf16 - f32).mean():+.3f} [95% CI {low:+.3f}, {high:+.3f}]** (t test p = {test.pvalue:.2f}; an interval "
        "that holds 0 is not a proof of no difference: read its width).",
        "",
        "| seed | float32 | bfloat16 |",
        "|---|---|---|",
        *(f"| {s} | {a:.2f} | {b:.2f} |" for s, a, b in zip(seeds, f32, bf16, strict=True)),
        "",
        f"Detector events, float32 runs: {_events(float32)}.",
        "",
        f"Detector events, bfloat16 runs: {_events(bfloat16)}.",
        "",
        "float32 runs. " + "\n".join(exact_check_table([s.run_dir for s in float32], catch)),
        "",
        "bfloat16 runs. " + "\n".join(exact_check_table([s.run_dir for s in bfloat16], catch)),
        "",
    ]
    if args.pong_steps:
        lines += [
            f"## Pong, {args.pong_steps:,} steps, seed 0, bfloat16",
            "",
            f"Detector events: {_events(pong)}.",
            "",
            *exact_check_table([pong[0].run_dir], compose_settings(["env=pong"]).diagnostics),
            "",
        ]
    write_result(out, "\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(run_script(main))
