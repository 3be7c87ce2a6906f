"""Each detector fires on a synthetic series with its pathology and stays silent on healthy ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rl_lab.instruments.detectors import (
    CONSISTENCY,
    DIVERGENCE,
    LEARNING,
    BelowCleanArea,
    BelowEnvelope,
    CriticFit,
    DetectorBank,
    EntropyCollapse,
    GradSpikes,
    LossExplosion,
    NoLearning,
    NonFinite,
    Oscillation,
    ParamNormGrowth,
    Plateau,
    RangeCheck,
    ValueDivergence,
)
from rl_lab.run.config import CONFIG_DIR

rng = np.random.default_rng(0)
N = 300
STEP = 1_000  # agent steps between two log points (the default log_interval)
CARTPOLE_RANGE = [0, 500]


def _noisy(level: float, rel_noise: float = 0.3, n: int = N) -> np.ndarray:
    return level * np.exp(rel_noise * rng.standard_normal(n))


def _series(**metrics: np.ndarray) -> list[dict[str, float]]:
    n = len(next(iter(metrics.values())))
    return [{k: float(v[i]) for k, v in metrics.items()} for i in range(n)]


def _first_firing(detector, points, step: int = STEP) -> int | None:
    """The index of the log point (``step`` agent steps apart) at which the detector first fires."""
    for i, point in enumerate(points):
        if detector.observe(i * step, point) is not None:
            return i
    return None


def _learning_curve(n: int = N, top: float = 500.0) -> np.ndarray:
    return top / (1 + np.exp(-(np.arange(n) - n / 3) / 20)) + rng.normal(0, 5, n)


HEALTHY = _series(
    **{
        "losses/total": _noisy(1.0),
        "losses/policy": _noisy(0.5) - 0.5,
        "losses/value": _noisy(5.0, 0.8),
        "grads/global_norm": _noisy(2.0, 0.5),
        "diagnostics/nonfinite_count": np.zeros(N),
        "params/global_norm": 20 + 5 * (1 - np.exp(-np.arange(N) / 80)) + rng.normal(0, 0.05, N),
        "value/explained_variance": np.clip(rng.normal(0.6, 0.3, N), -2, 1),
        "value/values_min": -_noisy(2.0),
        "value/values_max": _noisy(50.0),
        "value/returns_min": -_noisy(2.0),
        "value/returns_max": _noisy(60.0),
        "value/returns_std": _noisy(15.0),
        "policy/entropy_normalized": np.linspace(1.0, 0.2, N) + rng.normal(0, 0.02, N),
        "charts/return_last100": _learning_curve(),
    }
)


def _with(points, metric, values):
    return [{**p, metric: float(v)} for p, v in zip(points, values, strict=True)]


CASES = [
    # detector, metric, pathological series, earliest and latest acceptable firing
    (NonFinite(), "losses/value", np.r_[_noisy(5.0, n=150), [math.nan] * 150], 150, 150),
    (NonFinite(), "diagnostics/nonfinite_count", np.r_[np.zeros(200), np.full(100, 3.0)], 200, 200),
    (LossExplosion(), "losses/value", np.r_[_noisy(5.0, n=200), _noisy(1e6, 0.1, n=100)], 202, 202),
    (
        GradSpikes(),
        "grads/global_norm",
        np.r_[_noisy(2.0, n=150), np.where(np.arange(150) % 4 == 0, 2000.0, _noisy(2.0, n=150))],
        158,
        158,
    ),
    (ParamNormGrowth(), "params/global_norm", np.r_[np.full(50, 20.0), 20 * 1.02 ** np.arange(250)], 100, 130),
    (ValueDivergence(), "value/explained_variance", np.r_[np.full(150, 0.6), np.full(150, -50.0)], 155, 155),
    (ValueDivergence(), "value/values_max", np.r_[_noisy(50.0, n=150), np.full(150, 1e4)], 150, 150),
    (EntropyCollapse(), "policy/entropy_normalized", np.r_[np.linspace(1, 0.3, 100), np.full(200, 0.001)], 104, 104),
    (
        Plateau(target=475.0, return_range=CARTPOLE_RANGE),
        "charts/return_last100",
        np.r_[_learning_curve(100, 150), 150 + rng.normal(0, 1, 200)],
        100,
        200,
    ),
    (
        Oscillation(return_range=CARTPOLE_RANGE),
        "charts/return_last100",
        250 + 200 * np.sign(np.sin(np.arange(N) / 2.0)),
        60,
        60,
    ),
    (CriticFit(after=100 * STEP), "value/explained_variance", rng.normal(0.0, 0.05, N), 110, 110),
    (NoLearning(by_step=150 * STEP, min_return=50.0), "charts/return_last100", np.full(N, 20.0), 150, 150),
    (
        RangeCheck("policy/act_train_kl", high=1e-4),
        "policy/act_train_kl",
        np.r_[np.zeros(200), np.full(100, 0.01)],
        200,
        200,
    ),
    (RangeCheck("policy/entropy", low=0.0), "policy/entropy", np.r_[np.full(200, 0.5), np.full(100, -0.5)], 200, 200),
]


@pytest.mark.parametrize(
    ("detector", "metric", "values", "earliest", "latest"), CASES, ids=[f"{type(c[0]).__name__}-{c[1]}" for c in CASES]
)
def test_detector_fires_on_its_pathology_in_time(detector, metric, values, earliest, latest):
    fired = _first_firing(detector, _with(HEALTHY, metric, values))
    assert fired is not None and earliest <= fired <= latest, fired


def _default_bank(**overrides) -> DetectorBank:
    cfg = OmegaConf.load(CONFIG_DIR / "diagnostics" / "default.yaml")
    cfg.detectors.plateau.target = 475.0
    cfg.detectors.plateau.return_range = cfg.detectors.oscillation.return_range = CARTPOLE_RANGE
    return DetectorBank({name: instantiate(c) for name, c in cfg.detectors.items()})


def test_default_detectors_stay_silent_on_a_healthy_run():
    bank = _default_bank()
    events = [e for i, p in enumerate(HEALTHY) for e in bank.observe(i * STEP, p)]
    assert events == []
    assert bank.divergence_step is None


def test_critic_fit_judges_one_window_and_only_where_configured():
    dips_later = _with(HEALTHY, "value/explained_variance", np.r_[np.full(150, 0.6), np.full(150, -5.0)])
    assert _first_firing(CriticFit(after=100 * STEP), dips_later) is None  # judged on points 100-110 only
    never = _with(HEALTHY, "value/explained_variance", np.zeros(N))
    assert _first_firing(CriticFit(after=None), never) is None


def test_learning_check_is_off_without_a_level_and_quiet_above_it():
    flat = _with(HEALTHY, "charts/return_last100", np.full(N, 20.0))
    assert _first_firing(NoLearning(), flat) is None
    assert _first_firing(NoLearning(by_step=150 * STEP, min_return=10.0), flat) is None


def test_consistency_checks_are_their_own_kind_and_not_a_divergence():
    bank = DetectorBank({"act_train": RangeCheck("policy/act_train_kl", high=1e-4)})
    events = bank.observe(1000, {"policy/act_train_kl": 0.5})
    assert [e.kind for e in events] == [CONSISTENCY] and bank.divergence_step is None


def test_plateau_at_the_solved_level_is_not_an_alarm():
    solved = _with(HEALTHY, "charts/return_last100", np.r_[_learning_curve(100), np.full(200, 500.0)])
    assert _first_firing(Plateau(target=475.0, return_range=CARTPOLE_RANGE), solved) is None
    assert _first_firing(Plateau(target=None, return_range=CARTPOLE_RANGE), solved) is not None


def test_bank_records_first_firings_and_the_divergence_step():
    bank = _default_bank()
    points = _with(HEALTHY, "policy/entropy_normalized", np.r_[np.full(50, 0.9), np.full(250, 0.001)])
    points = _with(points, "losses/value", np.r_[_noisy(5.0, n=120), _noisy(1e6, 0.1, n=180)])
    events = [e for i, p in enumerate(points) for e in bank.observe(i * STEP, p)]
    kinds = {e.detector: e.kind for e in events}
    assert kinds["entropy_collapse"] == LEARNING and kinds["loss_explosion"] == DIVERGENCE
    assert bank.first_firing["entropy_collapse"] == 54 * STEP  # held for its 4,000 steps
    assert bank.first_firing["loss_explosion"] == 122 * STEP == bank.divergence_step


def test_detectors_fire_once_per_episode_of_the_pathology():
    detector = EntropyCollapse(patience_steps=0)
    values = [0.5, 0.001, 0.001, 0.5, 0.001]
    fired = [detector.observe(i * STEP, {"policy/entropy_normalized": v}) is not None for i, v in enumerate(values)]
    assert fired == [False, True, False, False, True]


def test_detector_state_round_trips():
    first, second = GradSpikes(), GradSpikes()
    points = _with(HEALTHY, "grads/global_norm", np.where(np.arange(N) % 7 == 0, 800.0, 2.0))
    for i, p in enumerate(points[:100]):
        first.observe(i * STEP, p)
    second.load_state_dict(first.state_dict())
    later = list(enumerate(points[100:], start=100))
    assert [first.observe(i * STEP, p) for i, p in later] == [second.observe(i * STEP, p) for i, p in later]


def _solved_cartpole(grad_norm_late, explained_variance_late):
    """Clean CartPole once solved (as on calibration seeds 100-109 at 500k steps): from point 100
    every return is 100.0, so the advantages vanish (gradient norm ~0.01, against ~15 at the start,
    with a failed episode's burst every 20 points) and explained variance divides by a variance of ~0."""
    points = []
    for i, p in enumerate(HEALTHY):
        if i >= 100:
            p = {**p, "grads/global_norm": grad_norm_late(i), "value/explained_variance": explained_variance_late(i)}
            p |= {"value/returns_min": 100.0, "value/returns_max": 100.0, "value/returns_std": 1e-3}
            p |= {"value/values_min": 99.9, "value/values_max": 100.1}
        points.append(p)
    return points


def test_grad_spikes_reads_spikes_against_the_starting_level_not_a_vanished_median():
    start = _with(HEALTHY, "grads/global_norm", _noisy(15.0))
    bursts = _solved_cartpole(lambda i: 300.0 if i % 20 == 0 else 0.01, lambda i: 0.5)
    assert _first_firing(GradSpikes(), start[:100] + bursts[100:]) is None  # 20x the start
    diverging = _solved_cartpole(lambda i: 3e4 if i % 20 == 0 else 0.01, lambda i: 0.5)
    assert _first_firing(GradSpikes(), start[:100] + diverging[100:]) == 140  # 2000x the start, third burst


def test_value_divergence_reads_explained_variance_only_where_the_returns_vary():
    perfect_critic = _solved_cartpole(lambda i: 0.01, lambda i: -8.0 if i % 3 else -1.0)
    assert _first_firing(ValueDivergence(), perfect_critic) is None
    varying = [{**p, "value/returns_std": 15.0} for p in perfect_critic]
    assert _first_firing(ValueDivergence(), varying) == 107  # the same numbers, now meaningful: most of the window


def test_grad_spikes_resumes_from_a_checkpoint_written_before_it_kept_the_starting_level():
    detector = GradSpikes()
    old_state = {k: v for k, v in GradSpikes().state_dict().items() if k != "start_values"}
    detector.load_state_dict({**old_state, "first_step": 0, "points": [[10_000, 2.0], [11_000, 2.0]]})
    assert detector.observe(12_000, {"grads/global_norm": 2.0}) is None  # no crash on the missing level


def test_no_learning_is_judged_once_at_its_step():
    learned_then_dipped = _with(HEALTHY, "charts/return_last100", np.r_[np.full(160, 100.0), np.full(140, 10.0)])
    assert _first_firing(NoLearning(by_step=150 * STEP, min_return=50.0), learned_then_dipped) is None
    no_return_yet = [
        {k: v for k, v in p.items() if k != "charts/return_last100"} if i == 150 else p
        for i, p in enumerate(_with(HEALTHY, "charts/return_last100", np.full(N, 20.0)))
    ]
    assert _first_firing(NoLearning(by_step=150 * STEP, min_return=50.0), no_return_yet) is None  # no verdict


PANEL_OFF = ("value/values_min", "value/values_max", "value/returns_min", "value/returns_max", "value/returns_std")


@pytest.mark.parametrize(
    ("detector", "metric", "values"),
    [
        (LossExplosion(), "losses/value", np.full(N, 50.0)),  # a loss of 50 against no known return scale
        (ValueDivergence(), "value/explained_variance", np.full(N, 0.5)),
    ],
)
def test_scale_rules_give_no_verdict_when_the_panel_is_off(detector, metric, values):
    """With diagnostics.enabled=false the returns' and values' ranges are not logged: missing is not 0."""
    points = [{k: v for k, v in p.items() if k not in PANEL_OFF} for p in _with(HEALTHY, metric, values)]
    points = [{**p, "value/values_max": 100.0} if isinstance(detector, ValueDivergence) else p for p in points]
    assert _first_firing(detector, points) is None


def test_a_detector_loads_the_state_of_an_older_version():
    detector = NoLearning(by_step=150, min_return=50.0)
    detector.load_state_dict({"name": "no_learning", "active": False, "by_step": 150, "min_return": 50.0, "step": 4})
    assert detector.by_step == 150 and not detector.judged


def _fired_at_step(make_detector, value_at, interval: int, steps: int = 300_000) -> int | None:
    """The agent step at which a fresh detector first fires on ``value_at(step)`` logged every ``interval`` steps."""
    detector = make_detector()
    for step in range(interval, steps + 1, interval):
        if detector.observe(step, value_at(step)) is not None:
            return step
    return None


@pytest.mark.parametrize(
    ("make_detector", "value_at"),
    [
        (EntropyCollapse, lambda s: {"policy/entropy_normalized": 0.5 if s < 100_000 else 0.001}),
        (LossExplosion, lambda s: {"losses/value": 1e6 if s >= 100_000 else 5.0, **RETURN_SCALE}),
        (
            ValueDivergence,
            lambda s: {"value/explained_variance": -50.0 if s >= 100_000 else 0.6, **VALUE_SCALE},
        ),
        (ParamNormGrowth, lambda s: {"params/global_norm": 20.0 * 1.00002 ** max(0, s - 50_000)}),
        (lambda: CriticFit(after=50_000), lambda s: {"value/explained_variance": 0.0}),
        (
            lambda: Plateau(return_range=CARTPOLE_RANGE),
            lambda s: {"charts/return_last100": min(s, 100_000) / 500.0},
        ),
        (
            lambda: Oscillation(return_range=CARTPOLE_RANGE),
            lambda s: {"charts/return_last100": 250 + 200 * np.sign(np.sin(s / 3_000))},
        ),
        (
            GradSpikes,
            lambda s: {"grads/global_norm": 2000.0 if s >= 100_000 and s % 4_000 == 0 else 2.0},
        ),
    ],
    ids=[
        "entropy_collapse",
        "loss_explosion",
        "value_divergence",
        "param_norm_growth",
        "critic_fit",
        "plateau",
        "oscillation",
        "grad_spikes",
    ],
)
def test_windows_and_patience_count_agent_steps_not_log_points(make_detector, value_at):
    """The same run logged four times as often fires at the same agent step (up to one coarse log
    interval); counted in log points it fired up to four times earlier."""
    coarse = _fired_at_step(make_detector, value_at, 1_000)
    fine = _fired_at_step(make_detector, value_at, 250)
    assert coarse is not None and fine is not None
    assert abs(coarse - fine) <= 1_000, (coarse, fine)


RETURN_SCALE = {"value/returns_min": -2.0, "value/returns_max": 60.0, "value/returns_std": 15.0}
VALUE_SCALE = {**RETURN_SCALE, "value/values_min": -1.0, "value/values_max": 50.0}


def test_return_rules_scale_with_the_env_return_range_and_give_no_verdict_without_it():
    # clean Catch near its solved level: the return moves between 0.86 and 1.0 (CartPole's
    # absolute 5-point threshold called this a plateau)
    catch = [{"charts/return_last100": 0.93 + 0.07 * math.sin(i / 7)} for i in range(N)]
    assert _first_firing(Plateau(target=0.9, return_range=[-1, 1]), catch) is None
    stuck = [{"charts/return_last100": -0.6 + 0.001 * math.sin(i)} for i in range(N)]
    assert _first_firing(Plateau(target=0.9, return_range=[-1, 1]), stuck) == 100
    assert _first_firing(Plateau(target=0.9), stuck) is None  # no return range: no verdict
    swinging = [{"charts/return_last100": 0.5 * np.sign(math.sin(i / 2.0))} for i in range(N)]
    assert _first_firing(Oscillation(return_range=[-1, 1]), swinging) == 60
    assert _first_firing(Oscillation(return_range=CARTPOLE_RANGE), swinging) is None
    assert _first_firing(Oscillation(), swinging) is None


def test_below_envelope_flags_a_run_that_only_learns_slower(tmp_path, monkeypatch):
    import rl_lab.run.config

    toy = {"smooth_steps": 0, "patience_steps": 10_000, "steps": [0, 100_000], "low": [0.0, 100.0]}
    envelope = {"metrics": {"charts/return_last100": toy}}
    (tmp_path / "envelopes").mkdir()
    (tmp_path / "envelopes" / "toy.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(envelope)))
    monkeypatch.setattr(rl_lab.run.config, "CONFIG_DIR", tmp_path)
    clean = [{"charts/return_last100": 1.2 * i} for i in range(N)]  # above the envelope's slope of 1 per point
    slowed = [{"charts/return_last100": 0.5 * i} for i in range(N)]  # learns, at half the speed
    assert _first_firing(BelowEnvelope(envelope="toy"), clean) is None
    assert _first_firing(BelowEnvelope(envelope="toy"), slowed) == 11  # below from point 1, for 10,000 steps
    assert _first_firing(BelowEnvelope(envelope="other"), slowed) is None  # no envelope: no verdict
    assert _first_firing(BelowEnvelope(metric="value/explained_variance", envelope="toy"), slowed) is None


def test_area_so_far_weights_each_value_by_the_steps_it_covers():
    from rl_lab.lab.envelope import area_so_far

    coarse = [{"step": s, "r": v} for s, v in [(0, 0.0), (1_000, 1.0), (3_000, 4.0)]]
    fine = [{"step": s, "r": v} for s, v in [(0, 0.0), (1_000, 1.0), (2_000, 4.0), (3_000, 4.0)]]
    assert area_so_far(coarse, "r")[1].tolist() == [1.0, 3.0]  # (1 x 1,000 + 4 x 2,000) / 3,000
    assert area_so_far(fine, "r")[1][-1] == 3.0  # the same curve logged more densely: the same area
    gap = [{"step": 0, "r": float("nan")}, {"step": 1_000}, {"step": 2_000, "r": 2.0}, {"step": 3_000, "r": 5.0}]
    assert area_so_far(gap, "r") == ([3_000], [5.0])  # counted from its first finite value


def test_below_clean_area_flags_a_run_that_learns_worse_far_from_random(tmp_path, monkeypatch):
    import rl_lab.run.config
    from rl_lab.lab.envelope import area_so_far, calibrate_area

    steps = np.arange(0, 101) * 1_000
    rng = np.random.default_rng(0)
    clean = [np.minimum(1.0, steps / rng.uniform(30_000, 50_000)) for _ in range(20)]  # each solves by 50k
    series = [area_so_far([{"step": s, "r": v} for s, v in zip(steps, run, strict=True)], "r") for run in clean]
    reference = calibrate_area(series, bucket=5, margin=1.5)
    assert max(reference.left_out_depths) * 1.5 == pytest.approx(max(reference.depth), abs=1e-2)
    (tmp_path / "envelopes").mkdir()
    written = {"area": {"charts/return_last100": vars(reference)}}
    (tmp_path / "envelopes" / "toy.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(written)))
    monkeypatch.setattr(rl_lab.run.config, "CONFIG_DIR", tmp_path)

    def first(curve, reference="toy"):
        detector = BelowCleanArea(reference=reference)
        fired = [i for i, v in enumerate(curve) if detector.observe(int(steps[i]), {"charts/return_last100": v})]
        return fired[0] if fired else None

    assert all(first(run) is None for run in clean)  # the calibration runs themselves, in sample
    assert first(np.minimum(1.0, steps / 50_000)) is None  # as slow as the slowest clean run
    assert first(np.minimum(0.6, steps / 40_000)) is not None  # learns, far from random, to 60% of clean
    assert first(np.minimum(0.6, steps / 40_000), reference="other") is None  # no reference: no verdict
    shorter = BelowCleanArea(reference="toy", time_limit=10)  # another time limit than the calibration's
    assert all(shorter.observe(int(s), {"charts/return_last100": 0.0}) is None for s in steps)
    detector = BelowCleanArea(reference="toy")
    for i in range(50):
        detector.observe(int(steps[i]), {"charts/return_last100": 0.6 * clean[0][i]})
    resumed = BelowCleanArea(reference="toy")
    resumed.load_state_dict(detector.state_dict())
    point = {"charts/return_last100": 0.6}
    assert resumed.check(50_000, point) == detector.check(50_000, point)  # a checkpoint keeps the area so far


def test_envelope_patience_outlasts_every_left_out_calibration_run():
    from rl_lab.lab.envelope import calibrate, longest_below

    steps = np.arange(10) * 1_000
    steady, faster = steps / 1_000.0, steps / 1_000.0 + 1
    dips = np.r_[2.0, 0, 0, 0, steady[4:]]  # below the others' envelope at 1k, 2k, 3k: 2,000 steps
    runs = [(steps, steady), (steps, faster), (steps, dips)]
    envelope = calibrate(runs, bucket=1, margin=1.5)
    assert envelope.low == [0.0, 0.0, 0.0, 0.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert envelope.left_out_stretches == [0, 0, 2_000]
    assert envelope.patience_steps == 3_000
    assert longest_below((steps, steady - 0.5), (envelope.steps, envelope.low)) == 5_000  # below from 4k to 9k
    assert calibrate(runs, bucket=5, margin=1.5).steps == [0, 5_000]


def test_per_env_learning_checks_resolve_from_the_env_config():
    from rl_lab.run.training import build_detectors, compose_settings

    catch = build_detectors(compose_settings(["env=catch"]).diagnostics).detectors
    cartpole = build_detectors(compose_settings(["env=cartpole"]).diagnostics).detectors
    assert (catch["early_learning"].by_step, catch["early_learning"].min_return) == (10_000, -0.4)
    assert catch["critic_fit"].floor == -0.1 and cartpole["critic_fit"].floor == 0.1
    assert cartpole["early_learning"].by_step is None  # no early check: it is never judged
    assert _first_firing(cartpole["early_learning"], [{"charts/return_last100": 0.0}] * 30) is None


def test_above_clean_area_judges_the_other_side_and_the_reference_clips_and_starts_late(tmp_path, monkeypatch):
    import rl_lab.run.config
    from rl_lab.instruments.detectors import AboveCleanArea
    from rl_lab.lab.envelope import calibrate_area, side_series

    steps = np.arange(0, 101) * 1_000
    rng = np.random.default_rng(1)
    clean = [rng.normal(0.2, 0.02, len(steps)) for _ in range(20)]
    points = [[{"step": int(s), "e": float(v)} for s, v in zip(steps, run, strict=True)] for run in clean]
    above = calibrate_area([side_series(p, "e", "above") for p in points], 1, 2.0, start=10_000, side="above")
    clipped = calibrate_area([side_series(p, "e", "below", [0.0, 0.21]) for p in points], 1, 2.0, clip=[0.0, 0.21])
    assert above.steps[0] == 10_000 and above.side == "above" and clipped.clip == [0.0, 0.21]
    (tmp_path / "envelopes").mkdir()
    written = {"area": {"e": vars(above), "c": vars(clipped)}}
    (tmp_path / "envelopes" / "toy.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(written)))
    monkeypatch.setattr(rl_lab.run.config, "CONFIG_DIR", tmp_path)

    def first(detector, curve, metric="e"):
        fired = [int(s) for s, v in zip(steps, curve, strict=True) if detector.observe(int(s), {metric: float(v)})]
        return fired[0] if fired else None

    assert all(first(AboveCleanArea("e", reference="toy"), run) is None for run in clean)
    assert first(AboveCleanArea("e", reference="toy"), np.full(len(steps), 0.3)) == 10_000  # not before its start
    assert first(AboveCleanArea("e", reference="toy"), np.full(len(steps), 0.1)) is None  # the other side
    assert first(BelowCleanArea("e", reference="toy"), np.full(len(steps), 0.1)) is None  # no "below" reference
    # clipped to [0, 0.21]: a run far above the clip reads as 0.21, never below; one far below reads as 0
    assert first(BelowCleanArea("c", reference="toy"), np.full(len(steps), 50.0), "c") is None
    assert first(BelowCleanArea("c", reference="toy"), np.full(len(steps), -50.0), "c") is not None


def test_split_half_alarms_keep_a_steady_candidate_and_leave_out_one_a_clean_seed_strays_on():
    from rl_lab.lab.envelope import side_series, split_half_alarms

    steps = np.arange(0, 101) * 1_000
    rng = np.random.default_rng(2)

    def points(runs):
        return [[{"step": int(s), "e": float(v)} for s, v in zip(steps, run, strict=True)] for run in runs]

    # each seed its own level, the levels spread evenly: either half spans the other's
    steady = [level + rng.normal(0, 0.002, len(steps)) for level in np.linspace(0.18, 0.22, 20)]
    assert split_half_alarms([side_series(p, "e", "above") for p in points(steady)], 2.0, 10_000, "above", None) == 0
    strays = [*steady[:19], np.full(len(steps), 0.6)]  # one clean seed whose number runs far above the others'
    assert split_half_alarms([side_series(p, "e", "above") for p in points(strays)], 2.0, 10_000, "above", None) >= 1
