"""The bug zoo, behaviour level: each bug's claimed symptom shows in a short seeded CartPole run.

Every claim is a comparison with the clean agent on the same seed and horizon (medians over
the second half of the run). The clean critic only starts to explain CartPole's returns after
about 50k steps (explained variance ~0.01 before, ~0.97 after), so claims about explained
variance use 100k-step runs; the rest show by 60k. Runs are deterministic, so the 30k-60k
window of the clean 100k run is the clean 60k run's second half.

Every run the tests read is listed in RUNS and trained once, two at a time (one torch thread
each, :func:`rl_lab.lab.runs.train_missing`), when the first test asks for one.

All slow (about 1.5M agent steps, 4-5 minutes on 2 cores): ``pytest -m slow`` runs them; CI's
``-m "not slow"`` checks every bug at its seam instead (tests/test_bugs.py exactly,
tests/test_diagnostics.py through its exact check).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rl_lab.lab.runs import RunSpec, train_missing
from rl_lab.run.runlog import read_metrics

pytestmark = pytest.mark.slow

SHORT, LONG = 60_000, 100_000
RUNS = [  # (overrides, steps) of every run a test below reads
    ((), LONG),
    *((("bug=" + name,), SHORT) for name in (
        "sign_flip", "value_sign_flip", "entropy_sign_flip", "missing_eval_mode", "off_by_one_frames",
        "shuffled_labels", "probs_as_logits", "unnormalized_inputs", "symmetric_init", "frozen_parameters",
        "bad_learning_rate", "numerical_overflow", "wrong_gather_dim", "time_reversed_returns",
    )),
    *((("bug=" + name,), LONG) for name in ("forgot_zero_grad", "broadcast_shape", "unstable_log_softmax")),
    (("bug=entropy_sign_flip", "agent.ent_coef=0.1"), SHORT),
    (("agent.ent_coef=0.1",), SHORT),
    (("bug=missing_eval_mode", "agent.model.dropout=0.2"), SHORT),
    (("agent.model.dropout=0.2",), SHORT),
    (("bug=bad_learning_rate", "bug.bad_learning_rate.dose=0"), 8000),
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("symptoms")
    specs = {
        (*overrides, f"total_steps={steps}"): RunSpec((*overrides, f"total_steps={steps}", "seed=0"), root / f"run{i}")
        for i, (overrides, steps) in enumerate(RUNS)
    }
    trained = False

    def _run(*overrides: str, steps: int = SHORT) -> tuple[dict, list[dict]]:
        nonlocal trained
        if not trained:
            train_missing(list(specs.values()))
            trained = True
        run_dir = specs[(*overrides, f"total_steps={steps}")].run_dir
        return json.loads((run_dir / "summary.json").read_text()), read_metrics(run_dir)

    return _run


def median(points: list[dict], key: str, start: int, end: int) -> float:
    values = [p[key] for p in points if start < p["step"] <= end and key in p and math.isfinite(p[key])]
    return float(np.median(values))


def second_half(points, key, steps=SHORT):
    return median(points, key, steps // 2, steps)


@pytest.fixture(scope="module")
def clean(run):
    """Medians of the clean agent over 30k-60k and 50k-100k steps."""
    _, points = run(steps=LONG)
    return lambda key, steps=SHORT: second_half(points, key, steps)


RET, EV, H = "charts/return_last100", "value/explained_variance", "policy/entropy_normalized"


def test_sign_flip_drives_return_below_random_and_collapses_entropy(run, clean):
    summary, points = run("bug=sign_flip")
    assert second_half(points, RET) < 20 < clean(RET)  # a random CartPole policy lasts ~22 steps
    assert second_half(points, H) < 0.1 * clean(H)
    assert "entropy_collapse" in summary["detectors"]
    assert second_half(points, EV) > 0.9  # the critic is untouched


def test_value_sign_flip_sends_values_away_from_returns(run, clean):
    _, points = run("bug=value_sign_flip")
    assert second_half(points, "value/values_min") < -30 < 30 < clean("value/values_min")
    assert second_half(points, "grads/global_norm") > 5 * clean("grads/global_norm")
    assert second_half(points, RET) < 20


def test_entropy_sign_flip_lowers_entropy_given_an_entropy_bonus(run):
    _, bugged = run("bug=entropy_sign_flip", "agent.ent_coef=0.1")
    _, control = run("agent.ent_coef=0.1")
    assert second_half(bugged, H) < 0.8 * second_half(control, H)


def test_entropy_sign_flip_is_inert_without_an_entropy_bonus(run, clean):
    _, points = run("bug=entropy_sign_flip")  # CartPole's zoo ent_coef is 0.0
    assert second_half(points, RET) == clean(RET)


def test_missing_eval_mode_against_the_same_dropout_model(run):
    _, bugged = run("bug=missing_eval_mode", "agent.model.dropout=0.2")
    _, control = run("agent.model.dropout=0.2")
    assert second_half(bugged, "grads/global_norm") > 1.5 * second_half(control, "grads/global_norm")


def test_missing_eval_mode_without_dropout_changes_nothing(run, clean):
    _, points = run("bug=missing_eval_mode")
    assert second_half(points, RET) == clean(RET)


def test_off_by_one_frames_misaligns_acting_and_training_and_costs_return(run, clean):
    _, points = run("bug=off_by_one_frames")
    # clean: float32 rounding between batch sizes only (test_diagnostics.py, FLOAT32_ROUNDING_KL)
    assert clean("policy/act_train_kl") < 1e-6 and second_half(points, "policy/act_train_kl") > 1e-3
    assert second_half(points, RET) < 0.7 * clean(RET)


def test_shuffled_labels_prevent_learning(run, clean):
    _, points = run("bug=shuffled_labels")
    assert second_half(points, RET) < 20
    assert abs(second_half(points, EV)) < 0.05
    assert second_half(points, H) < clean(H)


def test_forgot_zero_grad_ruins_the_critic(run, clean):
    _, points = run("bug=forgot_zero_grad", steps=LONG)
    assert second_half(points, EV, LONG) < 0.5 < clean(EV, LONG)


def test_probs_as_logits_blows_up_the_logits_spread(run, clean):
    _, points = run("bug=probs_as_logits")
    assert second_half(points, "policy/logits_range") > 4 * clean("policy/logits_range")
    assert second_half(points, H) < 0.5 * clean(H)


def test_unnormalized_inputs_saturate_the_first_layer(run, clean):
    _, points = run("bug=unnormalized_inputs")
    layer = "activations/policy_body.2/norm"  # the first tanh
    assert second_half(points, layer) > 4 * clean(layer)
    assert second_half(points, "grads/global_norm") > 5 * clean("grads/global_norm")


def test_symmetric_init_keeps_units_identical(run, clean):
    summary, points = run("bug=symmetric_init")
    layer = "activations/policy_body.2/norm"
    assert second_half(points, layer) < 0.3 * clean(layer)
    assert "param_norm_growth" in summary["detectors"]


def test_frozen_parameters_never_move(run, clean):
    _, points = run("bug=frozen_parameters")
    assert all(p["params/policy_body.1/update_ratio"] == 0 for p in points)
    assert all(p["grads/policy_body.1/norm"] == 0 for p in points)
    assert points[-1]["params/value_head/update_ratio"] > 0
    assert second_half(points, RET) < 0.5 * clean(RET)


def test_bad_learning_rate_inflates_parameters_and_collapses_the_policy(run, clean):
    summary, points = run("bug=bad_learning_rate")
    assert second_half(points, "params/global_norm") > 3 * clean("params/global_norm")
    assert "entropy_collapse" in summary["detectors"]


def test_zero_learning_rate_freezes_everything(run):
    _, points = run("bug=bad_learning_rate", "bug.bad_learning_rate.dose=0", steps=8000)
    assert all(p["params/policy_head/update_ratio"] == 0 for p in points)


def test_broadcast_shape_flattens_the_critic(run, clean):
    _, points = run("bug=broadcast_shape", steps=LONG)
    assert abs(second_half(points, EV, LONG)) < 0.05 and clean(EV, LONG) > 0.5


def test_unstable_log_softmax_ends_in_nan(run):
    summary, _ = run("bug=unstable_log_softmax", steps=LONG)
    assert summary["status"] == "diverged" and "nonfinite" in summary["detectors"]
    assert summary["steps"] > 10_000  # it hides until the policy gets confident


def test_numerical_overflow_ends_in_nan(run):
    summary, _ = run("bug=numerical_overflow")
    assert summary["status"] == "diverged" and "nonfinite" in summary["detectors"]


def test_wrong_gather_dim_kills_the_policy_but_not_the_critic(run, clean):
    _, points = run("bug=wrong_gather_dim")
    assert second_half(points, RET) < 20
    assert second_half(points, EV) > 0.9


def test_time_reversed_returns_cost_most_of_the_return(run, clean):
    _, points = run("bug=time_reversed_returns")
    assert second_half(points, RET) < 0.4 * clean(RET)
