"""Which of the run's own numbers can judge an environment at fault, chosen on the calibration
seeds alone: the split-half check behind ``CRITIC_AREAS`` of ``scripts/calibrate_envelope.py``.

    python scripts/area_candidates.py env=catch steps=100000     # replays the 30 calibration runs, ~1 min

Each candidate area (a metric, the side a faulty env pushes it to, a clip) is calibrated as
``calibrate_envelope.py`` calibrates it (``rl_lab.lab.envelope.calibrate_area``: margin
``margin`` x the farthest left-out run, judged from ``start`` x the budget, every log point) on
half of the ``calibration`` seeds, and judged on the other half, both ways (even and odd
positions). A candidate that raises an alarm on a clean calibration run it did not see would
raise false alarms on fresh seeds; those that raise none are kept. No evaluation, holdout or
fault run is read. Writes ``results/detectors/area_candidates_<env>.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

from rl_lab.lab.envelope import AREA_CANDIDATES, side_series, split_half_alarms
from rl_lab.lab.runs import RunSpec, result_path, run_script, train_missing, write_result
from rl_lab.lab.seeds import seed_set
from rl_lab.run.runlog import read_metrics
from rl_lab.run.training import compose_settings

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    defaults = {"env": "catch", "steps": None, "margin": 2.0, "start": 0.1, "out": None}
    args = OmegaConf.merge(OmegaConf.create(defaults), OmegaConf.from_cli())
    out = result_path(ROOT / "results" / "detectors" / f"area_candidates_{args.env}.md", args.out)
    settings = compose_settings([f"env={args.env}"])
    steps = args.steps or settings.total_steps
    root = ROOT / "runs" / "clean" / f"{args.env}_{steps}"
    seeds = seed_set("calibration")
    specs = [RunSpec((f"env={args.env}", f"seed={s}", f"total_steps={steps}"), root / f"seed{s}") for s in seeds]
    trained = train_missing(specs)
    points = [read_metrics(spec.run_dir) for spec in specs]
    start = int(args.start * steps)
    command = f"python scripts/area_candidates.py env={args.env} steps={steps} margin={args.margin} start={args.start}"
    lines = [
        f"# Candidate areas for an environment at fault, on {args.env}'s calibration seeds",
        "",
        f"Command: `{command}` ({trained} runs trained by that call, {len(specs) - trained} reused). "
        f"Calibration seeds {seeds} at {steps:,} steps, split by position into two halves of {len(specs) // 2}; "
        f"each half calibrates (margin {args.margin:g}, judged from step {start:,}, every log point) and the other "
        "is judged, both ways.",
        "",
        "| metric | side | clip | calibration runs it fired on, unseen | kept |",
        "|---|---|---|---|---|",
    ]
    for metric, (side, clip) in AREA_CANDIDATES.items():
        alarms = split_half_alarms([side_series(p, metric, side, clip) for p in points], args.margin, start, side, clip)
        kept = "yes" if alarms == 0 else "no"
        lines.append(f"| `{metric}` | {side} | {list(clip) if clip else '-'} | {alarms}/{len(specs)} | {kept} |")
    write_result(out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(run_script(main))
