"""Regression check: does a sweep still catch every known bug, and leave the clean agent alone?
(The command: ``python -m rl_lab.check``.)

The golden signatures (written by ``python -m rl_lab.report`` from a reference sweep) say,
for each bug in each environment, which detectors must fire (those that fired in at least
two thirds of the reference seeds) and by which agent step (twice the slowest firing seen,
within the run). A run of a bug is *caught* when one of its must-fire detectors fires by
then; a clean run raises a *false alarm* when any detector fires at all.

Prints the true-positive rate over the bugs' runs, the false-positive rate over the clean
runs, and the median detection latency. Per detector (:func:`detector_rows`): which bugs it
fires on, how early, and its false alarms with a 95% upper bound; for the detectors the runs
recorded, or for any others replayed over the runs' log points (:func:`replayed_firings`:
a user's own detector, checked against the zoo without training anything again).

Exit status 1 on a regression: a bug caught in fewer than half of its runs (a bug whose
golden signature has no must-fire detector counts as never caught), or a false-alarm rate
above ``max_fpr`` (default 0). Bugs the sweep did not run are listed, not failed (a reduced
sweep checks a subset).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from scipy import stats

from rl_lab.instruments.detectors import CONSISTENCY, RangeCheck
from rl_lab.lab.sweep import CLEAN, Job
from rl_lab.run.config import ConfigError, DiagnosticsConfig
from rl_lab.run.runlog import read_metrics
from rl_lab.run.training import build_detectors


@dataclass
class BugVerdict:
    env: str
    bug: str
    runs: int
    caught: int
    latencies: list[int]
    must_fire: list[str]
    budget: int | None

    @property
    def gap(self) -> bool:
        """No detector caught this bug in the golden sweep either: a known gap, not a regression."""
        return not self.must_fire

    @property
    def passed(self) -> bool:
        return self.gap or (self.caught > 0 and 2 * self.caught >= self.runs)


def rate_with_ci(k: int, n: int, digits: int = 3) -> str:
    """``k/n = rate [95% CI low, high]``: the two-sided Clopper-Pearson interval of a rate over n runs."""
    if not n:
        return "-"
    ci = stats.binomtest(k, n).proportion_ci(0.95)
    return f"{k}/{n} = {k / n:.{digits}f} [95% CI {ci.low:.{digits}f}, {ci.high:.{digits}f}]"


def upper_bound(k: int, n: int) -> float:
    """One-sided 95% (Clopper-Pearson) upper bound of a rate of k in n runs (NaN for none)."""
    return stats.binomtest(k, n, alternative="less").proportion_ci(0.95).high if n else math.nan


def first_catch(job: Job, must_fire: list[str], budget: int | None) -> int | None:
    """The step of the earliest must-fire detector firing within the budget, else None."""
    steps = [job.summary["detectors"][n] for n in must_fire if n in job.summary["detectors"]]
    steps = [s for s in steps if budget is None or s <= budget]
    return min(steps) if steps else None


def check(jobs: list[Job], golden: dict[str, Any]) -> tuple[list[BugVerdict], list[Job], list[Job], list[str]]:
    """Per-bug verdicts, the clean runs, those of them with an alarm, and the golden bugs not run."""
    verdicts, clean, not_run = [], [], []
    for env, env_golden in golden["envs"].items():
        env_jobs = [j for j in jobs if j.env == env]
        clean += [j for j in env_jobs if j.bug == CLEAN]
        for bug, sig in env_golden["bugs"].items():
            runs = [j for j in env_jobs if j.bug == bug and j.default_dose]
            if not runs:
                not_run.append(f"{env}/{bug}")
                continue
            caught = [s for j in runs if (s := first_catch(j, sig["must_fire"], sig["budget_steps"])) is not None]
            verdicts.append(BugVerdict(env, bug, len(runs), len(caught), caught, sig["must_fire"], sig["budget_steps"]))
    alarms = [j for j in clean if j.summary["detectors"]]
    return verdicts, clean, alarms, not_run


@dataclass
class DetectorRow:
    """What one detector did over a sweep: per bug x env, how many runs it fired in and how early;
    over the clean runs, its false alarms."""

    name: str
    kind: str
    pairs: list[tuple[str, str, int, int, int | None]]  # env, bug, runs fired, runs, median first firing
    clean_alarms: int
    clean_runs: int

    @property
    def caught_pairs(self) -> list[tuple[str, str, int, int, int | None]]:
        """The bug x env pairs it fires in, in at least half of their runs."""
        return [p for p in self.pairs if p[2] and 2 * p[2] >= p[3]]


def detector_rows(jobs: list[Job], firings: dict[Path, dict[str, int]], kinds: dict[str, str]) -> list[DetectorRow]:
    """One row per detector in ``kinds``, from each run's first firings (``firings[job.path]``);
    bug runs at their default dose only, as :func:`check`."""
    rows = []
    for name, kind in kinds.items():
        pairs = []
        for env, bug in sorted({(j.env, j.bug) for j in jobs if j.bug != CLEAN and j.default_dose}):
            runs = [j for j in jobs if (j.env, j.bug) == (env, bug) and j.default_dose]
            steps = [firings[j.path][name] for j in runs if name in firings[j.path]]
            pairs.append((env, bug, len(steps), len(runs), int(statistics.median(steps)) if steps else None))
        clean = [j for j in jobs if j.bug == CLEAN]
        alarms = sum(name in firings[j.path] for j in clean)
        rows.append(DetectorRow(name, kind, pairs, alarms, len(clean)))
    return rows


def replayed_firings(jobs: list[Job], detectors: DictConfig) -> tuple[dict[Path, dict[str, int]], dict[str, str]]:
    """Each run's log points replayed through ``detectors`` (name -> ``_target_`` config, as in
    ``diagnostics.detectors``): the first firing of each, per run, and each detector's kind.

    The config is resolved inside the run's environment's composed config, so it may read the
    env's scales (``${oc.select:env.return_range,null}``). A ``_target_`` in the user's own module
    imports from the current directory."""
    from hydra.utils import instantiate

    from rl_lab.instruments.detectors import DetectorBank, replay
    from rl_lab.run.training import compose_config

    per_env: dict[str, DictConfig] = {}
    firings, kinds = {}, {}
    for job in jobs:
        if job.env not in per_env:
            cfg = OmegaConf.to_container(compose_config([f"env={job.env}"]))  # plain: room for a key of ours
            per_env[job.env] = OmegaConf.merge(OmegaConf.create(cfg), {"mine": detectors})
        cfg = per_env[job.env]
        built = {}
        for name in detectors:
            try:
                built[name] = instantiate(cfg.mine[name])
            except Exception as error:  # an import error, a bad argument: the user's config, named
                first = str(error).strip().splitlines()[0] if str(error).strip() else "no detail"
                raise ConfigError(f"cannot build detector {name!r} ({type(error).__name__}: {first})") from None
        bank = DetectorBank(built)
        kinds.update({name: d.kind for name, d in bank.detectors.items()})
        firings[job.path] = {}
        for event in replay(job.metrics, bank):
            firings[job.path].setdefault(event.detector, event.step)
    return firings, kinds


def exact_check_table(run_dirs: list[Path], diagnostics: DiagnosticsConfig) -> list[str]:
    """Each exact check (a consistency-class range check of ``diagnostics``) over the runs' log
    points: its series' largest value, against the threshold it fires above (a Markdown table).
    Checks the runs never logged (another algorithm's) are named below the table."""
    logged = [point for run_dir in run_dirs for point in read_metrics(run_dir)]
    rows, absent = [], []
    for name, detector in build_detectors(diagnostics).detectors.items():
        if detector.kind != CONSISTENCY or not isinstance(detector, RangeCheck):
            continue
        values = [p[detector.metric] for p in logged if detector.metric in p]
        if not values:
            absent.append(f"`{name}`")
            continue
        largest = f"{max(values):.3g}"
        rows.append(
            f"| `{name}` | `{detector.metric}` | {len(values):,}/{len(logged):,} | {largest} | {detector.high:g} |"
        )
    return [
        "Each exact check: its series' largest value over the log points and the threshold it fires above "
        "(`conf/diagnostics/default.yaml`).",
        "",
        "| check | series | log points with it | largest | fires above |",
        "|---|---|---|---|---|",
        *rows,
        *(
            [
                "",
                "Not logged by these runs (another algorithm's checks, or checks newer than the runs): "
                + ", ".join(absent)
                + ".",
            ]
            if absent
            else []
        ),
    ]
