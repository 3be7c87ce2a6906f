"""The bug zoo, unit level: the registry, and each bug doing exactly what it claims at its seam."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Categorical

from rl_lab import bugs
from rl_lab.agent.models import MlpActorCritic, NatureCNN
from rl_lab.agent.rollout import EnvStep, Rollout
from rl_lab.agent.seams import (
    A2CSeams,
    choose_action,
    compute_returns,
    entropy,
    log_prob,
    policy_loss,
    record_transition,
    value_loss,
)
from rl_lab.run.config import ConfigError

ZOO = bugs.registry()
REQUIRED_BUGS = {
    "off_by_one_frames",
    "shuffled_labels",
    "sign_flip",
    "missing_eval_mode",
    "forgot_zero_grad",
    "probs_as_logits",
    "unnormalized_inputs",
    "symmetric_init",
    "frozen_parameters",
    "bad_learning_rate",
    "broadcast_shape",
    "unstable_log_softmax",
    "wrong_gather_dim",
    "time_reversed_returns",
    "numerical_overflow",
    # the data path (issue 22): acting, recording, autoreset, the time-limit bootstrap
    "timeout_as_terminal",
    "terminal_bootstrapped",
    "greedy_acting",
    "reward_one_step_late",
    "obs_not_reset",
    "frame_stack_not_reset",
}


def _bugged(name: str, dose: float | None = None) -> A2CSeams:
    return bugs.inject(A2CSeams(), {name: {"dose": ZOO[name].DOSE if dose is None else dose}})


def test_the_zoo_holds_the_classic_list():
    assert REQUIRED_BUGS <= set(ZOO)


@pytest.mark.parametrize("name", bugs.zoo())
def test_each_bug_is_documented_and_changes_only_its_seam(name):
    module = ZOO[name]
    doc = module.__doc__
    for word in ("Story", "Seam", "Dose", "Symptoms"):
        assert f"{word}:" in doc or f"{word} " in doc, f"{name} docstring lacks {word}"
    clean, bugged = A2CSeams(), _bugged(name)
    changed = {f.name for f in dataclasses.fields(A2CSeams) if getattr(bugged, f.name) is not getattr(clean, f.name)}
    assert changed == set(bugs.seams_of(module)), changed


def test_no_bug_is_the_clean_agent_untouched():
    clean = A2CSeams()
    assert bugs.inject(clean, {}) is clean
    assert bugs.inject(clean, None) is clean


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sign_fip": {"dose": 1.0}}, "bug='sign_fip' is invalid: valid choices are none, "),
        ({"shuffled_labels": {"dose": 1.5}}, "bug.shuffled_labels.dose=1.5 is invalid: must lie in [0, 1]"),
        ({"sign_flip": {"dose": "high"}}, "bug.sign_flip.dose='high' is invalid: must be a finite number"),
        ({"sign_flip": {"strength": 2}}, "bug.sign_flip.strength is invalid"),
    ],
)
def test_bad_bug_configs_fail_with_the_field_and_the_choices(config, message):
    with pytest.raises(ConfigError) as error:
        bugs.validate(config)
    assert message in str(error.value)


def test_cli_lists_the_zoo_and_shows_a_card():
    listing = subprocess.run([sys.executable, "-m", "rl_lab.bugs", "list"], capture_output=True, text=True, check=True)
    lines = listing.stdout.strip().splitlines()
    builtin = {p.stem for p in bugs.BUILTIN_DIR.glob("*.py") if not p.stem.startswith("_")}
    assert {line.split()[0] for line in lines} == builtin
    assert all("seam=" in line and "dose=" in line for line in lines)
    card = subprocess.run(
        [sys.executable, "-m", "rl_lab.bugs", "show", "off_by_one_frames"], capture_output=True, text=True, check=True
    ).stdout
    assert "Elhage" in card and "training_forward" in card
    unknown = subprocess.run([sys.executable, "-m", "rl_lab.bugs", "show", "nope"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "sign_flip" in unknown.stderr


def test_a_user_bug_directory_joins_the_zoo(tmp_path):
    (tmp_path / "halved_rewards.py").write_text(
        '"""Story: rewards halved. Seam: compute_returns. Dose: none. Symptoms: smaller values."""\n'
        'import dataclasses\nSEAM = "compute_returns"\nDOSE = 1.0\nSYMPTOM = "smaller values"\n'
        "def inject(seams, dose):\n"
        "    clean = seams.compute_returns\n"
        "    def f(rewards, *rest):\n        return clean(rewards * 0.5, *rest)\n"
        "    return dataclasses.replace(seams, compute_returns=f)\n"
    )
    zoo = bugs.load([tmp_path])
    assert "halved_rewards" in zoo
    seams = bugs.inject(A2CSeams(), {"halved_rewards": {"dose": 1.0}})
    r = torch.ones(3, 2)
    returns, _ = seams.compute_returns(r, torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(2), 0.0, 1.0)
    assert torch.equal(returns, torch.full((3, 2), 0.5))


# --- each bug, exactly -------------------------------------------------------------------------


def _rollout(obs: torch.Tensor, n_actions: int = 2) -> Rollout:
    T, N = obs.shape[:2]
    zeros = torch.zeros(T, N)
    return Rollout(
        obs=obs,
        actions=torch.zeros(T, N, dtype=torch.int64),
        rewards=zeros,
        terminated=zeros,
        truncated=zeros,
        values=zeros,
        logits=torch.zeros(T, N, n_actions),
        truncation_values=zeros,
        last_value=torch.zeros(N),
        observations=list(obs.numpy()),
        env_steps=[],
    )


class InputRecorder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.clone())
        return x[:, :2] * self.w, x[:, 0] * self.w


@pytest.mark.parametrize("k", [1, 2, 3])
def test_off_by_one_frames_shifts_training_inputs_by_exactly_k_steps(k):
    T, N = 5, 3
    seams, model = _bugged("off_by_one_frames", k), InputRecorder()
    stamps = torch.arange(3 * T, dtype=torch.float32)  # global step stamp of each observation
    for r in range(3):
        obs = stamps[r * T : (r + 1) * T, None, None].expand(T, N, 2).clone()
        obs[..., 1] = torch.arange(N)  # env id
        seams.training_forward(model, _rollout(obs))
        seen = model.seen[-1].view(T, N, 2)
        expected = (torch.arange(r * T, (r + 1) * T) - k).clamp(min=0).float()
        assert torch.equal(seen[..., 0], expected[:, None].expand(T, N)), (r, seen[..., 0][:, 0])
        assert torch.equal(seen[..., 1], torch.arange(N).float().expand(T, N))  # same env, other time


def test_off_by_one_frames_zero_dose_is_clean():
    assert _bugged("off_by_one_frames", 0).training_forward is A2CSeams().training_forward


@pytest.mark.parametrize("p", [0.25, 1.0])
def test_shuffled_labels_permute_a_fraction_p_of_return_advantage_pairs(p):
    rng = torch.Generator().manual_seed(1)
    rewards, values = torch.randn(5, 8, generator=rng), torch.randn(5, 8, generator=rng)
    dones, last = (torch.rand(5, 8, generator=rng) < 0.2).float(), torch.randn(8, generator=rng)
    clean_ret, clean_adv = compute_returns(rewards, values, dones, last, 0.99, 1.0)
    ret, adv = _bugged("shuffled_labels", p).compute_returns(rewards, values, dones, last, 0.99, 1.0)
    pairs = sorted(zip(clean_ret.flatten().tolist(), clean_adv.flatten().tolist(), strict=True))
    assert sorted(zip(ret.flatten().tolist(), adv.flatten().tolist(), strict=True)) == pairs  # pairs kept
    moved = (ret != clean_ret).float().mean().item()
    assert moved <= p + 1e-9 and moved >= p - 0.1


def _grad(loss_fn, x):
    x = x.clone().requires_grad_(True)
    loss_fn(x).backward()
    return x.grad


def test_sign_flip_negates_the_policy_gradient_and_nothing_else():
    logits, actions, adv = torch.randn(6, 3), torch.randint(0, 3, (6,)), torch.randn(6)
    bugged = _bugged("sign_flip")
    g_clean = _grad(lambda z: policy_loss(log_prob(z, actions), adv), logits)
    g_bug = _grad(lambda z: bugged.policy_loss(bugged.log_prob(z, actions), adv), logits)
    torch.testing.assert_close(g_bug, -g_clean)
    assert bugged.value_loss is value_loss and bugged.entropy is entropy
    half = _bugged("sign_flip", 0.5)
    assert torch.count_nonzero(_grad(lambda z: half.policy_loss(log_prob(z, actions), adv), logits)) == 0


def test_value_and_entropy_sign_flips_negate_their_terms():
    v, r, logits = torch.randn(6), torch.randn(6), torch.randn(6, 3)
    torch.testing.assert_close(_bugged("value_sign_flip").value_loss(v, r), -value_loss(v, r))
    torch.testing.assert_close(_bugged("entropy_sign_flip").entropy(logits), -entropy(logits))


def test_missing_eval_mode_acts_in_train_mode():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    A2CSeams().acting_mode(model)
    assert not model.training
    _bugged("missing_eval_mode").acting_mode(model)
    assert model.training


def test_forgot_zero_grad_accumulates_gradients():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = torch.optim.SGD([w], lr=0.0)
    step = _bugged("forgot_zero_grad").optimizer_step
    step(opt, (w * torch.tensor([3.0, 4.0])).sum(), [w], 1e9)
    step(opt, (w * torch.tensor([3.0, 4.0])).sum(), [w], 1e9)
    assert torch.equal(w.grad, torch.tensor([6.0, 8.0]))  # the clean step would leave [3, 4]
    A2CSeams().optimizer_step(opt, (w * torch.tensor([3.0, 4.0])).sum(), [w], 1e9)
    assert torch.equal(w.grad, torch.tensor([3.0, 4.0]))


def test_probs_as_logits_feeds_softmax_outputs_as_logits():
    logits, actions = torch.randn(5, 4) * 3, torch.randint(0, 4, (5,))
    bugged = _bugged("probs_as_logits")
    torch.testing.assert_close(
        bugged.log_prob(logits, actions), Categorical(logits=logits.softmax(-1)).log_prob(actions)
    )
    assert (bugged.entropy(logits) > entropy(logits)).all()  # squashed towards uniform


def test_unnormalized_inputs_skip_the_scaling():
    pixels = np.full((2, 4, 84, 84), 255, dtype=np.uint8)
    assert A2CSeams().preprocess(pixels).max() == 1.0
    assert _bugged("unnormalized_inputs").preprocess(pixels).max() == 255.0
    vector = np.ones((2, 4), dtype=np.float32)
    assert _bugged("unnormalized_inputs").preprocess(vector).max() == 255.0


def _spaces(image: bool):
    if image:
        return gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), gym.spaces.Discrete(6)
    return gym.spaces.Box(-1, 1, (4,), np.float32), gym.spaces.Discrete(2)


def test_symmetric_init_makes_every_unit_identical():
    model = _bugged("symmetric_init").build_model(MlpActorCritic, *_spaces(False))
    for name, p in model.named_parameters():
        assert torch.all(p == (0.01 if name.endswith("weight") else 0.0)), name


@pytest.mark.parametrize(("factory", "image"), [(NatureCNN, True), (MlpActorCritic, False)])
def test_frozen_parameters_freeze_the_first_layers_and_leave_the_heads(factory, image):
    model = _bugged("frozen_parameters").build_model(factory, *_spaces(image))
    layers = [m for m in model.modules() if list(m.parameters(recurse=False))]
    frozen = [not any(p.requires_grad for p in m.parameters()) for m in layers]
    assert sum(frozen) == int(0.75 * len(layers)) and frozen == sorted(frozen, reverse=True)
    assert model.value_head.weight.requires_grad


@pytest.mark.parametrize("dose", [0.0, 100.0])
def test_bad_learning_rate_scales_every_step(dose):
    deltas = []
    for seams in (A2CSeams(), _bugged("bad_learning_rate", dose)):
        w = torch.nn.Parameter(torch.tensor([1.0]))
        opt = torch.optim.SGD([w], lr=0.01)
        for _ in range(2):
            seams.optimizer_step(opt, (3 * w).sum(), [w], 1e9)
        deltas.append(1.0 - w.item())
    assert deltas[1] == pytest.approx(dose * deltas[0])


def test_broadcast_shape_compares_every_value_with_every_return():
    v, r = torch.randn(4), torch.randn(4)
    expected = ((r[None, :] - v[:, None]) ** 2).mean()
    torch.testing.assert_close(_bugged("broadcast_shape").value_loss(v, r), expected)


def test_unstable_log_softmax_matches_until_a_probability_underflows():
    actions = torch.tensor([0, 1])
    bugged = _bugged("unstable_log_softmax", 1.0)
    moderate = torch.tensor([[1.0, 2.0], [0.5, -1.0]])
    torch.testing.assert_close(bugged.log_prob(moderate, actions), log_prob(moderate, actions))
    extreme = torch.tensor([[0.0, 200.0], [0.0, 1.0]])
    assert torch.isinf(bugged.log_prob(extreme, actions)[0]) and torch.isfinite(log_prob(extreme, actions)).all()


def test_wrong_gather_dim_reads_action_zero_at_the_observation_numbered_by_the_action():
    logits, actions = torch.randn(2, 3, 4), torch.tensor([[1, 0, 2], [3, 1, 0]])
    out = _bugged("wrong_gather_dim").log_prob(logits, actions)
    flat = logits.reshape(-1, 4).log_softmax(-1)
    torch.testing.assert_close(out.flatten(), flat[actions.flatten(), 0])


def test_time_reversed_returns_credit_the_past():
    rewards = torch.zeros(4, 1)
    rewards[0] = 1.0  # reward at the first step only
    zeros = torch.zeros(4, 1)
    clean, _ = compute_returns(rewards, zeros, zeros, torch.zeros(1), 0.5, 1.0)
    bugged, _ = _bugged("time_reversed_returns").compute_returns(rewards, zeros, zeros, torch.zeros(1), 0.5, 1.0)
    assert clean.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    assert bugged.flatten().tolist() == [1.0, 0.5, 0.25, 0.125]


def test_numerical_overflow_is_fine_for_small_logits_and_breaks_for_large():
    bugged = _bugged("numerical_overflow", 1.0)
    small = torch.tensor([[0.1, -0.3, 0.2]])
    torch.testing.assert_close(bugged.entropy(small), entropy(small), rtol=1e-3, atol=1e-3)
    assert not torch.isfinite(bugged.entropy(torch.tensor([[12.0, 0.0, 0.0]]))).all()
    assert torch.isfinite(entropy(torch.tensor([[12.0, 0.0, 0.0]]))).all()


# --- the data path: an env step whose every field is known -------------------------------------


def _env_step(reward, terminated, truncated, obs=None, final_obs=None) -> EnvStep:
    """A step of 3 envs; observations are (3, 2) arrays whose entries say which env and which
    observation (1x: returned, 9x: final)."""
    ended = np.logical_or(terminated, truncated)
    obs = np.arange(3, dtype=np.float32)[:, None] * np.ones(2, np.float32) + 10 if obs is None else obs
    final_obs = (
        90 + np.arange(3, dtype=np.float32)[:, None] * np.ones(2, np.float32) if final_obs is None else final_obs
    )
    info = {"final_obs": np.array([final_obs[i] if e else None for i, e in enumerate(ended)], dtype=object)}
    return EnvStep(obs, np.asarray(reward, np.float32), np.asarray(terminated), np.asarray(truncated), info)


def _value_of(obs: np.ndarray) -> torch.Tensor:  # a critic that reads the observation's first entry
    return torch.as_tensor(np.asarray(obs)[:, 0], dtype=torch.float32)


STEP = _env_step([1.0, 2.0, 3.0], [True, False, False], [False, True, False])  # env 0 ends, env 1 is cut


def test_the_clean_record_bootstraps_only_the_time_limit_end():
    recorded = record_transition(STEP, _value_of)
    assert recorded.truncation_value.tolist() == [0.0, 91.0, 0.0]  # V(env 1's final observation)
    assert recorded.terminated.tolist() == [1.0, 0.0, 0.0] and recorded.truncated.tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize(
    ("dose", "bootstrap", "terminated"), [(1.0, 0.0, [1.0, 1.0, 0.0]), (0.5, 45.5, [1.0, 0.0, 0.0])]
)
def test_timeout_as_terminal_drops_the_bootstrap_of_a_time_limit_end(dose, bootstrap, terminated):
    recorded = _bugged("timeout_as_terminal", dose).record_transition(STEP, _value_of)
    assert recorded.truncation_value.tolist() == [0.0, bootstrap, 0.0]
    assert recorded.terminated.tolist() == terminated
    assert recorded.reward.tolist() == [1.0, 2.0, 3.0]


def test_terminal_bootstrapped_adds_the_value_of_the_state_an_episode_ended_in():
    recorded = _bugged("terminal_bootstrapped").record_transition(STEP, _value_of)
    assert recorded.truncation_value.tolist() == [90.0, 91.0, 0.0]
    assert recorded.terminated.tolist() == [0.0, 0.0, 0.0] and recorded.truncated.tolist() == [1.0, 1.0, 0.0]
    half = _bugged("terminal_bootstrapped", 0.5).record_transition(STEP, _value_of)
    assert half.truncation_value.tolist() == [45.0, 91.0, 0.0] and half.terminated.tolist() == [1.0, 0.0, 0.0]


def test_greedy_acting_takes_the_argmax_with_probability_dose():
    logits = torch.tensor([[0.0, 1.0, 0.5]]).repeat(4000, 1)
    assert torch.equal(_bugged("greedy_acting").choose_action(logits), torch.ones(4000, dtype=torch.int64))
    torch.manual_seed(3)
    clean = choose_action(logits)
    torch.manual_seed(3)
    assert torch.equal(_bugged("greedy_acting", 0.0).choose_action(logits), clean)
    share = (_bugged("greedy_acting", 0.5).choose_action(logits) == 1).float().mean().item()
    p_best = torch.softmax(logits[0], 0)[1].item()
    assert abs(share - (0.5 + 0.5 * p_best)) < 0.03  # greedy half the time, sampled otherwise


@pytest.mark.parametrize("lag", [1, 2])
def test_reward_one_step_late_records_each_reward_lag_steps_later_and_resumes(lag):
    seams = _bugged("reward_one_step_late", lag)
    steps = [_env_step([t, 10 * t, 100 * t], [False] * 3, [False] * 3) for t in range(1, 6)]
    recorded = [seams.record_transition(step, _value_of).reward.tolist() for step in steps[:3]]
    state = seams.record_transition.state_dict()
    resumed = _bugged("reward_one_step_late", lag)
    resumed.record_transition.load_state_dict(state)
    recorded += [resumed.record_transition(step, _value_of).reward.tolist() for step in steps[3:]]
    expected = [[0.0] * 3] * lag + [[t, 10 * t, 100 * t] for t in range(1, 6 - lag)]
    assert recorded == expected


def test_obs_not_reset_acts_on_the_final_observation_where_an_episode_ended():
    obs = _bugged("obs_not_reset").next_observation(None, STEP)
    assert obs[:, 0].tolist() == [90.0, 91.0, 12.0]  # envs 0 and 1 ended: their final observations
    assert _bugged("obs_not_reset").next_observation(None, _env_step([0] * 3, [False] * 3, [False] * 3)) is not None


def test_frame_stack_not_reset_keeps_the_last_episodes_frames_after_a_reset():
    seams = _bugged("frame_stack_not_reset")
    stack = np.arange(2 * 4, dtype=np.uint8).reshape(2, 4, 1, 1)  # env i's frames: 4i .. 4i+3, oldest first
    moved = np.concatenate([stack[:, 1:], np.full((2, 1, 1, 1), 50, np.uint8)], axis=1)  # both envs: frame 50
    moved[0] = np.array([0, 0, 0, 60]).reshape(4, 1, 1)  # env 0 was reset: the env's fresh stack
    step = EnvStep(moved, np.zeros(2), np.array([True, False]), np.zeros(2, bool), {})
    acted = seams.next_observation(stack, step)
    assert acted[0].ravel().tolist() == [1, 2, 3, 60]  # the previous episode's frames before the new one
    assert np.array_equal(acted[1], moved[1])  # no reset: the env's stack
    resumed = _bugged("frame_stack_not_reset")
    resumed.next_observation.load_state_dict(seams.next_observation.state_dict())
    assert np.array_equal(resumed.next_observation.frames, acted)


def test_a_bug_for_some_envs_is_refused_on_others_and_left_out_of_their_atlas():
    with pytest.raises(
        ConfigError, match="bug=frame_stack_not_reset is invalid with env=catch: it applies to env pong"
    ):
        bugs.validate({"frame_stack_not_reset": {"dose": 1.0}}, "catch")
    assert bugs.validate({"frame_stack_not_reset": {"dose": 1.0}}, "pong") == {"frame_stack_not_reset": 1.0}
    from omegaconf import OmegaConf

    from rl_lab.lab.atlas import multiruns

    tier = OmegaConf.create(
        {
            "algo": "a2c",
            "envs": ["cartpole", "pong"],
            "total_steps": 100,
            "seeds": [0],
            "clean_seeds": [0],
            "overrides": [],
            "bugs": ["frame_stack_not_reset", "timeout_as_terminal", "sign_flip"],
            "doses": {},
        }
    )
    zoo = {run[0]: run[2:] for part, run in multiruns(tier) if part == "zoo"}
    assert zoo["bug=sign_flip,none"][:1] == ["env=cartpole,pong"]
    assert zoo["bug=frame_stack_not_reset,none"][:1] == ["env=pong"]
    assert zoo["bug=timeout_as_terminal,none"][:2] == ["env=cartpole", "env.max_episode_steps=100"]


def test_bug_none_is_the_clean_agent_bit_for_bit(tmp_path, monkeypatch):
    from test_train import settings_for

    from rl_lab.run import training as train_module
    from rl_lab.run.runlog import read_metrics

    def strip(run):
        return [{k: v for k, v in p.items() if k != "charts/sps"} for p in read_metrics(run)]

    train_module.train(settings_for("total_steps=2000", "log_interval=400", "bug=none"), tmp_path / "zoo")
    train_module.train(
        settings_for("total_steps=2000", "log_interval=400", "bug=shuffled_labels", "bug.shuffled_labels.dose=0"),
        tmp_path / "dose0",
    )
    monkeypatch.setattr(train_module.bugs, "inject", lambda seams, config: seams)  # no bug machinery at all
    train_module.train(settings_for("total_steps=2000", "log_interval=400"), tmp_path / "bare")
    assert strip(tmp_path / "zoo") == strip(tmp_path / "bare") == strip(tmp_path / "dose0")


def test_the_off_by_one_card_cites_elhages_post_by_its_title():
    seed = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "elhage-2020-systems-that-defy-understanding.txt"
    if not seed.exists():
        pytest.skip(f"the seed text is not beside this checkout ({seed})")
    text = seed.read_text()
    title = text.split("\u201c", 1)[1].split("\u00a7", 1)[0].strip()
    card = " ".join(bugs.registry()["off_by_one_frames"].__doc__.split())
    assert f'"{title}"' in card
    quoted = card.split('"I had an', 1)[1].split('"', 1)[0].rstrip(".")  # the card quotes the post's words
    assert "I had an" + quoted in " ".join(text.replace("\u2014", "--").split())


def _value_and_output_gradients(seams: A2CSeams) -> tuple[float, torch.Tensor, torch.Tensor]:
    """One update's loss through ``seams`` on fixed outputs: its value and its gradient at the outputs."""
    torch.manual_seed(0)
    logits, values = torch.randn(5, 4, 3, requires_grad=True), torch.randn(5, 4, requires_grad=True)
    actions, returns, advantages = torch.randint(3, (5, 4)), torch.randn(5, 4), torch.randn(5, 4)
    rollout = SimpleNamespace(actions=actions, obs=torch.zeros(5, 4, 1))
    kept_logits, kept_values = seams.training_forward(_Fixed(logits.view(20, 3), values.view(20)), rollout)
    loss = seams.policy_loss(seams.log_prob(kept_logits, actions), advantages) + seams.value_loss(kept_values, returns)
    loss.backward()
    return loss.item(), logits.grad, values.grad


