"""The "learns worse than clean" detector (``learns_worse``): its false alarms on fresh clean seeds
and its power on runs that learn, only worse, at full length.

    python scripts/learns_worse.py env=cartpole                # 24 bug runs x 500k steps, ~30 min on 2 cores
    python scripts/learns_worse.py env=catch steps=100000      # 21 bug runs, ~8 min

Clean runs: the ``evaluation`` and ``holdout`` seeds (none set the detector's reference, which
comes from the ``calibration`` seeds: ``scripts/calibrate_envelope.py``), shared with
``scripts/false_alarms.py`` under ``runs/clean/<env>_<steps>/``. Runs that learn worse: dose
series of faults that slow learning without stopping it, each on the ``evaluation_bugs`` seeds
under ``runs/learns_worse/<env>_<steps>/``: ``shuffled_labels`` at doses 0.1 to 0.75, a learning
rate 3x, 10x and 30x below the configured one (a config error, no zoo bug: nothing but the return
can show it), and on CartPole ``off_by_one_frames``. Finished runs are reused; every run is replayed
through today's detectors (``rl_lab.instruments.detectors.replay``).

Writes ``results/detectors/learns_worse_<env>.md``: the clean runs it fired on (with the
one-sided 95% upper bound), and per bug run its final return against the calibration median, the
step it fired at (as a fraction of the budget) and the first event of any other detector. The
goal it is measured against: every run ending below 60% of the clean calibration median return is
flagged, in the median by 60% of the budget.
"""

from __future__ import annotations

import functools
import json
import re
import statistics
import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from rl_lab.instruments.detectors import replay
from rl_lab.lab.check import rate_with_ci, upper_bound
from rl_lab.lab.runs import RunSpec, result_path, run_script, train_missing, write_result
from rl_lab.lab.seeds import seed_set
from rl_lab.lab.timeline import median_with_interval
from rl_lab.run.runlog import read_metrics
from rl_lab.run.training import build_detectors, compose_settings

ROOT = Path(__file__).resolve().parent.parent
DETECTOR = "learns_worse"
SHUFFLED_DOSES = (0.1, 0.25, 0.5, 0.75)
LR_DIVISORS = (3, 10, 30)  # 3x and 10x too low, and one stronger: most 3x and 10x runs still learn to clean's level
GOAL_RETURN, GOAL_LATENCY = 0.6, 0.6  # flag every run below 60% of the clean median, by 60% of the budget


def series(env: str, lr: float) -> dict[str, tuple[str, ...]]:
    """The runs that learn worse: a name -> its ``rl_lab.train`` overrides."""
    runs = {f"shuffled_labels {p:g}": ("bug=shuffled_labels", f"bug.shuffled_labels.dose={p}") for p in SHUFFLED_DOSES}
    runs |= {f"lr / {d}": (f"agent.lr={lr / d:.6g}",) for d in LR_DIVISORS}
    if env == "cartpole":
        runs["off_by_one_frames 1"] = ("bug=off_by_one_frames", "bug.off_by_one_frames.dose=1")
    return runs


@functools.cache  # read once: the report asks for some runs' return several times
def final_return(spec: RunSpec) -> float:
    return json.loads((spec.run_dir / "summary.json").read_text())["final_return"]


