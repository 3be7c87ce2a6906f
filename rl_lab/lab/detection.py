"""How well and how early the detectors catch bugs, measured on a sweep, in two columns.

*Generic* detectors read what any agent's logged scalars give (return, losses, norms, entropy,
explained variance, KL): the ``divergence`` and ``learning`` kinds. The *consistency* checks
recompute a clean part of this agent and so catch a bug at their own seam by construction. A
user with their own agent gets the first column; this agent gets both.

Per bug x env pair: the share of its runs flagged by each column (any detector of the column
fired), the median first firing, and the *per-run detector latency* against a return-only test:
the first log point at which the return separates the bug's seeds from the clean control's in
the same env and context (the rank test of :mod:`rl_lab.lab.timeline`, Benjamini-Hochberg over
the return's log points), as mutation-testing tools judge a mutant. The ratio is the return
test's step over the first detector's median firing; above 1 the detector was earlier. It
compares a per-run detector with a test across seeds; the panel against the return by one test
on both sides is ``scripts/separation.py``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from scipy import stats

from rl_lab.lab.sweep import CLEAN, Job
from rl_lab.lab.timeline import RETURN, Q, compare
from rl_lab.run.runlog import read_events

GENERIC = ("divergence", "learning")
COLUMNS = {"generic": GENERIC, "with consistency": (*GENERIC, "consistency")}


def first_firing(job: Job, kinds: tuple[str, ...]) -> int | None:
    """The step of the run's first event of one of ``kinds``, None if none."""
    steps = [e["step"] for e in read_events(job.path) if e["kind"] in kinds]
    return min(steps) if steps else None


def return_test_step(bug_runs: list[Job], clean_runs: list[Job]) -> int | None:
    """The first log point at which the return separates the bug's runs from the clean ones, by the
    test of :mod:`rl_lab.lab.timeline` on the return alone (its own family of log points)."""
    if len(bug_runs) < 2 or len(clean_runs) < 2:
        return None
    return compare(bug_runs, clean_runs, keys=[RETURN]).first(RETURN)


@dataclass
class PairDetection:
    env: str
    bug: str
    runs: int
    flagged: dict[str, int]  # column -> runs flagged
    first: dict[str, int | None]  # column -> median first firing over flagged runs
    return_test: int | None

    def lead(self, column: str) -> float | None:
        """Return-test step / first-detector step (above 1: the detector was earlier)."""
        first = self.first[column]
        if first is None or self.return_test is None:
            return None
        return self.return_test / first


def detection(jobs: list[Job]) -> tuple[list[PairDetection], dict[str, tuple[int, int]]]:
    """Per bug x env pair (default dose), and per column the clean runs' false alarms (flagged, runs)."""
    pairs = []
    clean_by = {}
    for env, bug, context in sorted({(j.env, j.bug, j.context) for j in jobs if j.bug != CLEAN and j.default_dose}):
        runs = [j for j in jobs if (j.env, j.bug, j.context) == (env, bug, context) and j.default_dose]
        clean = clean_by.setdefault(
            (env, context), [j for j in jobs if j.bug == CLEAN and (j.env, j.context) == (env, context)]
        )
        flagged, first = {}, {}
        for column, kinds in COLUMNS.items():
            steps = [s for j in runs if (s := first_firing(j, kinds)) is not None]
            flagged[column] = len(steps)
            first[column] = int(statistics.median(steps)) if steps else None
        pairs.append(PairDetection(env, bug, len(runs), flagged, first, return_test_step(runs, clean)))
    clean_runs = [j for j in jobs if j.bug == CLEAN]
    alarms = {
        column: (sum(first_firing(j, kinds) is not None for j in clean_runs), len(clean_runs))
        for column, kinds in COLUMNS.items()
    }
    return pairs, alarms


def interval(k: int, n: int) -> str:
    """k/n with its 95% Clopper-Pearson interval."""
    if not n:
        return "-"
    ci = stats.binomtest(k, n).proportion_ci(0.95)
    return f"{k}/{n} = {k / n:.3f} [{ci.low:.3f}, {ci.high:.3f}]"


def markdown(pairs: list[PairDetection], alarms: dict[str, tuple[int, int]], title: str) -> str:
    lines = [
        f"# Detection in two columns, and per-run detector latency against a return test: {title}",
        "",
        "Generic: the divergence and learning detectors (return, losses, norms, entropy, explained variance, KL). "
        "With consistency: the exact checks added. A run is flagged when a detector of the column fires; "
        "lead = (first log point where the per-seed returns separate bug from clean: exact Mann-Whitney test, "
        f"Benjamini-Hochberg over the return's log points at {Q}) / (median first firing of one run's "
        "detectors); above 1 the detector was earlier. The panel against the return by one test on both "
        "sides: `scripts/separation.py`.",
        "",
        "| env | bug | runs | generic: flagged (median step) | with consistency: flagged (median step) "
        "| return test step | lead, generic | lead, with consistency |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def cell(p: PairDetection, column: str) -> str:
        at = p.first[column]
        return f"{p.flagged[column]}/{p.runs}" + (f" ({at:,})" if at is not None else "")

    def ratio(value: float | None) -> str:
        return f"{value:.2g}x" if value is not None else "-"

    for p in pairs:
        test = f"{p.return_test:,}" if p.return_test is not None else "-"
        lines.append(
            f"| {p.env} | {p.bug} | {p.runs} | {cell(p, 'generic')} | {cell(p, 'with consistency')} | {test} "
            f"| {ratio(p.lead('generic'))} | {ratio(p.lead('with consistency'))} |"
        )
    lines += ["", "| | generic | with consistency |", "|---|---|---|"]
    runs = sum(p.runs for p in pairs)
    flagged = {c: sum(p.flagged[c] for p in pairs) for c in COLUMNS}
    lines.append(
        f"| bug runs flagged (95% CI) | {interval(flagged['generic'], runs)} "
        f"| {interval(flagged['with consistency'], runs)} |"
    )
    caught = {c: sum(2 * p.flagged[c] >= p.runs and p.flagged[c] > 0 for p in pairs) for c in COLUMNS}
    lines.append(
        f"| pairs flagged in at least half their runs | {caught['generic']}/{len(pairs)} "
        f"| {caught['with consistency']}/{len(pairs)} |"
    )
    lines.append(
        f"| clean runs with an alarm (95% CI) | {interval(*alarms['generic'])} "
        f"| {interval(*alarms['with consistency'])} |"
    )
    leads = {c: [lead for p in pairs if (lead := p.lead(c)) is not None] for c in COLUMNS}
    summary = {
        c: f"{statistics.median(v):.2g}x over {len(v)} pairs (detector earlier in {sum(x > 1 for x in v)})"
        if v
        else "-"
        for c, v in leads.items()
    }
    lines.append(f"| median lead over the pairs both caught | {summary['generic']} | {summary['with consistency']} |")
    only_test = {c: sum(p.first[c] is None and p.return_test is not None for p in pairs) for c in COLUMNS}
    lines.append(
        f"| pairs the return test separates and no detector flags | {only_test['generic']} "
        f"| {only_test['with consistency']} |"
    )
    return "\n".join(lines) + "\n"
