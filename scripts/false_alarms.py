"""False alarms of every detector on clean runs of full length, on a named seed set.

    python scripts/false_alarms.py env=cartpole                 # 20 evaluation seeds x 500k steps, ~7 min on 2 cores
    python scripts/false_alarms.py env=catch steps=100000
    python scripts/false_alarms.py env=cartpole seeds=calibration   # the same on the seeds the thresholds were set on
    python scripts/false_alarms.py algo=ppo env=cartpole        # PPO: 20 evaluation seeds x 100k (its budget)

Trains the clean agent (README's main command, ``env`` and ``seed`` set) on every seed of the
set (``conf/seeds.yaml``; default ``evaluation``, which no threshold was set on) for ``steps``
(default: the env's budget); finished runs under ``runs/clean/<env>_<steps>/`` (``<algo>_<env>``
for another algorithm than A2C: ``rl_lab.lab.runs.clean_name``) are reused. Then
replays each run's log points through today's default detectors for the env
(``rl_lab.instruments.detectors.replay``: the events a run with today's settings raises), so a
changed threshold needs no training. Writes ``results/detectors/false_alarms_<name>_<set>.md``:
per detector and per kind, the clean runs it fired on with a one-sided 95% upper bound
(Clopper-Pearson), and each firing's step.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

from rl_lab.instruments.detectors import replay
from rl_lab.lab.check import upper_bound
from rl_lab.lab.runs import (
    algo_overrides,
    clean_name,
    clean_specs,
    result_path,
    run_script,
    train_missing,
    write_result,
)
from rl_lab.lab.seeds import seed_set
from rl_lab.run.runlog import read_metrics
from rl_lab.run.training import build_detectors, compose_settings

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("divergence", "consistency", "learning")


def main() -> None:
    args = OmegaConf.merge(
        OmegaConf.create({"algo": "a2c", "env": "cartpole", "steps": None, "seeds": "evaluation", "out": None}),
        OmegaConf.from_cli(),
    )
    name, algo = clean_name(args.algo, args.env), algo_overrides(args.algo)
    out = result_path(ROOT / "results" / "detectors" / f"false_alarms_{name}_{args.seeds}.md", args.out)
    settings = compose_settings([*algo, f"env={args.env}"])
    steps = args.steps or settings.total_steps
    seeds = seed_set(args.seeds)
    specs = clean_specs(ROOT / "runs", args.algo, args.env, steps, seeds)
    trained = train_missing(specs)
    fired: dict[int, dict[str, int]] = {}
    bank = build_detectors(settings.diagnostics)
    names, kinds = list(bank.detectors), {name: d.kind for name, d in bank.detectors.items()}
    for seed, spec in zip(seeds, specs, strict=True):
        fired[seed] = {}
        for event in replay(read_metrics(spec.run_dir), build_detectors(settings.diagnostics)):
            fired[seed].setdefault(event.detector, event.step)
    n = len(seeds)
    options = "".join(a + " " for a in algo)
    command = f"python scripts/false_alarms.py {options}env={args.env} steps={steps} seeds={args.seeds}"
    lines = [
        f"# False alarms on clean {name}: {n} `{args.seeds}` seeds x {steps:,} steps",
        "",
        f"Command: `{command}` ({trained} runs trained by that call, {n - trained} reused). Seeds {seeds}. "
        "Detectors and thresholds as configured when the script ran (replayed over the runs' log points).",
        "",
        "| detector | kind | clean runs fired | 95% upper bound | steps |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(names, key=lambda x: (KINDS.index(kinds[x]) if kinds[x] in KINDS else 9, x)):
        hits = {seed: f[name] for seed, f in fired.items() if name in f}
        at = ", ".join(f"seed {seed} at {step:,}" for seed, step in hits.items()) or "-"
        lines.append(f"| `{name}` | {kinds[name]} | {len(hits)}/{n} | {upper_bound(len(hits), n):.3f} | {at} |")
    lines += ["", "| kind | clean runs with an event of this kind | 95% upper bound |", "|---|---|---|"]
    for kind in (*KINDS, "any"):
        k = sum(any(kind in ("any", kinds[d]) for d in f) for f in fired.values())
        lines.append(f"| {kind} | {k}/{n} | {upper_bound(k, n):.3f} |")
    write_result(out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(run_script(main))
