"""The instrument panel on real runs: what it logs, that it changes nothing, how a run ends on NaN."""

from __future__ import annotations

import json

import pytest
from test_train import settings_for

from rl_lab import bugs
from rl_lab.run.runlog import read_events, read_metrics
from rl_lab.run.training import train

BASIC = (
    "losses/total",
    "losses/policy",
    "losses/value",
    "losses/entropy",
    "grads/global_norm",
    "value/explained_variance",
    "charts/return_last100",
)


NAN_BUG = '''"""Story: test-only. Seam: value_loss. Dose: updates before the value loss turns NaN. Symptoms: NaN."""
import dataclasses
import torch.nn.functional as F
SEAM = "value_loss"
DOSE = 30
SYMPTOM = "NaN after dose updates"
def inject(seams, dose):
    calls = {"n": 0}
    def value_loss(values, returns):
        calls["n"] += 1
        loss = F.mse_loss(returns, values)
        return loss * float("nan") if calls["n"] > dose else loss
    return dataclasses.replace(seams, value_loss=value_loss)
'''


def test_panel_logs_every_group(tmp_path):
    train(settings_for("total_steps=2000", "log_interval=400"), tmp_path)
    point = read_metrics(tmp_path)[-1]
    for key in (
        "grads/policy_body.1/norm",
        "params/value_head/norm",
        "params/policy_head/update_ratio",
        "activations/policy_body.2/norm",
        "policy/approx_kl",
        "policy/logits_std",
        "policy/entropy_normalized",
        "value/returns_max",
        "value/advantages_std",
        "charts/reward_per_step",
        "diagnostics/nonfinite_count",
    ):
        assert key in point, key
    assert point["policy/approx_kl"] >= 0 and point["diagnostics/nonfinite_count"] == 0
    assert 0 < point["params/policy_head/update_ratio"] < 1


def test_relu_dead_fraction_is_measured_on_the_cnn(tmp_path):
    train(
        settings_for("env=pong", "total_steps=320", "log_interval=160", "agent.n_envs=4", "env.num_threads=1"), tmp_path
    )
    point = read_metrics(tmp_path)[-1]
    assert 0.0 <= point["activations/body.1/dead_fraction"] <= 1.0
    assert point["activations/body.8/norm"] > 0


def test_diagnostics_do_not_change_the_run(tmp_path):
    on = train(settings_for("total_steps=3000", "log_interval=200"), tmp_path / "on")
    off = train(settings_for("total_steps=3000", "log_interval=200", "diagnostics.enabled=false"), tmp_path / "off")
    strip = [{k: p[k] for k in BASIC if k in p} for p in read_metrics(tmp_path / "on")]
    assert strip == [{k: p[k] for k in BASIC if k in p} for p in read_metrics(tmp_path / "off")]
    assert on["final_return"] == off["final_return"]
    assert "grads/global_norm" in read_metrics(tmp_path / "off")[0]
    assert "policy/approx_kl" not in read_metrics(tmp_path / "off")[0]


EXACT_CHECKS = ("grads/stale_ratio", "value/loss_gap", "policy/entropy_gap", "policy/log_prob_gap")
# Two checks compare the same network's logits computed in batches of different sizes (the acting
# pass takes n_envs observations, the training pass n_steps x n_envs, the eval-mode pass kl_samples).
# torch 2.13's CPU matrix kernels reduce in an order that depends on the batch size, so the logits
# differ by float32 rounding (~1e-7 relative) and the KL between them is of order 1e-8 (measured:
# at most 1.5e-8 on clean CartPole), four orders below the detectors' 1e-4.
ROUNDING_KL_CHECKS = ("policy/act_train_kl", "policy/act_eval_kl")
FLOAT32_ROUNDING_KL = 1e-6


def test_consistency_checks_are_zero_in_the_clean_agent_up_to_float_rounding(tmp_path):
    summary = train(settings_for("total_steps=3000", "log_interval=200"), tmp_path)
    points = read_metrics(tmp_path)
    assert all(p[key] == 0.0 for p in points for key in EXACT_CHECKS), "a consistency check is off in a clean run"
    assert all(abs(p[key]) < FLOAT32_ROUNDING_KL for p in points for key in ROUNDING_KL_CHECKS)
    assert summary["detectors"] == {}


