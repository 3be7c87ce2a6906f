"""Where clean runs stand at the per-environment detector settings (``conf/env/*.yaml``).

    python scripts/calibrate_envelope.py env=cartpole && python scripts/calibrate_envelope.py env=catch steps=100000
    python scripts/calibrate_env_checks.py runs/clean/cartpole_500000/seed1?? runs/clean/catch_100000/seed1??
    python scripts/calibrate_env_checks.py runs/pong_long          # the long clean Pong run
    python scripts/calibrate_env_checks.py runs/clean/ppo_cartpole_100000/seed1??  # PPO (calibrate_envelope.py trains)

Takes sweep directories or run directories. For every clean run, per algorithm and environment,
prints what the env-scaled detectors judge, against the levels the panel reads for them (A2C's in
``conf/env/<env>.yaml``, PPO's in its ``ppo:`` block, through ``conf/algo_diagnostics/ppo.yaml``):
the return at
``early_learning_check.by_step`` and ``learning_check.by_step`` (``NoLearning``) and the step it
first reached ``min_return``; the
median explained variance over the ``critic_fit`` window from ``critic_fit_after``
(``CriticFit``); the smallest change of the return over any ``plateau_window`` below the solved
level, as a fraction of the width of ``return_range`` (``Plateau``). Then it replays the run's
log points through the current default detectors of its env (``rl_lab.instruments.detectors.replay``:
exactly the events a run with today's settings would raise) and lists them.
The first two commands train and read the ``calibration`` seed set (``conf/seeds.yaml``: 100-129,
at each env's full budget), kept apart from the seeds that then measure the settings.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np

from rl_lab.instruments.detectors import replay
from rl_lab.lab.runs import algo_overrides, clean_name
from rl_lab.lab.sweep import CLEAN, Job, load_sweep, read_job
from rl_lab.run.runlog import read_metrics
from rl_lab.run.training import build_detectors, compose_settings

LEARNING_CHECKS = {"early_learning_check": "early_learning", "learning_check": "no_learning"}  # env key -> detector


def clean_runs(paths: list[str]) -> list[Job]:
    jobs = []
    for path in map(Path, paths):
        jobs += [read_job(path)] if (path / "config.yaml").exists() else load_sweep(path)
    return [j for j in jobs if j.bug == CLEAN and not j.context]


def smallest_change(steps: np.ndarray, values: np.ndarray, window: int, below: float) -> tuple[float, int] | None:
    """The least (max - min) of the return over any ``window`` steps that end below ``below``, and where."""
    best = None
    for i in np.nonzero((steps - steps[0] >= window) & (values < below))[0]:
        inside = values[np.searchsorted(steps, steps[i] - window, side="right") - 1 : i + 1]
        change = float(inside.max() - inside.min())
        best = (change, int(steps[i])) if best is None or change < best[0] else best
    return best


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    jobs = clean_runs(argv)
    for algo, env in sorted({(j.algorithm, j.env) for j in jobs}):
        settings = compose_settings([*algo_overrides(algo), f"env={env}"])
        checks, detectors = settings.env, settings.diagnostics.detectors
        runs = sorted((j for j in jobs if (j.algorithm, j.env) == (algo, env)), key=lambda j: j.seed)
        seeds = ", ".join(str(j.seed) for j in runs)
        print(f"{clean_name(algo, env)}: {len(runs)} clean run(s), seeds {seeds}")
        returns = [j.series("charts/return_last100") for j in runs]
        for key, detector in LEARNING_CHECKS.items():
            by, level = detectors[detector]["by_step"], detectors[detector]["min_return"]
            if by is None:
                continue
            at = [float(v[s <= by][-1]) for s, v in returns if (s <= by).any()]
            reached = [int(s[v >= level][0]) if (v >= level).any() else None for s, v in returns]
            spread = f"{min(at):.3g} to {max(at):.3g} (median {statistics.median(at):.3g})"
            print(f"  {key}: return at step {by:,}: {spread}")
            print(f"  first at or above {level:g} at steps {reached}; {detector} fires below {level:g} at {by:,}")
        fit = detectors["critic_fit"]
        after = fit["after"]
        if after is not None:
            medians = []
            for job in runs:
                steps, values = job.series("value/explained_variance")
                inside = (steps >= after) & (steps <= after + fit["window_steps"]) & np.isfinite(values)
                medians.append(float(np.median(values[inside])))
            print(
                f"  median explained variance over steps {after:,}-{after + fit['window_steps']:,}: "
                f"{min(medians):.3g} to {max(medians):.3g}; critic_fit fires below {fit['floor']:g}"
            )
        else:
            print("  critic_fit: not judged in this environment")
        plateau, (low, high) = detectors["plateau"], checks["return_range"]
        window, width = plateau["window_steps"], high - low
        for job, (steps, values) in zip(runs, returns, strict=True):
            least = smallest_change(steps, values, window, checks.get("solved_return", np.inf))
            text = f"{least[0]:.3g} ({least[0] / width:.3g} of the range) ending at {least[1]:,}" if least else "-"
            print(f"  seed {job.seed}: smallest return change over {window:,} steps below the solved level: {text}")
        print(f"  plateau fires below {plateau['min_change']:g} of the range ({plateau['min_change'] * width:.3g})")
        for job, (steps, _) in zip(runs, returns, strict=True):
            events = replay(read_metrics(job.path), build_detectors(settings.diagnostics))
            listed = ", ".join(f"{e.detector} at {e.step:,}" for e in events) or "none"
            print(f"  seed {job.seed}, {int(steps[-1]):,} steps: events with today's settings: {listed}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
