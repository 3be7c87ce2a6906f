"""rl-lab's update is stable-baselines3's A2C update, number for number.

From identical weights and an identical rollout (observations, actions,
rewards, terminations, truncations, last observation), one update of each
gives the same losses, gradients and new parameters; so do 10 in a row.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike

from rl_lab.agent.a2c import A2C
from rl_lab.agent.models import MlpActorCritic, NatureCNN
from rl_lab.agent.reference import (
    copy_weights_to_sb3,
    load_rollout_into_sb3,
    parameter_pairs,
    sb3_a2c,
    spaces_only_envs,
)
from rl_lab.agent.seams import A2CSeams, compute_returns
from rl_lab.run.config import AgentConfig

# float32 scale: convolutions (channels_last vs SB3's layout) and reductions summed in another order
# differ in the last bits; values are O(1), so 1e-6 absolute is a few float32 ulps.
RTOL, ATOL = 1e-5, 1e-6


CASES = {
    # zoo Atari: NatureCNN, RMSpropTFLike, 16 envs, ent 0.01, vf 0.25
    "atari": dict(
        obs_space=gym.spaces.Box(0, 255, (4, 84, 84), np.uint8),
        n_actions=6,
        hp=AgentConfig(n_envs=16, ent_coef=0.01, vf_coef=0.25),
        model=NatureCNN,
        policy="CnnPolicy",
        optimizer="rmsprop_tf_like",
    ),
    # zoo CartPole: separate 64-64 tanh MLPs, torch RMSprop, 8 envs, ent 0, vf 0.5
    "cartpole": dict(
        obs_space=gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
        n_actions=2,
        hp=AgentConfig(n_envs=8, ent_coef=0.0, vf_coef=0.5),
        model=MlpActorCritic,
        policy="MlpPolicy",
        optimizer="rmsprop",
    ),
}


def _make_optimizer(kind: str, params, lr: float) -> torch.optim.Optimizer:
    if kind == "rmsprop_tf_like":
        return RMSpropTFLike(params, lr=lr, alpha=0.99, eps=1e-5)
    return torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-5)


def _pair(case: str, scripted_env):
    c = CASES[case]
    hp = c["hp"]
    env = scripted_env(hp.n_envs, c["obs_space"], c["n_actions"], seed=1, p_term=0.15, p_trunc=0.1)
    model = c["model"](c["obs_space"], env.single_action_space)
    agent = A2C(
        env, model, _make_optimizer(c["optimizer"], model.parameters(), hp.lr), hp, A2CSeams(), obs=env.reset()[0]
    )
    vec = spaces_only_envs(c["obs_space"], c["n_actions"], hp.n_envs)
    sb3 = sb3_a2c(vec, hp, c["policy"], seed=0, optimizer=c["optimizer"])
    copy_weights_to_sb3(model, sb3.policy)
    return agent, sb3, env


def _one_update_each(agent: A2C, sb3, env, episode_starts: np.ndarray):
    first = len(env.emitted) - 1
    rollout = agent.collect_rollout()
    obs = np.stack(env.emitted[first : first + agent.hp.n_steps])
    load_rollout_into_sb3(sb3, rollout, obs, agent.obs, episode_starts)
    sb3_returns = torch.as_tensor(sb3.rollout_buffer.returns.copy())
    sb3_advantages = torch.as_tensor(sb3.rollout_buffer.advantages.copy())
    sb3.train()
    stats = agent.update(rollout)
    return rollout, stats, sb3_returns, sb3_advantages


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_update_matches_sb3(case, scripted_env):
    agent, sb3, env = _pair(case, scripted_env)
    rollout, stats, sb3_returns, sb3_advantages = _one_update_each(agent, sb3, env, np.ones(agent.hp.n_envs))
    assert rollout.dones.sum() > 0 and rollout.truncation_values.abs().sum() > 0, "batch must hold ends and timeouts"

    logged = sb3.logger.name_to_value
    torch.testing.assert_close(stats["returns"], sb3_returns, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(stats["advantages"], sb3_advantages, rtol=RTOL, atol=ATOL)
    assert stats["policy_loss"].item() == pytest.approx(logged["train/policy_loss"], rel=RTOL, abs=ATOL)
    assert stats["value_loss"].item() == pytest.approx(logged["train/value_loss"], rel=RTOL, abs=ATOL)
    assert -stats["entropy"].item() == pytest.approx(logged["train/entropy_loss"], rel=RTOL, abs=ATOL)
    for theirs, mine in parameter_pairs(sb3.policy, agent.model):
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(mine, theirs, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", sorted(CASES))
def test_ten_consecutive_updates_match_sb3(case, scripted_env):
    agent, sb3, env = _pair(case, scripted_env)
    episode_starts = np.ones(agent.hp.n_envs)
    for _ in range(10):
        rollout, stats, *_ = _one_update_each(agent, sb3, env, episode_starts)
        episode_starts = rollout.dones[-1].numpy()
        assert stats["value_loss"].item() == pytest.approx(
            sb3.logger.name_to_value["train/value_loss"], rel=1e-4, abs=ATOL
        )
    moved = 0.0
    for theirs, mine in parameter_pairs(sb3.policy, agent.model):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)
        moved += (mine.detach() != 0).sum().item()
    assert moved > 0


def test_returns_and_advantages_match_sb3_rollout_buffer():
    """Random batch with terminations and timeouts (bootstrapped through rewards), gae_lambda < 1 too."""
    rng = np.random.default_rng(3)
    T, N = 7, 5
    for gae_lambda in (1.0, 0.95):
        buffer = RolloutBuffer(
            T, gym.spaces.Box(-1, 1, (1,)), gym.spaces.Discrete(2), gamma=0.99, gae_lambda=gae_lambda, n_envs=N
        )
        rewards = rng.standard_normal((T, N)).astype(np.float32)
        values = rng.standard_normal((T, N)).astype(np.float32)
        dones = (rng.random((T, N)) < 0.3).astype(np.float32)
        timeout_values = np.where(rng.random((T, N)) < 0.5, rng.standard_normal((T, N)), 0).astype(np.float32)
        rewards = rewards + 0.99 * timeout_values * dones
        last_value = rng.standard_normal(N).astype(np.float32)
        starts = np.ones(N, dtype=np.float32)
        for t in range(T):
            buffer.add(
                np.zeros((N, 1)), np.zeros((N, 1)), rewards[t], starts, torch.as_tensor(values[t]), torch.zeros(N)
            )
            starts = dones[t]
        buffer.compute_returns_and_advantage(torch.as_tensor(last_value), dones[-1])
        returns, advantages = compute_returns(
            torch.as_tensor(rewards),
            torch.as_tensor(values),
            torch.as_tensor(dones),
            torch.as_tensor(last_value),
            0.99,
            gae_lambda,
        )
        torch.testing.assert_close(returns, torch.as_tensor(buffer.returns), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(advantages, torch.as_tensor(buffer.advantages), rtol=1e-6, atol=1e-6)