class _Fixed:
    """A stand-in network for training_forward: returns fixed outputs."""

    def __init__(self, logits: torch.Tensor, values: torch.Tensor):
        self.outputs = (logits, values)

    def train(self) -> None:
        pass

    def __call__(self, _obs):
        return self.outputs


@pytest.mark.parametrize(("bug", "changed"), [("advantages_not_detached", "values"), ("value_loss_detached", "values")])
def test_a_detach_bug_keeps_the_losss_value_and_changes_its_gradient_at_the_values(bug, changed):
    clean_value, clean_logit_grad, clean_value_grad = _value_and_output_gradients(A2CSeams())
    value, logit_grad, value_grad = _value_and_output_gradients(_bugged(bug))
    assert value == clean_value and torch.equal(logit_grad, clean_logit_grad)
    assert not torch.allclose(value_grad, clean_value_grad)
    if bug == "value_loss_detached":
        assert torch.equal(value_grad, torch.zeros_like(value_grad))  # dose 1: no gradient reaches the critic


@pytest.mark.parametrize(("factory", "image"), [(NatureCNN, True), (MlpActorCritic, False)])
def test_activation_swapped_keeps_the_parameters_and_changes_the_function(factory, image):
    space = gym.spaces.Box(0, 255, (1, 40, 40), np.uint8) if image else gym.spaces.Box(-1, 1, (4,))
    torch.manual_seed(0)
    clean = factory(space, gym.spaces.Discrete(3))
    torch.manual_seed(0)
    bugged = _bugged("activation_swapped").build_model(factory, space, gym.spaces.Discrete(3))
    assert {k: v.shape for k, v in clean.state_dict().items()} == {k: v.shape for k, v in bugged.state_dict().items()}
    assert all(
        torch.equal(a, b) for a, b in zip(clean.state_dict().values(), bugged.state_dict().values(), strict=True)
    )
    obs = torch.rand(8, *space.shape)
    assert not torch.allclose(clean(obs)[0], bugged(obs)[0])


def test_epsilon_exploration_takes_a_uniform_action_with_probability_dose():
    logits = torch.tensor([[0.0, 20.0, 0.0]]).repeat(6000, 1)  # the policy all but always takes action 1
    share = (_bugged("epsilon_exploration", 0.3).choose_action(logits) != 1).float().mean().item()
    assert abs(share - 0.3 * 2 / 3) < 0.03  # uniform 30% of the time, then another action 2 times in 3
    assert torch.equal(_bugged("epsilon_exploration", 0.0).choose_action(logits), torch.ones(6000, dtype=torch.int64))


def test_previous_step_policy_samples_from_the_last_calls_logits_and_resumes():
    first, second = torch.tensor([[30.0, 0.0]] * 500), torch.tensor([[0.0, 30.0]] * 500)
    choose = _bugged("previous_step_policy").choose_action
    assert torch.equal(choose(first), torch.zeros(500, dtype=torch.int64))  # the first call: its own logits
    assert torch.equal(choose(second), torch.zeros(500, dtype=torch.int64))  # then the previous call's
    resumed = _bugged("previous_step_policy").choose_action
    resumed.load_state_dict(choose.state_dict())
    assert torch.equal(resumed(first), torch.ones(500, dtype=torch.int64))
