"""The time-resolved signatures (rl_lab.lab.timeline) on synthetic runs whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from rl_lab import bugs
from rl_lab.lab.sweep import CLEAN, Job
from rl_lab.lab.timeline import EXACT, GENERIC, RETURN, Q, aa_check, compare, rank_test, sweep_wide, timelines

STEPS = list(range(100, 2100, 100))  # 20 log points
BUG = "sign_flip"


def job(bug: str, seed: int, series: dict[str, list[float]], diverged_at: int | None = None) -> Job:
    """A run read as from disk, with these series at STEPS (up to ``diverged_at``)."""
    dose = 0.0 if bug == CLEAN else float(bugs.registry()[bug].DOSE)
    steps = [s for s in STEPS if diverged_at is None or s <= diverged_at]
    run = Job(Path(f"/nonexistent/{bug}{seed}"), "cartpole", bug, dose, seed, (), {"divergence_step": diverged_at})
    run.__dict__["metrics"] = [{"step": s, **{k: v[i] for k, v in series.items()}} for i, s in enumerate(steps)]
    return run


def noise(rng: np.random.Generator, shift_from: int | None = None, shift: float = 0.0) -> list[float]:
    return [rng.normal() + (shift if shift_from is not None and s >= shift_from else 0.0) for s in STEPS]


def sweep(rng: np.random.Generator, n_clean: int = 20, n_bug: int = 3, **bug_shifts: int) -> tuple[list, list]:
    """Clean runs with three noisy series and an exact check at 0; bug runs whose series named in
    ``bug_shifts`` move by 10 standard deviations from the given step."""
    keys = ("grads/global_norm", "losses/value", RETURN)

    def series(shifts: dict[str, int]) -> dict[str, list[float]]:
        out = {k.replace("__", "/"): noise(rng) for k in keys}
        out["value/loss_gap"] = [0.0] * len(STEPS)
        for key, start in shifts.items():
            name = key.replace("__", "/")
            out[name] = noise(rng, start, 10.0) if name != "value/loss_gap" else [float(s >= start) for s in STEPS]
        return out

    clean = [job(CLEAN, s, series({})) for s in range(n_clean)]
    return [job(BUG, s, series(bug_shifts)) for s in range(n_bug)], clean


def test_rank_test_is_scipys_exact_mann_whitney_with_ties():
    rng = np.random.default_rng(0)
    bug, clean = rng.integers(0, 4, (5, 3)).astype(float), rng.integers(0, 4, (5, 9)).astype(float)
    expected = stats.mannwhitneyu(bug, clean, axis=1, method=stats.PermutationMethod(n_resamples=np.inf)).pvalue
    np.testing.assert_allclose(rank_test(bug, clean), expected)
    # the smallest p-value 3 runs against 20 can reach: 2 splits of C(23, 3)
    assert rank_test(np.full((1, 3), 5.0), np.zeros((1, 20)))[0] == pytest.approx(2 / 1771)


def test_a_series_constant_in_both_groups_is_not_tested_but_constant_and_different_is():
    p = rank_test(np.array([[1.0, 1, 1], [2, 2, 2], [np.inf, np.inf, np.inf]]), np.array([[1.0] * 5, [1] * 5, [0] * 5]))
    assert np.isnan(p[0]) and p[1] == pytest.approx(2 / 56) and p[2] == pytest.approx(2 / 56)


def test_the_first_separation_is_the_step_the_series_moved():
    bug, clean = sweep(np.random.default_rng(1), grads__global_norm=300, charts__return_last100=1200)
    timeline = compare(bug, clean)
    assert timeline.first("grads/global_norm") == 300
    assert timeline.first(RETURN) == 1200
    assert timeline.panel(GENERIC) == ("grads/global_norm", 300)
    assert timeline.lead(GENERIC) == pytest.approx(4.0)


def test_false_discoveries_stay_near_the_rate_benjamini_hochberg_controls():
    rng = np.random.default_rng(7)
    false = discoveries = 0
    for _ in range(20):
        timeline = compare(*sweep(rng, grads__global_norm=300, charts__return_last100=1200))
        separated = timeline.adjusted <= Q
        false += separated[timeline.series.index("losses/value")].sum()
        discoveries += separated.sum()
    assert discoveries > 0 and false / discoveries <= 2 * Q


def test_an_exact_check_separates_one_sided_and_counts_only_with_the_exact_column():
    bug, clean = sweep(np.random.default_rng(2), value__loss_gap=200)
    timeline = compare(bug, clean)
    assert timeline.first("value/loss_gap") == 200
    assert timeline.panel(EXACT) == ("value/loss_gap", 200) and timeline.panel(GENERIC) is None
    # the same move downwards (a gap below the clean one's) is no evidence against the check
    for run in bug:
        for point in run.metrics:
            point["value/loss_gap"] = -point["value/loss_gap"]
    assert compare(bug, clean).first("value/loss_gap") is None


def test_a_run_that_stopped_is_left_out_of_later_log_points():
    rng = np.random.default_rng(3)
    bug, clean = sweep(rng, losses__value=100)
    series = {k: [p[k] for p in bug[0].metrics] for k in bug[0].metrics[0] if k != "step"}
    timeline = compare([job(BUG, 0, series, diverged_at=500), *bug[1:]], clean)
    assert timeline.first("losses/value") == 100
    assert timeline.divergence_steps == [500, None, None]
    # after 500 two bug runs are left, still tested (their best p-value: 2 / C(22, 2))
    assert timeline.p[timeline.series.index("losses/value"), -1] == pytest.approx(2 / 231)


def test_timelines_pair_each_bug_with_its_clean_control():
    bug, clean = sweep(np.random.default_rng(4), losses__value=700)
    (timeline,) = timelines([*bug, *clean])
    assert (timeline.bug, timeline.n_bug, timeline.n_clean, timeline.first("losses/value")) == (BUG, 3, 20, 700)


def test_aa_check_separates_nothing_on_heavy_tailed_and_discrete_clean_runs():
    rng = np.random.default_rng(5)
    clean = [
        job(
            CLEAN,
            s,
            {
                "grads/global_norm": list(rng.standard_cauchy(len(STEPS))),  # heavy tails
                "value/explained_variance": list(rng.integers(0, 3, len(STEPS)).astype(float)),  # discrete
                "params/frozen_fraction": [0.0] * len(STEPS),  # constant
                RETURN: list(rng.normal(size=len(STEPS))),
            },
        )
        for s in range(23)
    ]
    check = aa_check(clean, "cartpole", n_pseudo_bug=3, splits=40, seed=0)
    assert (check.n_pseudo_bug, check.n_control, len(check.comparisons)) == (3, 20, 40)
    # every hypothesis is true: Benjamini-Hochberg bounds the chance of any separation by Q
    assert check.separated <= stats.binom.ppf(0.999, 40, Q)
    with pytest.raises(ValueError, match="too few"):
        aa_check(clean[:4], "cartpole", n_pseudo_bug=3, splits=1)


def test_one_family_for_the_whole_sweep_lets_strong_bugs_make_a_clean_comparison_separate():
    rng = np.random.default_rng(6)
    moved = {"grads__global_norm": 100, "losses__value": 100, "charts__return_last100": 100}
    strong = [compare(*sweep(rng, **moved)) for _ in range(3)]
    check = aa_check(sweep(rng, n_clean=23)[1], "cartpole", n_pseudo_bug=3, splits=10, seed=1)
    assert check.separated <= 2
    assert sum(sweep_wide(c, strong) for c in check.comparisons) >= check.separated + 5


def test_an_exact_check_that_shows_now_and_then_is_read_as_its_largest_gap_so_far():
    bug, clean = sweep(np.random.default_rng(8))
    for seed, run in enumerate(bug):  # each bug run's gap is non-zero at a few log points of its own
        for i, point in enumerate(run.metrics):
            point["value/loss_gap"] = 1.0 if i in (4 + seed, 9, 15 + seed) else 0.0
    assert compare(bug, clean).first("value/loss_gap") == STEPS[6]  # from there on, every run has shown it
