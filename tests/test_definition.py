"""The checks from A2C's definition (rl_lab/instruments/definition.py): the gradient and each loss
term's, the network's function, every action against the policy that chose it, every time-limit
bootstrap. Each fires on a bug whose values are right, where every value check stays silent."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from test_train import settings_for

from rl_lab import bugs
from rl_lab.instruments.definition import ActingTest
from rl_lab.lab.diagnose import likely_seams
from rl_lab.run.runlog import read_metrics
from rl_lab.run.training import train

VALUE_CHECKS = {"policy_loss_consistency", "value_loss_consistency", "initialisation_consistency"}


@pytest.mark.parametrize(
    ("bug", "env", "detector", "seam"),
    [
        ("advantages_not_detached", "cartpole", "policy_gradient_consistency", "policy_loss"),
        ("value_loss_detached", "cartpole", "value_gradient_consistency", "value_loss"),
        ("value_loss_detached", "catch", "value_gradient_consistency", "value_loss"),
        ("activation_swapped", "cartpole", "function_consistency", "build_model"),
        ("activation_swapped", "catch", "function_consistency", "build_model"),
    ],
)
def test_a_bug_with_right_values_fires_its_definition_check_at_the_first_log_point(tmp_path, bug, env, detector, seam):
    summary = train(settings_for(f"env={env}", f"bug={bug}", "total_steps=800", "log_interval=400"), tmp_path)
    assert summary["detectors"].get(detector) == 400, summary["detectors"]
    assert not VALUE_CHECKS & set(summary["detectors"]), summary["detectors"]  # every value is the clean one
    # the diagnoser names the term's seam first, before the gradient as a whole
    assert likely_seams(SimpleNamespace(path=tmp_path, algorithm="a2c"), [], 800)[0][0] == seam


def test_a_clean_run_keeps_every_definition_check_at_zero(tmp_path):
    summary = train(settings_for("env.max_episode_steps=10", "total_steps=3000", "log_interval=200"), tmp_path)
    assert summary["detectors"] == {}
    points = read_metrics(tmp_path)
    for key in ("grads/grad_gap", "grads/policy_term_gap", "grads/value_term_gap", "grads/entropy_term_gap"):
        assert all(p[key] < 1e-6 for p in points), key  # the same operations on the same tensors
    assert all(p["params/function_gap"] == 0.0 and p["data/record_gap"] == 0.0 for p in points)
    assert max(p["policy/acting_evidence"] for p in points) < 2.0


WRONG_BOOTSTRAP_ONCE = (
    '"""Story: test-only. Seam: record_transition. Dose: the time-limit end that goes wrong. Symptoms: record."""\n'
    "import dataclasses\nimport numpy as np\n"
    "SEAM = 'record_transition'\nDOSE = 1\nSYMPTOM = 'record_gap'\n"
    "def inject(seams, dose):\n"
    "    ends = [0]\n"
    "    def record_transition(step, value_of):\n"
    "        recorded = seams.record_transition(step, value_of)\n"
    "        if np.any(step.time_limit_ends):\n"
    "            ends[0] += 1\n"
    "            if ends[0] == dose:\n"
    "                recorded.truncation_value[np.flatnonzero(step.time_limit_ends)] += 1.0\n"
    "        return recorded\n"
    "    return dataclasses.replace(seams, record_transition=record_transition)\n"
)


def test_a_wrong_bootstrap_between_log_points_is_caught_at_the_next_one(tmp_path):
    """One time-limit end bootstrapped wrong, in a rollout no log point reads (the first of ten):
    every time-limit end is checked as it is recorded, not only those of the logged rollout."""
    (tmp_path / "user_bugs").mkdir()
    (tmp_path / "user_bugs" / "wrong_bootstrap_once.py").write_text(WRONG_BOOTSTRAP_ONCE)
    bugs.load([tmp_path / "user_bugs"])
    overrides = ("bug=wrong_bootstrap_once", "env.max_episode_steps=5", "total_steps=800", "log_interval=400")
    summary = train(settings_for(*overrides), tmp_path / "run")
    assert summary["detectors"] == {"record_consistency": 400}, summary
    assert [p["data/record_gap"] > 0.1 for p in read_metrics(tmp_path / "run")] == [True, False]


def _simulated_evidence(rng: np.random.Generator, mix: float, steps: int, n_actions: int = 3) -> float:
    """The acting test's largest log10 e-value over ``steps`` rollouts of 5 x 8 actions from random
    policies, a share ``mix`` of the actions uniform instead of sampled."""
    test, largest = ActingTest(), -math.inf
    for _ in range(steps):
        logits = torch.from_numpy(rng.normal(0.0, 2.0, (5, 8, n_actions)))
        p = torch.softmax(logits, -1).numpy()
        sampled = (p.cumsum(-1) > rng.random((5, 8, 1))).argmax(-1)
        actions = np.where(rng.random((5, 8)) < mix, rng.integers(n_actions, size=(5, 8)), sampled)
        test.observe(logits, torch.from_numpy(actions))
        largest = max(largest, test.take_largest())
    return largest


def test_the_acting_test_holds_its_false_alarm_bound_and_finds_a_few_percent_of_uniform_actions():
    rng = np.random.default_rng(0)
    # Ville's inequality: P(the e-value ever reaches 10) <= 0.1 under correct sampling
    clean = [_simulated_evidence(rng, 0.0, 50) for _ in range(200)]
    assert np.mean(np.array(clean) >= 1.0) <= 0.1
    assert max(clean) < 5.0  # the detector's bound, 1e-5
    assert _simulated_evidence(rng, 0.05, 200) > 5.0  # 8,000 actions, 5% uniform


def test_the_acting_test_resumes_where_it_was():
    rng = np.random.default_rng(1)
    logits = [torch.from_numpy(rng.normal(size=(5, 4, 2))) for _ in range(3)]
    actions = [torch.from_numpy(rng.integers(2, size=(5, 4))) for _ in range(3)]
    whole, split = ActingTest(), ActingTest()
    for batch in zip(logits, actions, strict=True):
        whole.observe(*batch)
    split.observe(logits[0], actions[0])
    resumed = ActingTest()
    resumed.load_state_dict(split.state_dict())
    for batch in zip(logits[1:], actions[1:], strict=True):
        resumed.observe(*batch)
    assert np.array_equal(resumed.log_products, whole.log_products) and resumed.take_largest() == whole.take_largest()


def test_the_gradient_is_recomputed_at_the_first_log_point_and_every_nth_after(tmp_path):
    settings = settings_for("total_steps=2000", "log_interval=400", "diagnostics.gradient_check_every=2")
    train(settings, tmp_path)
    assert [("grads/grad_gap" in p) for p in read_metrics(tmp_path)] == [True, False, True, False, True]
