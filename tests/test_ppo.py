"""PPO as a second algorithm: ``algo=ppo`` picks it, its settings are checked like A2C's, a run
resumes exactly, bugs declare the algorithms they apply to, and the panel logs PPO's series and
leaves out the checks of A2C's one gradient step. Parity with SB3: tests/test_parity_ppo.py."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from rl_lab import bugs
from rl_lab.agent.a2c import A2C
from rl_lab.agent.ppo import PPO
from rl_lab.agent.seams import A2CSeams, PPOSeams, SharedSeams, minibatches, normalize_advantages, schedule
from rl_lab.instruments.detectors import load_envelope
from rl_lab.instruments.diagnostics import EXACT_CHECK_SERIES
from rl_lab.instruments.ppo_checks import PPO_CHECK_SERIES
from rl_lab.run.config import CONFIG_DIR, ConfigError, PPOConfig, to_settings
from rl_lab.run.runlog import read_metrics
from rl_lab.run.training import prepare_run, train

A2C_STEP_CHECKS = {  # of A2C's one gradient step: its policy loss, its clip, the policy it trained
    "losses/policy_gap",
    "grads/clip_gap",
    "policy/act_train_kl",
    "policy/act_train_gap",
    "grads/policy_term_gap",
}
SHARED_SEAM_CHECKS = {  # of the seams both algorithms share, checked on PPO's minibatch steps too
    "value/loss_gap",
    "params/step_gap",
    "policy/entropy_gap",
    "policy/log_prob_gap",
    "grads/value_term_gap",
    "grads/entropy_term_gap",
}


def _compose(*overrides: str):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=["progress=false", *overrides])


def _run(run_dir: Path, *overrides: str) -> dict:
    return train(prepare_run(_compose(*overrides), run_dir, ["progress=false", *overrides]), run_dir)


def test_algo_ppo_picks_ppo_with_the_zoo_hyperparameters_and_a2c_stays_the_default():
    ppo = to_settings(_compose("algo=ppo"))
    assert ppo.algorithm is PPO and isinstance(ppo.agent, PPOConfig)
    hp = ppo.agent  # rl-baselines3-zoo hyperparams/ppo.yml, CartPole-v1
    assert (hp.n_envs, hp.n_steps, hp.batch_size, hp.n_epochs, hp.gamma, hp.gae_lambda) == (8, 32, 256, 20, 0.98, 0.8)
    assert (hp.lr, hp.lr_schedule, hp.clip_range, hp.clip_range_schedule) == (1e-3, "linear", 0.2, "linear")
    assert hp.n_timesteps == 100_000 and hp.optimizer["_target_"] == "torch.optim.Adam"
    pong = to_settings(_compose("algo=ppo", "env=pong")).agent  # the zoo's atari entry
    assert (pong.n_envs, pong.n_steps, pong.n_epochs, pong.batch_size, pong.lr, pong.clip_range) == (
        8,
        128,
        4,
        256,
        2.5e-4,
        0.1,
    )
    a2c = to_settings(_compose())
    assert a2c.algorithm is A2C and type(a2c.agent).__name__ == "AgentConfig"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("agent.n_epochs=0", "agent.n_epochs=0 is invalid: must be an integer >= 1"),
        ("agent.batch_size=300", "agent.batch_size=300 is invalid: must lie in [1, n_envs * n_steps = 256]"),
        ("agent.clip_range=0", "agent.clip_range=0.0 is invalid: must be > 0"),
        ("agent.lr_schedule=cosine", "agent.lr_schedule='cosine' is invalid: valid choices are constant, linear"),
        ("loop=lagged", "valid with algo=a2c only"),
    ],
)
def test_a_bad_ppo_setting_is_one_line_naming_it(override, message):
    with pytest.raises(ConfigError, match=None) as error:
        to_settings(_compose("algo=ppo", override))
    assert message in str(error.value)


def test_ppo_keys_are_unknown_to_a2c_and_checked_at_composition():
    with pytest.raises(ConfigCompositionException, match="n_epochs"):
        _compose("agent.n_epochs=4")
    with pytest.raises(ConfigCompositionException, match="n_epochs"):
        _compose("algo=ppo", "agent.n_epochs=four")


# the learning detectors: each one's setting that names a calibration (conf/algo_diagnostics/ppo.yaml)
LEARNING_CALIBRATED = {
    "critic_fit": "after",
    "return_envelope": "envelope",
    "learns_worse": "reference",
    "critic_fits_worse": "reference",
    "critic_surprised": "reference",
    "policy_uncertain": "reference",
    "critic_envelope": "envelope",
    "early_learning": "by_step",
    "no_learning": "by_step",
}


# where PPO's own level of each leveled detector is, in the env's `ppo:` block (conf/env/<env>.yaml)
PPO_LEVELS = {
    "critic_fit": "critic_fit_after",
    "early_learning": "early_learning_check",
    "no_learning": "learning_check",
}


@pytest.mark.parametrize("env", ["cartpole", "catch"])
def test_ppos_learning_detectors_read_ppos_own_calibration_never_a2cs(env):
    a2c, ppo = (to_settings(_compose(f"env={env}", f"algo={algo}")).diagnostics.detectors for algo in ("a2c", "ppo"))
    own = to_settings(_compose(f"env={env}")).env.get("ppo", {})
    assert set(a2c) == set(ppo)  # the same panel
    for name in a2c:
        if name not in LEARNING_CALIBRATED:  # exact checks, divergence, plateau, entropy, oscillation: as A2C's
            assert ppo[name] == a2c[name], name
            continue
        key = LEARNING_CALIBRATED[name]
        if key in ("envelope", "reference"):  # PPO's own file, which may not exist: then no verdict
            assert (a2c[name][key], ppo[name][key]) == (env, f"ppo_{env}"), name
        elif name == "critic_fit":  # PPO's own step, or not judged
            assert ppo[name]["after"] == own.get(PPO_LEVELS[name]), name
        else:  # PPO's own level, or none
            level = own.get(PPO_LEVELS[name], {})
            assert (ppo[name]["by_step"], ppo[name]["min_return"]) == (level.get("by_step"), level.get("min_return"))
    # CartPole has PPO's calibration (30 clean PPO runs), Catch not yet: no verdict there
    calibrated = env == "cartpole"
    assert (load_envelope(f"ppo_{env}", "charts/return_last100") is not None) is calibrated
    assert (ppo["early_learning"]["by_step"] is not None) is calibrated
    # A2C keeps its calibration where the env has one (Catch: every one of them)
    if env == "catch":
        assert all(a2c[name][key] is not None for name, key in LEARNING_CALIBRATED.items())


def test_minibatches_partition_the_batch_every_epoch():
    pieces = minibatches(100, 32)
    assert [len(p) for p in pieces] == [32, 32, 32, 4]
    assert sorted(torch.cat(pieces).tolist()) == list(range(100))


def test_advantage_normalization_and_schedules_are_sb3s():
    a = torch.tensor([1.0, 2.0, 4.0])
    torch.testing.assert_close(normalize_advantages(a), (a - a.mean()) / (a.std() + 1e-8))
    assert normalize_advantages(torch.tensor([3.0])).item() == 3.0  # SB3 #325: a minibatch of one is left alone
    assert schedule(0.2, 0.25, "linear") == pytest.approx(0.05) and schedule(0.2, 0.25, "constant") == 0.2


def test_a_bug_applies_to_the_algorithms_whose_seams_it_names():
    zoo = bugs.registry()
    assert bugs.algorithms_of(zoo["value_sign_flip"]) == ("a2c", "ppo")  # value_loss: a shared seam
    assert bugs.algorithms_of(zoo["sign_flip"]) == ("a2c",)  # policy_loss: A2C's own
    assert bugs.algorithms_of(zoo["mystery"]) == ("a2c", "ppo")  # no seam of its own: a pool per algorithm
    shared = {f.name for f in dataclasses.fields(SharedSeams)}
    assert shared < {f.name for f in dataclasses.fields(A2CSeams)} and shared < {
        f.name for f in dataclasses.fields(PPOSeams)
    }
    seams = bugs.inject(PPOSeams(), {"value_sign_flip": {"dose": 1.0}})  # an A2C bug at a shared seam, unchanged
    assert seams.value_loss is not PPOSeams().value_loss and seams.clipped_surrogate is PPOSeams().clipped_surrogate


def test_an_a2c_only_bug_with_algo_ppo_is_one_line_before_any_work(tmp_path):
    with pytest.raises(ConfigError) as error:
        prepare_run(_compose("algo=ppo", "bug=sign_flip"), tmp_path / "run")
    assert "bug=sign_flip is invalid with algo=ppo: it applies to algo a2c only" in str(error.value)
    assert not (tmp_path / "run").exists()


def test_a_ppo_run_logs_its_series_and_the_checks_that_hold_for_it(tmp_path):
    summary = _run(tmp_path / "run", "algo=ppo", "total_steps=3000", "log_interval=512", "seed=1")
    assert summary["status"] == "finished" and summary["detectors"] == {}
    points = read_metrics(tmp_path / "run")
    last = points[-1]
    for key in ("ppo/clip_fraction", "ppo/approx_kl", "ppo/approx_kl_first_epoch", "ppo/ratio_std"):
        assert math.isfinite(last[key])
    rates = [p["ppo/learning_rate"] for p in points]
    assert rates == sorted(rates, reverse=True) and 0 < rates[1] < 1e-3  # annealed
    assert rates[-1] == 0.0  # 3,072 steps of a 3,000 budget: clamped at 0, not negative
    logged = set(last) & EXACT_CHECK_SERIES
    assert not logged & A2C_STEP_CHECKS, "checks of A2C's one gradient step are not PPO's"
    for key in ("value/returns_gap", "data/record_gap", "inputs/preprocess_gap", "params/function_gap"):
        assert last[key] <= 1e-4, key
    for key in PPO_CHECK_SERIES + ("grads/grad_gap",):  # PPO's own checks (rl_lab/instruments/ppo_checks.py)
        assert last[key] <= 1e-4, key
    for key in SHARED_SEAM_CHECKS:  # the same operations on the same tensors: 0, or a float32 rounding
        assert all(p[key] <= 1e-6 for p in points), key
    assert last["policy/acting_evidence"] < 5


def test_an_interrupted_ppo_run_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    # interrupted (Ctrl-C) half-way, with the same budget: the schedules anneal over the run's budget
    common = ("algo=ppo", "log_interval=512", "seed=4", "total_steps=4096")
    _run(tmp_path / "whole", *common)
    collect = PPO.collect_rollout

    def interrupted_at_half(agent):
        if agent.num_timesteps == 2048:
            raise KeyboardInterrupt
        return collect(agent)

    monkeypatch.setattr(PPO, "collect_rollout", interrupted_at_half)
    assert _run(tmp_path / "split", *common)["status"] == "interrupted"
    monkeypatch.setattr(PPO, "collect_rollout", collect)
    resume = f"resume='{tmp_path / 'split'}'"
    train(prepare_run(_compose(resume), tmp_path / "split", [resume]), tmp_path / "split")

    def numbers(run_dir):
        return [{k: v for k, v in p.items() if k != "charts/sps"} for p in read_metrics(run_dir)]

    assert numbers(tmp_path / "split") == numbers(tmp_path / "whole")


PPO_ONLY = [name for name in bugs.zoo("ppo") if bugs.algorithms_of(bugs.registry()[name]) == ("ppo",)]


@pytest.mark.parametrize("name", bugs.zoo("ppo"))
def test_each_ppo_bug_is_documented_and_changes_only_its_seam(name):
    module = bugs.registry()[name]
    for word in ("Story", "Seam", "Dose", "Symptoms"):
        assert f"{word}:" in module.__doc__ or f"{word} " in module.__doc__, f"{name} docstring lacks {word}"
    clean = PPOSeams()
    bugged = bugs.inject(clean, {name: {"dose": module.DOSE}})
    changed = {f.name for f in dataclasses.fields(PPOSeams) if getattr(bugged, f.name) is not getattr(clean, f.name)}
    assert changed == set(bugs.seams_of(module))


def test_the_ppo_zoo_spans_ppos_own_parts():
    seams = {seam for name in PPO_ONLY for seam in bugs.seams_of(bugs.registry()[name])}
    assert len(PPO_ONLY) >= 8
    assert {"probability_ratio", "clipped_surrogate", "clip_values", "normalize_advantages"} <= seams
    assert {"minibatches", "schedule"} <= seams


# with PPO's own, the bugs at the seams both algorithms share whose checks PPO runs on its minibatch steps
SHARED_SEAM_BUGS = [
    "broadcast_shape",
    "value_sign_flip",
    "value_loss_detached",
    "numerical_overflow",
    "bad_learning_rate",
]


@pytest.mark.parametrize("name", PPO_ONLY + SHARED_SEAM_BUGS)
def test_each_ppo_bug_fires_its_own_seams_check_at_the_first_log_point(tmp_path, name):
    from rl_lab.lab.diagnose import CHECK_SEAMS

    module = bugs.registry()[name]
    context = [f"{key}={value}" for key, value in bugs.context_of(module).items()]
    summary = _run(
        tmp_path / name, "algo=ppo", f"bug={name}", "total_steps=512", "log_interval=256", "seed=2", *context
    )
    own = {d for d, seam in CHECK_SEAMS.items() if seam in bugs.seams_of(module)}
    assert {d: step for d, step in summary["detectors"].items() if d in own and step == 256}, summary["detectors"]


def test_a_clean_ppo_run_with_value_clipping_raises_no_check(tmp_path):
    summary = _run(tmp_path / "run", "algo=ppo", "agent.clip_range_vf=0.2", "total_steps=1024", "log_interval=256")
    assert summary["detectors"] == {}