@pytest.mark.parametrize(
    ("bug", "metric", "detector"),
    [
        ("forgot_zero_grad", "grads/stale_ratio", "stale_gradient"),
        ("broadcast_shape", "value/loss_gap", "value_loss_consistency"),
        ("value_sign_flip", "value/loss_gap", "value_loss_consistency"),
        ("sign_flip", "losses/policy_gap", "policy_loss_consistency"),
        ("time_reversed_returns", "value/returns_gap", "returns_consistency"),
        ("frozen_parameters", "params/frozen_fraction", "trainable_parameters"),
    ],
)
def test_consistency_check_catches_its_bug_at_the_first_log_point(tmp_path, bug, metric, detector):
    settings = settings_for("total_steps=2000", "log_interval=400", f"bug={bug}")
    summary = train(settings, tmp_path)
    points = read_metrics(tmp_path)
    assert all(p[metric] > 1e-3 for p in points), [p[metric] for p in points]
    assert summary["detectors"][detector] == 400


# At the first update the policy is near uniform (logits ~0.01), where these bugs compute nearly the
# clean numbers: gaps of 5e-6 to 1e-4 on CartPole seed 0 and Catch seed 0 (1e-4 thresholds missed them).
@pytest.mark.parametrize(
    ("bug", "env", "detector"),
    [
        ("probs_as_logits", "cartpole", "log_prob_consistency"),
        ("wrong_gather_dim", "cartpole", "log_prob_consistency"),
        ("numerical_overflow", "cartpole", "entropy_consistency"),
        ("numerical_overflow", "catch", "entropy_consistency"),
    ],
)
def test_a_loss_term_bug_fires_at_the_first_update_of_a_near_uniform_policy(tmp_path, bug, env, detector):
    settings = settings_for(f"env={env}", f"bug={bug}", "total_steps=80", "log_every_update_until=80")
    summary = train(settings, tmp_path)
    first = read_metrics(tmp_path)[0]
    assert first["policy/entropy_normalized"] > 0.999, first  # near uniform
    assert summary["detectors"][detector] == first["step"], summary


# Bugs the zoo does not have, at seams whose checks follow from A2C's definition (test-only plug-ins).
SEAM_BUGS = {
    "unclipped_step": (  # the optimizer steps on the raw gradient: clip_grad_norm_ forgotten
        "optimizer_step",
        """def optimizer_step(optimizer, loss, parameters, max_grad_norm):
        optimizer.zero_grad()
        loss.backward()
        norm = torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None])
        optimizer.step()
        return norm""",
    ),
    "double_step": (  # the optimizer steps twice on one gradient (a step in a retry loop)
        "optimizer_step",
        """def optimizer_step(optimizer, loss, parameters, max_grad_norm):
        norm = clean.optimizer_step(optimizer, loss, parameters, max_grad_norm)
        optimizer.step()
        return norm""",
    ),
}


@pytest.mark.parametrize(
    ("bug", "metric", "detector", "steps"),
    [
        ("unclipped_step", "grads/clip_gap", "clip_consistency", 400),
        ("double_step", "params/step_gap", "optimizer_step_consistency", 400),
    ],
)
def test_a_seam_check_catches_a_bug_no_zoo_module_has(tmp_path, bug, metric, detector, steps):
    seam, body = SEAM_BUGS[bug]
    (tmp_path / "user_bugs").mkdir()
    (tmp_path / "user_bugs" / f"{bug}.py").write_text(
        f'"""Story: test-only. Seam: {seam}. Dose: none. Symptoms: {detector}."""\n'
        "import dataclasses\nimport torch\nfrom rl_lab.agent import seams as clean\n"
        f"SEAM = {seam!r}\nDOSE = 1\nSYMPTOM = {detector!r}\n"
        f"def inject(seams, dose):\n    {body}\n    return dataclasses.replace(seams, {seam}={seam})\n"
    )
    bugs.load([tmp_path / "user_bugs"])
    settings = settings_for(f"total_steps={steps}", "log_interval=400")
    settings.bug = {bug: {"dose": 1}}
    summary = train(settings, tmp_path / "run")
    assert summary["detectors"] == {detector: 400}, (read_metrics(tmp_path / "run")[-1][metric], summary)


