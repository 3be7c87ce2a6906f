"""Regression check: does a sweep still catch every known bug, and leave the clean agent alone?

    python -m rl_lab.check multirun/atlas/fast                 # against results/atlas/fast/golden.json
    python -m rl_lab.check SWEEP_DIR golden=results/atlas/ci/golden.json

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

import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rl_lab.atlas import CLEAN, ROOT, Job, load_sweep, split_args, tier_of


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


def main(argv: list[str]) -> int:
    positional, options = split_args(argv, ("golden", "max_fpr"))
    if len(positional) != 1:
        print("usage: python -m rl_lab.check SWEEP_DIR [golden=PATH] [max_fpr=0]", file=sys.stderr)
        return 2
    sweep_dir = Path(positional[0])
    golden_path = Path(options.get("golden", ROOT / "results" / "atlas" / tier_of(sweep_dir) / "golden.json"))
    try:
        jobs = load_sweep(sweep_dir)
        golden = json.loads(golden_path.read_text())
        max_fpr = float(options.get("max_fpr", 0.0))
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"error: max_fpr={options.get('max_fpr')!r} is invalid ({error}): must be a number", file=sys.stderr)
        return 2
    verdicts, clean, alarms, not_run = check(jobs, golden)
    print(f"sweep {sweep_dir} against {golden_path}")
    print(f"{'env':9s} {'bug':22s} {'caught':>7s}  {'median latency':>14s}  must fire (by step)")
    for v in verdicts:
        latency = f"{statistics.median(v.latencies):,.0f}" if v.latencies else "-"
        must = ", ".join(v.must_fire) or "nothing (not caught in the golden sweep)"
        budget = f" (by {v.budget:,})" if v.budget else ""
        flag = "   <- known gap" if v.gap else ("" if v.passed else "   <- REGRESSION")
        print(f"{v.env:9s} {v.bug:22s} {v.caught:>3d}/{v.runs:<3d}  {latency:>14s}  {must}{budget}{flag}")
    for job in alarms:
        print(
            f"false alarm: clean {job.env} seed {job.seed}{' ' + ' '.join(job.context) if job.context else ''}: "
            + ", ".join(f"{n} at {s:,}" for n, s in job.summary["detectors"].items())
        )
    runs = sum(v.runs for v in verdicts)
    caught = sum(v.caught for v in verdicts)
    latencies = [s for v in verdicts for s in v.latencies]
    tpr = caught / runs if runs else float("nan")
    fpr = len(alarms) / len(clean) if clean else float("nan")
    print(
        f"true-positive rate {caught}/{runs} = {tpr:.3f} over {len(verdicts)} bugs; "
        f"false-positive rate {len(alarms)}/{len(clean)} = {fpr:.3f} over clean runs; "
        f"median detection latency {statistics.median(latencies):,.0f} steps"
        if latencies
        else "no detection"
    )
    if not_run:
        print(f"not in this sweep: {', '.join(not_run)}")
    bugs_run = sorted({v.bug for v in verdicts})
    caught_somewhere = sorted({v.bug for v in verdicts if v.caught})
    missing = sorted(set(bugs_run) - set(caught_somewhere))
    print(
        f"bugs caught in at least one environment: {len(caught_somewhere)}/{len(bugs_run)}"
        + (f" (never caught: {', '.join(missing)})" if missing else "")
    )
    gaps = [f"{v.env}/{v.bug}" for v in verdicts if v.gap]
    if gaps:
        print(f"known gaps (no detector caught them in the golden sweep either): {', '.join(gaps)}")
    failed = [v for v in verdicts if not v.passed]
    if failed or (clean and fpr > max_fpr) or not verdicts:
        reasons = [f"{len(failed)} bug(s) not caught"] if failed else []
        reasons += [f"false-positive rate {fpr:.3f} > {max_fpr:g}"] if clean and fpr > max_fpr else []
        reasons += ["no bug of the golden signatures was run"] if not verdicts else []
        print("REGRESSION: " + "; ".join(reasons))
        return 1
    print(
        "OK: no regression against the golden signatures"
        + (" (known gaps above)" if gaps else ": every bug was caught and the clean runs raised no alarm")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
