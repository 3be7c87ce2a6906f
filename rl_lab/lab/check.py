"""Regression check: does a sweep still catch every known bug, and leave the clean agent alone?
(The command: ``python -m rl_lab.check``.)

The golden signatures (written by ``python -m rl_lab.report`` from a reference sweep) say,
for each bug in each environment, which detectors must fire (those that fired in at least
two thirds of the reference seeds) and by which agent step (twice the slowest firing seen,
within the run). A run of a bug is *caught* when one of its must-fire detectors fires by
then; a clean run raises a *false alarm* when any detector fires at all.

Prints the true-positive rate over the bugs' runs, the false-positive rate over the clean
runs, and the median detection latency. Exit status 1 on a regression: a bug caught in
fewer than half of its runs (a bug whose golden signature has no must-fire detector counts
as never caught), or a false-alarm rate above ``max_fpr`` (default 0). Bugs the sweep did
not run are listed, not failed (a reduced sweep checks a subset).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rl_lab.lab.sweep import CLEAN, Job


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