# The data path's zoo bugs (issue 22): each fires its own exact check, and only it, at the first log
# point whose rollout holds what the bug changes, at the latest the first with an episode end. Every
# update is a log point here, so the first log point with charts/episode_return (the episodes ended
# since the last log point) is the first update with an end; Catch's episodes all end together.
@pytest.mark.parametrize(
    ("bug", "overrides", "detectors"),
    [
        ("timeout_as_terminal", ["env.max_episode_steps=10"], {"record_consistency"}),
        ("terminal_bootstrapped", ["env=catch"], {"record_consistency"}),
        ("reward_one_step_late", ["env=catch"], {"record_consistency"}),
        ("obs_not_reset", ["env=catch"], {"next_observation_consistency"}),
        ("unnormalized_inputs", ["env=catch"], {"input_scale", "preprocess_consistency"}),
        # statistical checks: the e-process over every action, and the running z over log points
        ("greedy_acting", [], {"acting_distribution", "action_sampling"}),
    ],
)
def test_a_data_path_bug_fires_its_own_check_first(tmp_path, bug, overrides, detectors):
    overrides = [f"bug={bug}", *overrides, "total_steps=2000", "log_every_update_until=2000", "agent.n_envs=8"]
    summary = train(settings_for(*overrides), tmp_path)
    assert set(summary["detectors"]) == detectors, summary
    first_end = next(p["step"] for p in read_metrics(tmp_path) if "charts/episode_return" in p)
    if bug == "unnormalized_inputs":
        first_end = read_metrics(tmp_path)[0]["step"]  # every input, not only those at an episode end
    if bug != "greedy_acting":
        assert max(summary["detectors"].values()) <= first_end, summary


@pytest.mark.parametrize("dose", [100.0, 0.0])
def test_a_learning_rate_other_than_the_configured_one_fires_the_step_check(tmp_path, dose):
    settings = settings_for("bug=bad_learning_rate", f"bug.bad_learning_rate.dose={dose}", "total_steps=400")
    summary = train(settings, tmp_path)
    assert summary["detectors"].get("optimizer_step_consistency") == 400, summary


@pytest.mark.parametrize("bug", ["symmetric_init", "other_architecture"])
def test_a_network_built_unlike_the_configured_factory_fires_at_the_first_log_point(tmp_path, bug):
    (tmp_path / "user_bugs").mkdir()
    (tmp_path / "user_bugs" / "other_architecture.py").write_text(
        '"""Story: test-only. Seam: build_model. Dose: none. Symptoms: initialisation_consistency."""\n'
        "import dataclasses\nfrom rl_lab.agent.models import MlpActorCritic\n"
        "SEAM = 'build_model'\nDOSE = 1\nSYMPTOM = 'initialisation_consistency'\n"
        "def inject(seams, dose):\n"
        "    def build_model(factory, observation_space, action_space):\n"
        "        return MlpActorCritic(observation_space, action_space, hidden=(32, 32))  # not (64, 64)\n"
        "    return dataclasses.replace(seams, build_model=build_model)\n"
    )
    bugs.load([tmp_path / "user_bugs"])
    summary = train(settings_for(f"bug={bug}", "total_steps=400", "log_interval=400"), tmp_path / "run")
    assert summary["detectors"].get("initialisation_consistency") == 400, summary
    gap = read_metrics(tmp_path / "run")[0]["params/init_gap"]
    assert gap == 1.0 if bug == "other_architecture" else gap > 0.5


WRONG_OBSERVATION_ONCE = (
    '"""Story: test-only. Seam: next_observation. Dose: the call that goes wrong. Symptoms: next_obs_gap."""\n'
    "import dataclasses\nSEAM = 'next_observation'\nDOSE = 1\nSYMPTOM = 'next_obs_gap'\n"
    "def inject(seams, dose):\n"
    "    calls = [0]\n"
    "    def next_observation(obs, step):\n"
    "        calls[0] += 1\n"
    "        return seams.next_observation(obs, step) + (1.0 if calls[0] == dose else 0.0)\n"
    "    return dataclasses.replace(seams, next_observation=next_observation)\n"
)


@pytest.mark.parametrize("call", [12, 15])  # inside the third rollout; its last step (the next rollout acts on it)
def test_the_data_path_of_a_rollout_between_log_points_is_checked(tmp_path, call):
    # CartPole: 5 steps a rollout, log points every 10 rollouts; one wrong observation in rollout 3
    (tmp_path / "user_bugs").mkdir()
    (tmp_path / "user_bugs" / "wrong_observation_once.py").write_text(WRONG_OBSERVATION_ONCE)
    bugs.load([tmp_path / "user_bugs"])
    dose = f"bug.wrong_observation_once.dose={call}"
    summary = train(
        settings_for("bug=wrong_observation_once", dose, "total_steps=800", "log_interval=400"), tmp_path / "r"
    )
    assert summary["detectors"] == {"next_observation_consistency": 400}, summary
    gaps = [p["data/next_obs_gap"] for p in read_metrics(tmp_path / "r")]
    assert gaps == [1 / 5, 0.0]  # every env at one step of the rollout's five; the next log point clean


