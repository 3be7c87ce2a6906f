"""Regression check: does a sweep still catch every known bug, and leave the clean agent alone?

usage: python -m rl_lab.check SWEEP_DIR [golden=PATH] [max_fpr=0] [per_detector=true] [detectors=FILE]

    python -m rl_lab.check multirun/atlas/fast                  # against results/atlas/fast/golden.json
    python -m rl_lab.check multirun/atlas/ci golden=results/atlas/ci/golden.json
    python -m rl_lab.check multirun/atlas/fast per_detector=true   # also: what each detector caught
    python -m rl_lab.check multirun/atlas/fast detectors=my_detectors.yaml   # your own detectors

settings:
    sweep     the sweep directory (or the bare word), e.g. multirun/atlas/fast
    golden    golden signatures (default: the committed results/atlas/<the sweep's tier>/golden.json,
              which ships with the package)
    max_fpr   the largest false-alarm rate that is not a regression (default 0)
    per_detector  also print, per detector the runs recorded, the bugs it fires on (runs, median
              first firing) and its false-alarm rate on the clean runs with the same 95% interval
              as the false-positive rate
    detectors a YAML file of detectors (name -> _target_ config, as conf/diagnostics/default.yaml's
              `detectors`): replay every run's log points through them and print the same
              per-detector report for them alone (no golden signatures needed, nothing retrained);
              a _target_ in your own module imports from the current directory

A bug's run is caught when one of its must-fire detectors fires by its step budget; a
clean run raises a false alarm when any detector fires. Prints the true-positive rate and
the false-positive rate, each with its 95% Clopper-Pearson interval, and the median detection
latency; exit status 1 on a regression
(a bug caught in fewer than half of its runs, or a false-alarm rate above max_fpr).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING, DictConfig, OmegaConf

from rl_lab.cli import fail, parse
from rl_lab.lab.atlas import shipped_golden, tier_of
from rl_lab.lab.check import DetectorRow, check, detector_rows, rate_with_ci, replayed_firings
from rl_lab.lab.signatures import require_algorithm
from rl_lab.lab.sweep import load_sweep
from rl_lab.run.config import ConfigError
from rl_lab.run.runlog import read_events


@dataclass
class CheckSettings:
    sweep: str = MISSING
    golden: str | None = None
    max_fpr: float = 0.0
    per_detector: bool = False
    detectors: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_fpr <= 1.0:
            raise ConfigError(f"max_fpr={self.max_fpr!r} is invalid: must lie in [0, 1]")
        if self.detectors is not None and not Path(self.detectors).is_file():
            raise ConfigError(f"detectors={self.detectors!r} is invalid: no such file")


def print_detector_rows(rows: list[DetectorRow]) -> None:
    for row in rows:
        fired = [p for p in row.pairs if p[2]]
        pairs = ", ".join(
            f"{env}/{bug} {k}/{n}" + (f" (median {at:,})" if at is not None else "") for env, bug, k, n, at in fired
        )
        caught, runs = sum(p[2] for p in row.pairs), sum(p[3] for p in row.pairs)
        print(f"detector {row.name} ({row.kind}):")
        print(f"  fires on: {pairs or 'no bug run'}")
        print(
            f"  catches {len(row.caught_pairs)} of {len(row.pairs)} bug x env pairs (in at least half their runs); "
            f"fires in {caught}/{runs} bug runs; false alarms on clean runs "
            f"{rate_with_ci(row.clean_alarms, row.clean_runs)}"
        )


def report_detectors(jobs: list, path: str) -> int:
    """The per-detector report for the detectors in ``path``, replayed over ``jobs``."""
    try:
        detectors = OmegaConf.load(path)
    except Exception as error:
        fail("rl_lab.check", f"detectors={path!r} is invalid: {str(error).splitlines()[0]}")
    if not isinstance(detectors, DictConfig) or not detectors:
        fail("rl_lab.check", f"detectors={path!r} is invalid: it must map detector names to _target_ configs")
    sys.path.insert(0, os.getcwd())  # the user's module, as `python -m` would find it
    try:
        firings, kinds = replayed_firings(jobs, detectors)
    except ConfigError as error:
        fail("rl_lab.check", f"detectors={path!r} is invalid: {error}")
    print(f"{len(kinds)} detector(s) from {path}, replayed over {len(jobs)} runs' log points")
    print_detector_rows(detector_rows(jobs, firings, kinds))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(CheckSettings, sys.argv[1:] if argv is None else argv, __doc__, "rl_lab.check", ("sweep",))
    sweep_dir = Path(args.sweep)
    golden_path = Path(args.golden) if args.golden else shipped_golden(tier_of(sweep_dir))
    try:
        jobs = load_sweep(sweep_dir)
    except FileNotFoundError as error:
        fail("rl_lab.check", str(error))
    if args.detectors is not None:
        return report_detectors(jobs, args.detectors)
    if not golden_path.is_file():
        fail(
            "rl_lab.check", f"golden signatures {golden_path} do not exist: give golden=PATH (rl_lab.report fits them)"
        )
    golden = json.loads(golden_path.read_text())
    try:
        require_algorithm(golden, golden_path, jobs)
    except ValueError as error:
        fail("rl_lab.check", str(error))
    max_fpr = args.max_fpr
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
    fpr = len(alarms) / len(clean) if clean else float("nan")
    print(
        f"true-positive rate {rate_with_ci(caught, runs)} over {len(verdicts)} bugs; "
        f"false-positive rate {rate_with_ci(len(alarms), len(clean))} over clean runs; "
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
    if args.per_detector:
        firings = {job.path: dict(job.summary["detectors"]) for job in jobs}
        kinds = {e["detector"]: e["kind"] for job in jobs for e in read_events(job.path)}
        kinds = dict(sorted(kinds.items(), key=lambda item: (item[1], item[0])))
        print_detector_rows(detector_rows(jobs, firings, kinds))
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
    sys.exit(main())
