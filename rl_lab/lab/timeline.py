"""When: the first log point at which a bug's runs separate from the clean control's, series by series.

For each bug of a sweep (default dose) in each environment and context, and for every logged
series, at every log point of the clean control: a two-sided Mann-Whitney U test of the bug's
per-seed values against the clean seeds', two-sided, except for the exact checks, whose
alternative is fixed by their definition (a gap that is 0 in a correct agent grows under a bug:
one-sided, greater). Its p-value comes from the exact permutation
distribution (scipy's ``permutation_test`` over every split of the pooled ranks), so it is
valid for 3 seeds, for heavy tails (ranks), and for discrete series (ties share a rank); a
series constant and equal in both groups carries no evidence and is not tested. A run that
stopped (diverged) is left out of the log points after its last one.

One comparison (a bug against its control) is one family: all its series x log points,
adjusted with Benjamini-Hochberg (scipy's ``false_discovery_control``) at ``Q``. A series
*separates* at its first log point with an adjusted p at most ``Q``. Why not one family for
the whole sweep: Benjamini-Hochberg's threshold rises with the number of discoveries, and a
sweep's strong bugs make thousands; a bug that changes nothing, tested in that family, would
"separate" somewhere among its thousands of tests (the A/A check measures it,
:func:`aa_check`). Within one comparison, a bug that changes nothing makes every hypothesis
true, and Benjamini-Hochberg then bounds the chance of any separation by ``Q``.

An exact check is read as its running maximum: a correct agent's gap never leaves rounding, so
the largest gap so far is the evidence, and a bug that shows only in some rollouts (an episode
end in the rollout of a log point) stays shown, as a detector's firing does.

Series are read in three groups: the return (``charts/return_last100``), the exact checks
(:data:`rl_lab.instruments.diagnostics.EXACT_CHECK_SERIES`, this agent's recomputations) and
the generic panel (every other diagnostic: what any agent's losses, gradients, parameters,
activations, policy and values give). Other ``charts/`` series (episode lengths, counts,
steps/s) are bookkeeping or wall clock and are not tested.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy import stats

from rl_lab.instruments.diagnostics import EXACT_CHECK_SERIES
from rl_lab.lab.sweep import CLEAN, Job

Q = 0.05  # the false discovery rate of one comparison
RETURN = "charts/return_last100"
GENERIC, EXACT = "generic", "with exact checks"  # the panel's two columns
PERMUTATION_BATCH = 64  # permutations scored at once (memory: rows x batch x runs floats)


def series_group(key: str) -> str | None:
    """``"return"``, ``"exact"``, ``"generic"``, or None for a series that is not tested."""
    if key == RETURN:
        return "return"
    if key.startswith("charts/") or key == "step":
        return None
    return "exact" if key in EXACT_CHECK_SERIES else "generic"


def _mean_rank_difference(bug: np.ndarray, clean: np.ndarray, axis: int) -> np.ndarray:
    return bug.mean(axis=axis) - clean.mean(axis=axis)


def rank_test(bug: np.ndarray, clean: np.ndarray, alternative: str = "two-sided") -> np.ndarray:
    """Mann-Whitney p-value of each row of ``bug`` (rows x runs) against the same row of ``clean``,
    exact: the permutation distribution of the mean rank over every split of the pooled runs
    (``alternative="greater"``: the bug's values are the larger). nan for a row that is constant
    over both groups (no evidence) or has a nan."""
    pooled = np.concatenate([bug, clean], axis=1)
    p = np.full(len(pooled), np.nan)
    testable = ~np.isnan(pooled).any(axis=1) & ~(pooled == pooled[:, :1]).all(axis=1)
    if testable.any():
        ranks = stats.rankdata(pooled[testable], axis=1)  # ties share a rank; infinities rank last or first
        n = bug.shape[1]
        p[testable] = stats.permutation_test(
            (ranks[:, :n], ranks[:, n:]),
            _mean_rank_difference,
            vectorized=True,
            n_resamples=np.inf,
            batch=PERMUTATION_BATCH,
            alternative=alternative,
            axis=1,
        ).pvalue
    return p


@dataclass
class Timeline:
    """One bug against its clean control: every series' adjusted p-value at every log point."""

    env: str
    bug: str
    context: tuple[str, ...]
    n_bug: int
    n_clean: int
    steps: np.ndarray  # the tested log points
    series: list[str]
    p: np.ndarray  # (series, steps) raw p-values, nan where not tested
    adjusted: np.ndarray  # the same, Benjamini-Hochberg adjusted within this comparison
    divergence_steps: list[int | None]  # per bug run

    def first(self, key: str) -> int | None:
        """The first log point at which ``key`` separates, None if it never does."""
        if key not in self.series:
            return None
        hits = np.flatnonzero(self.adjusted[self.series.index(key)] <= Q)
        return int(self.steps[hits[0]]) if hits.size else None

    def first_of(self, groups: tuple[str, ...]) -> tuple[str, int] | None:
        """The earliest-separating series of ``groups`` (ties: the first by name), None if none does."""
        found = [
            (step, key) for key in self.series if series_group(key) in groups and (step := self.first(key)) is not None
        ]
        return (min(found)[1], min(found)[0]) if found else None

    def panel(self, column: str) -> tuple[str, int] | None:
        """The panel's first separation: generic diagnostics only, or with the exact checks."""
        return self.first_of(("generic",) if column == GENERIC else ("generic", "exact"))

    @property
    def testable(self) -> bool:
        """Whether any split of this many runs can reach ``Q`` at all (one-sided: 1 / C(n_bug + n_clean, n_bug))."""
        return self.n_bug >= 2 and math.comb(self.n_bug + self.n_clean, self.n_bug) * Q >= 1

    @property
    def separated(self) -> bool:
        return bool((self.adjusted <= Q).any())

    def lead(self, column: str) -> float | None:
        """The return's first separation step over the panel's: above 1, the panel separated first."""
        panel, ret = self.panel(column), self.first(RETURN)
        return ret / panel[1] if panel and ret else None


def _values(job: Job, keys: list[str]) -> dict[int, np.ndarray]:
    """The run's values of ``keys`` at each of its log points (nan where one was not logged); an
    exact check's as its largest value so far (:data:`EXACT_CHECK_SERIES`)."""
    points = sorted(job.metrics, key=lambda p: p["step"])
    values = np.array([[p.get(k, np.nan) for k in keys] for p in points], float).reshape(len(points), len(keys))
    exact = [series_group(k) == "exact" for k in keys]
    values[:, exact] = np.fmax.accumulate(values[:, exact], axis=0)  # nan-skipping running maximum
    return {int(p["step"]): row for p, row in zip(points, values, strict=True)}


def compare(bug_runs: list[Job], clean_runs: list[Job], keys: list[str] | None = None) -> Timeline:
    """The timeline of one bug's runs against a clean control (same env and context)."""
    keys = keys or sorted({k for j in [*bug_runs, *clean_runs] for p in j.metrics for k in p if series_group(k)})
    bug_values, clean_values = [_values(j, keys) for j in bug_runs], [_values(j, keys) for j in clean_runs]
    steps = sorted(set.intersection(*(set(v) for v in clean_values)))
    # the log points with the same bug runs present are tested in one call: rows = series x points
    by_present: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, step in enumerate(steps):
        by_present[tuple(r for r, v in enumerate(bug_values) if step in v)].append(i)
    p = np.full((len(keys), len(steps)), np.nan)
    exact = np.array([series_group(k) == "exact" for k in keys])  # a check's gap can only grow under a bug
    for present, columns in by_present.items():
        if len(present) < 2:  # one run left: no split of it can reach Q
            continue
        bug = np.stack([np.stack([bug_values[r][steps[i]] for r in present], axis=1) for i in columns], axis=1)
        clean = np.stack([np.stack([v[steps[i]] for v in clean_values], axis=1) for i in columns], axis=1)
        for rows, alternative in ((~exact, "two-sided"), (exact, "greater")):
            p[np.ix_(rows, columns)] = rank_test(
                bug[rows].reshape(-1, len(present)), clean[rows].reshape(-1, len(clean_values)), alternative
            ).reshape(rows.sum(), len(columns))
    adjusted = np.full_like(p, np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        adjusted[tested] = stats.false_discovery_control(p[tested], method="bh")
    first = bug_runs[0]
    return Timeline(
        first.env,
        first.bug,
        first.context,
        len(bug_runs),
        len(clean_runs),
        np.asarray(steps),
        keys,
        p,
        adjusted,
        [j.summary.get("divergence_step") for j in bug_runs],
    )


def timelines(jobs: list[Job]) -> list[Timeline]:
    """Every bug of a sweep at its default dose, in each env and context, against its clean control."""
    groups: dict[tuple[str, str, tuple[str, ...]], list[Job]] = defaultdict(list)
    for job in jobs:
        if job.default_dose:
            groups[(job.env, job.bug, job.context)].append(job)
    return [
        compare(runs, groups[(env, CLEAN, context)])
        for (env, bug, context), runs in sorted(groups.items())
        if bug != CLEAN and len(groups.get((env, CLEAN, context), [])) >= 2
    ]


@dataclass
class AACheck:
    """Clean against clean: random disjoint splits of an env's clean control, each compared as a bug."""

    env: str
    n_pseudo_bug: int
    n_control: int
    comparisons: list[Timeline]

    @property
    def separated(self) -> int:
        return sum(t.separated for t in self.comparisons)


def aa_check(jobs: list[Job], env: str, n_pseudo_bug: int, splits: int, seed: int = 0) -> AACheck:
    """``splits`` comparisons of ``n_pseudo_bug`` clean runs (drawn at random) against the env's
    other clean runs (default context), by exactly the procedure of :func:`compare`."""
    clean = sorted((j for j in jobs if j.env == env and j.bug == CLEAN and not j.context), key=lambda j: j.seed)
    if len(clean) < n_pseudo_bug + 2:
        raise ValueError(f"{env}: {len(clean)} clean runs, too few to split {n_pseudo_bug} against at least 2")
    rng = np.random.default_rng(seed)
    comparisons = []
    for _ in range(splits):
        chosen = set(rng.choice(len(clean), n_pseudo_bug, replace=False).tolist())
        pseudo = [j for i, j in enumerate(clean) if i in chosen]
        comparisons.append(compare(pseudo, [j for i, j in enumerate(clean) if i not in chosen]))
    return AACheck(env, n_pseudo_bug, len(clean) - n_pseudo_bug, comparisons)


def sweep_wide(comparison: Timeline, others: list[Timeline]) -> bool:
    """Whether ``comparison`` separates anywhere when adjusted in one family with ``others`` (the
    sweep-wide alternative to one family per comparison)."""
    pooled = np.concatenate([t.p[~np.isnan(t.p)] for t in [comparison, *others]])
    own = comparison.p[~np.isnan(comparison.p)]
    return bool((stats.false_discovery_control(pooled, method="bh")[: own.size] <= Q).any())


def median_with_interval(values: list[float]) -> tuple[float, float, float]:
    """The median and its distribution-free 95% interval (scipy's ``quantile_test``: order statistics)."""
    ci = stats.quantile_test(np.asarray(values), q=statistics.median(values), p=0.5).confidence_interval(0.95)
    return statistics.median(values), float(ci.low), float(ci.high)