def test_clean_runs_with_time_limit_ends_keep_every_data_path_gap_at_zero(tmp_path):
    """The record check recomputes V(final observation) of every time-limit end: exactly the loop's."""
    summary = train(settings_for("env.max_episode_steps=10", "total_steps=4000", "log_interval=400"), tmp_path)
    assert summary["detectors"] == {}
    points = read_metrics(tmp_path)
    assert all(p["data/record_gap"] == p["data/next_obs_gap"] == p["inputs/preprocess_gap"] == 0 for p in points)
    assert all(p["params/init_gap"] < 1e-6 for p in points)  # orthogonal init: the norms are fixed


@pytest.mark.parametrize("on_divergence", ["stop", "continue"])
def test_nan_in_a_real_run_ends_it_diverged_with_readable_files(tmp_path, on_divergence):
    (tmp_path / "user_bugs").mkdir()
    (tmp_path / "user_bugs" / "nan_value_loss.py").write_text(NAN_BUG)
    bugs.load([tmp_path / "user_bugs"])
    settings = settings_for("total_steps=8000", "log_interval=1000", f"diagnostics.on_divergence={on_divergence}")
    settings.bug = {"nan_value_loss": {"dose": 30}}
    summary = train(settings, tmp_path / "run")
    tmp_path = tmp_path / "run"
    assert summary["status"] == "diverged"
    assert summary["steps"] == 31 * 40  # stopped at the update that produced the NaN, not the next log point
    assert summary["divergence_step"] == 31 * 40 and summary["detectors"]["nonfinite"] == 31 * 40
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "diverged"
    assert [e["detector"] for e in read_events(tmp_path)] == ["nonfinite"]
    assert read_metrics(tmp_path)[-1]["step"] == 31 * 40


# slow: 100k steps each; the detectors' false alarms at full length on 70 clean seeds are measured
# by scripts/false_alarms.py (results/detectors/false_alarms_cartpole_*.md)
@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_cartpole_fires_no_divergence_detector(tmp_path, seed):
    summary = train(settings_for("total_steps=100000", f"seed={seed}"), tmp_path)
    assert summary["status"] == "finished"
    assert summary["divergence_step"] is None, read_events(tmp_path)
    assert summary["final_return"] > 100  # it did learn: the silence is not from a dead run


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_cartpole_full_budget_fires_no_divergence_detector(tmp_path, seed):
    summary = train(settings_for(f"seed={seed}"), tmp_path)
    assert summary["divergence_step"] is None, read_events(tmp_path)


def test_approx_kl_measures_the_update_not_a_misaligned_training_forward(tmp_path):
    """Under off_by_one_frames the training forward pass sees other frames than the policy acted on.
    With the update frozen (lr x 0) the policy does not change, so its KL per update is exactly 0.
    (It used to compare the training forward's logits with a fresh pass, and so reported the
    misalignment as the update's size. act_train_kl shows the misalignment once the policy has
    learned something, test_bug_symptoms.py: an untrained one gives neighbouring frames nearly
    the same logits.)"""
    overrides = ("total_steps=2000", "log_interval=400", "bug=[off_by_one_frames,bad_learning_rate]")
    train(settings_for(*overrides, "bug.bad_learning_rate.dose=0.0"), tmp_path)
    points = read_metrics(tmp_path)
    assert all(p["policy/approx_kl"] == 0.0 for p in points), [p["policy/approx_kl"] for p in points]


def test_the_exact_check_series_are_the_recomputations_the_consistency_detectors_read(tmp_path):
    from rl_lab.instruments.detectors import CONSISTENCY
    from rl_lab.instruments.diagnostics import EXACT_CHECK_SERIES
    from rl_lab.instruments.ppo_checks import PPO_CHECK_SERIES
    from rl_lab.run.training import build_detectors

    train(settings_for("total_steps=400", "log_interval=400"), tmp_path)
    logged = set(read_metrics(tmp_path)[-1])
    assert EXACT_CHECK_SERIES - set(PPO_CHECK_SERIES) <= logged  # an A2C run: every check but PPO's own
    assert not logged & set(PPO_CHECK_SERIES)
    assert {k for k in logged if k.endswith("_gap")} <= EXACT_CHECK_SERIES
    bank = build_detectors(settings_for().diagnostics)
    read = {d.metric for d in bank.detectors.values() if d.kind == CONSISTENCY}
    assert read - EXACT_CHECK_SERIES == {"inputs/abs_max"}  # the input scale: any agent can log it
