"""A speed option against the default: does the agent still learn, and do the exact checks stay exact?

    python scripts/speed_options.py option=bf16_conv    # 20 Catch runs x 100k + one Pong run x 40k, ~15 min on 2 cores
    python scripts/speed_options.py option=lagged catch_seeds=holdout pong_steps=0 out=/tmp/lagged.md

The options (each changes the numbers, so each is off by default; the speed is
``scripts/bench_throughput.py``'s business):

- ``bf16_conv``: ``agent.model.conv_dtype=bfloat16``, NatureCNN's three convolutions in bfloat16
  (``rl_lab/agent/models.py``); writes ``results/throughput/conv_dtype.md``;
- ``lagged``: ``loop=lagged``, the next rollout collected during the update with the weights from
  before it, a policy lag of one update (``rl_lab/agent/loops.py``); writes
  ``results/throughput/lagged_loop.md``.

Catch: every seed of the ``catch_seeds`` set (default ``evaluation``) trained with the option, each
paired with the clean default run of the same seed (``runs/clean/catch_100000/``, shared with
``scripts/false_alarms.py``; trained when missing). Reported: the final returns, their mean paired
difference with its 95% t interval (``scipy.stats.ttest_rel``), every detector event the runs
recorded, and each exact check's largest value on either side. Pong: one run with the option
(``env=pong seed=0``, ``pong_steps`` steps), its exact checks against the same thresholds.

A committed result is replaced only when named with ``out=``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from scipy import stats

from rl_lab.lab.check import exact_check_table
from rl_lab.lab.runs import RunSpec, result_path, run_script, train_missing, write_result
from rl_lab.lab.seeds import seed_set
from rl_lab.run.config import ConfigError
from rl_lab.run.runlog import read_events
from rl_lab.run.training import compose_settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SpeedOption:
    override: str  # what rl_lab.train is given
    default_label: str  # the default's name and the option's, in the report
    label: str
    runs: str  # runs/<runs>/: the option's runs, kept for the next call
    result: str  # results/throughput/<result>
    title: str
    what: str  # one sentence: what the option changes


OPTIONS = {
    "bf16_conv": SpeedOption(
        "agent.model.conv_dtype=bfloat16",
        "float32",
        "bfloat16",
        "conv_dtype",
        "conv_dtype.md",
        "bfloat16 convolutions against float32",
        "runs NatureCNN's three convolutions in bfloat16 and the rest in float32 (`rl_lab/agent/models.py`)",
    ),
    "lagged": SpeedOption(
        "loop=lagged",
        "serial",
        "lagged",
        "lagged_loop",
        "lagged_loop.md",
        "The lagged loop against the serial one",
        "collects each rollout on a worker thread during the update before it, with the weights from before "
        "that update: every update trains on data one update old (`rl_lab/agent/loops.py`)",
    ),
}
CATCH_STEPS = 100_000  # the clean Catch runs' budget (runs/clean/catch_100000)


def _final_return(spec: RunSpec) -> float:
    return json.loads((spec.run_dir / "summary.json").read_text())["final_return"]


def _events(specs: list[RunSpec]) -> str:
    events = [(spec.run_dir.name, e) for spec in specs for e in read_events(spec.run_dir)]
    return ", ".join(f"{run} `{e['detector']}` ({e['kind']}) at {e['step']:,}" for run, e in events) or "none"


def main() -> None:
    args = OmegaConf.merge(
        OmegaConf.create({"option": None, "catch_seeds": "evaluation", "pong_steps": 40_000, "out": None}),
        OmegaConf.from_cli(),
    )
    if args.option not in OPTIONS:
        raise ConfigError(f"option={args.option!r} is invalid: valid choices are {', '.join(OPTIONS)}")
    option = OPTIONS[args.option]
    out = result_path(ROOT / "results" / "throughput" / option.result, args.out)
    seeds = seed_set(args.catch_seeds)
    base = ("env=catch", f"total_steps={CATCH_STEPS}")
    default = [
        RunSpec((*base, f"seed={s}"), ROOT / "runs" / "clean" / f"catch_{CATCH_STEPS}" / f"seed{s}") for s in seeds
    ]
    optioned_dir = ROOT / "runs" / option.runs / f"catch_{CATCH_STEPS}"
    optioned = [RunSpec((*base, option.override, f"seed={s}"), optioned_dir / f"seed{s}") for s in seeds]
    pong = [
        RunSpec(
            ("env=pong", option.override, f"total_steps={args.pong_steps}", "seed=0"),
            ROOT / "runs" / option.runs / "pong",
        )
    ]
    trained = train_missing(default + optioned + (pong if args.pong_steps else []))

    a, b = np.array([_final_return(s) for s in default]), np.array([_final_return(s) for s in optioned])
    test = stats.ttest_rel(b, a)
    low, high = test.confidence_interval(0.95)
    catch = compose_settings(["env=catch"]).diagnostics
    command = (
        f"python scripts/speed_options.py option={args.option} catch_seeds={args.catch_seeds} "
        f"pong_steps={args.pong_steps}"
    )
    lines = [
        f"# {option.title}",
        "",
        f"Command: `{command}` ({trained} runs trained by that call). `{option.override}` {option.what}; "
        "off by default.",
        "",
        f"## Catch, {CATCH_STEPS:,} steps, seeds `{args.catch_seeds}` ({len(seeds)})",
        "",
        f"Final return (mean of the last 100 episodes): {option.default_label} mean {a.mean():.3f} "
        f"(median {np.median(a):.3f}), {option.label} mean {b.mean():.3f} (median {np.median(b):.3f}); "
        f"paired difference {option.label} - {option.default_label} "
        f"**{(b - a).mean():+.3f} [95% CI {low:+.3f}, {high:+.3f}]** (t test p = {test.pvalue:.2f}; an interval "
        "that holds 0 is not a proof of no difference: read its width).",
        "",
        f"| seed | {option.default_label} | {option.label} |",
        "|---|---|---|",
        *(f"| {s} | {x:.2f} | {y:.2f} |" for s, x, y in zip(seeds, a, b, strict=True)),
        "",
        f"Detector events, {option.default_label} runs: {_events(default)}.",
        "",
        f"Detector events, {option.label} runs: {_events(optioned)}.",
        "",
        f"{option.default_label} runs. " + "\n".join(exact_check_table([s.run_dir for s in default], catch)),
        "",
        f"{option.label} runs. " + "\n".join(exact_check_table([s.run_dir for s in optioned], catch)),
        "",
    ]
    if args.pong_steps:
        lines += [
            f"## Pong, {args.pong_steps:,} steps, seed 0, {option.label}",
            "",
            f"Detector events: {_events(pong)}.",
            "",
            *exact_check_table([pong[0].run_dir], compose_settings(["env=pong"]).diagnostics),
            "",
        ]
    write_result(out, "\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(run_script(main))