def main() -> None:
    args = OmegaConf.merge(OmegaConf.create({"env": "cartpole", "steps": None, "out": None}), OmegaConf.from_cli())
    out = result_path(ROOT / "results" / "detectors" / f"learns_worse_{args.env}.md", args.out)
    settings = compose_settings([f"env={args.env}"])
    steps = args.steps or settings.total_steps
    base = (f"env={args.env}", f"total_steps={steps}")
    clean_root, bug_root = (
        ROOT / "runs" / "clean" / f"{args.env}_{steps}",
        ROOT / "runs" / DETECTOR / f"{args.env}_{steps}",
    )
    clean = {
        name: [RunSpec((*base, f"seed={s}"), clean_root / f"seed{s}") for s in seed_set(name)]
        for name in ("calibration", "evaluation", "holdout")
    }
    bugs = {
        name: [
            RunSpec((*base, *overrides, f"seed={s}"), bug_root / re.sub(r"[^\w.]+", "_", name) / f"seed{s}")
            for s in seed_set("evaluation_bugs")
        ]
        for name, overrides in series(args.env, settings.agent.lr).items()
    }
    everything = [
        spec
        for specs in (clean["calibration"], *bugs.values(), clean["evaluation"], clean["holdout"])
        for spec in specs
    ]
    trained = train_missing(everything)

    def events(spec: RunSpec) -> dict[str, int]:
        first: dict[str, int] = {}
        for event in replay(read_metrics(spec.run_dir), build_detectors(settings.diagnostics)):
            first.setdefault(event.detector, event.step)
        return first

    median = statistics.median(final_return(spec) for spec in clean["calibration"])
    low_clean = [spec for spec in clean["calibration"] if final_return(spec) < GOAL_RETURN * median]
    fresh = clean["evaluation"] + clean["holdout"]
    alarms = {spec.run_dir.name: fired[DETECTOR] for spec in fresh if DETECTOR in (fired := events(spec))}
    command = f"python scripts/learns_worse.py env={args.env} steps={steps}"
    lines = [
        f"# Learns worse than clean, on {args.env} at {steps:,} steps",
        "",
        f"Command: `{command}` ({trained} runs trained by that call, {len(everything) - trained} reused). "
        f"Detector `{DETECTOR}` (`BelowCleanArea`) with its reference from `conf/envelopes/{args.env}.yaml` "
        "(the `calibration` seeds), replayed over each run's log points.",
        "",
        "## False alarms",
        "",
        f"Fresh clean runs (`evaluation` and `holdout` seeds, {len(fresh)} runs): fired on "
        f"**{len(alarms)}/{len(fresh)}** (one-sided 95% upper bound {upper_bound(len(alarms), len(fresh)):.3f})"
        + ("." if not alarms else ": " + ", ".join(f"{seed} at {step:,}" for seed, step in alarms.items()) + "."),
        "",
        "## Power",
        "",
        f"Clean calibration median final return: {median:.3g}; the goal covers runs ending below "
        f"{GOAL_RETURN:.0%} of it ({GOAL_RETURN * median:.3g}). Seeds `evaluation_bugs` {seed_set('evaluation_bugs')}. "
        "Clean runs that end there too, which the detector is calibrated to leave alone: "
        + (
            ", ".join(f"calibration seed {spec.run_dir.name[4:]} ({final_return(spec):.3g})" for spec in low_clean)
            or "none"
        )
        + f"; fresh clean seeds: {sum(final_return(spec) < GOAL_RETURN * median for spec in fresh)}/{len(fresh)}.",
        "",
        "| run | seed | final return | of clean median | in the goal | fired at | of budget | first other event |",
        "|---|---|---|---|---|---|---|---|",
    ]
    goal_runs, latencies, missed = 0, [], []
    for name, specs in bugs.items():
        for spec in specs:
            fired, ret = events(spec), final_return(spec)
            at = fired.pop(DETECTOR, None)
            other = min(fired.items(), key=lambda item: item[1], default=None)
            in_goal = ret < GOAL_RETURN * median
            goal_runs += in_goal
            if in_goal and at is None:
                missed.append(f"{name} seed {spec.run_dir.name[4:]}")
            if in_goal and at is not None:
                latencies.append(at / steps)
            lines.append(
                f"| {name} | {spec.run_dir.name[4:]} | {ret:.3g} | {ret / median:.0%} | {'yes' if in_goal else 'no'} | "
                f"{'-' if at is None else f'{at:,}'} | {'-' if at is None else f'{at / steps:.0%}'} | "
                f"{'-' if other is None else f'`{other[0]}` at {other[1]:,}'} |"
            )
    lines += ["", f"Runs in the goal flagged: **{rate_with_ci(len(latencies), goal_runs)}**."]
    if latencies:
        mid, low, high = median_with_interval(latencies)
        interval = (
            f" (95% CI {low:.0%} to {high:.0%})"
            if np.isfinite([low, high]).all()
            else " (too few runs for an interval)"
        )
        lines.append(f"Median latency of those flagged: **{mid:.0%} of the budget**{interval}.")
    lines.append("Missed: " + (", ".join(missed) if missed else "none") + ".")
    write_result(out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(run_script(main))
