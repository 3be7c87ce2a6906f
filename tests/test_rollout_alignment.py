"""The clean rollout has no misalignment: the action stored at step t was chosen
from the observation stored at t, its reward and episode end are the ones that
action produced, and autoreset transitions are handled (SAME_STEP mode)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_lab.agent.a2c import A2C
from rl_lab.agent.seams import A2CSeams
from rl_lab.run.config import AgentConfig

N_ACTIONS = 3


class ObservationReader(nn.Module):
    """A 'policy' that picks action (env id + step stamp) mod 3 from the observation, almost surely,
    and whose value is a known function of the observation."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, obs):
        chosen = (obs[:, 0] + obs[:, 1]).round().long() % N_ACTIONS
        logits = 60.0 * nn.functional.one_hot(chosen, N_ACTIONS).float() * self.scale
        return logits, self.scale * (obs[:, 1] + 0.5 * obs[:, 2])


def _expected_action(obs: np.ndarray) -> np.ndarray:
    return (np.round(obs[:, 0] + obs[:, 1]).astype(np.int64)) % N_ACTIONS


def test_rollout_pairs_each_action_with_its_observation_reward_and_end(scripted_env):
    space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    env = scripted_env(6, space, N_ACTIONS, seed=4, p_term=0.2, p_trunc=0.2, encode=True)
    hp = AgentConfig(n_envs=6, n_steps=7)
    model = ObservationReader()
    agent = A2C(env, model, torch.optim.SGD(model.parameters(), lr=0.0), hp, A2CSeams(), obs=env.reset()[0])

    rollouts = [agent.collect_rollout() for _ in range(3)]  # crosses rollout boundaries too
    emitted, received = np.stack(env.emitted), np.stack(env.received)
    for k, rollout in enumerate(rollouts):
        for t in range(hp.n_steps):
            s = k * hp.n_steps + t  # global step index
            obs_t = emitted[s]
            np.testing.assert_array_equal(rollout.obs[t].numpy(), obs_t)
            np.testing.assert_array_equal(rollout.actions[t].numpy(), _expected_action(obs_t))
            np.testing.assert_array_equal(received[s], rollout.actions[t].numpy())
            step = env.transitions[s]
            np.testing.assert_array_equal(rollout.rewards[t].numpy(), step["rewards"])
            np.testing.assert_array_equal(rollout.terminated[t].numpy(), step["terminated"])
            np.testing.assert_array_equal(rollout.truncated[t].numpy(), step["truncated"])
            np.testing.assert_allclose(rollout.values[t].detach().numpy(), obs_t[:, 1] + 0.5 * obs_t[:, 2], rtol=1e-6)
            # time-limit ends bootstrap from the final observation, terminations do not
            cut = step["truncated"] & ~step["terminated"]
            final = step["final_obs"]
            expected = np.where(cut, final[:, 1] + 0.5 * final[:, 2], 0.0)
            np.testing.assert_allclose(rollout.truncation_values[t].numpy(), expected, rtol=1e-6)
            # after an episode end the next stored observation is the new episode's first, not the final one
            done = step["terminated"] | step["truncated"]
            nxt = emitted[s + 1]
            if done.any():
                assert not np.allclose(nxt[done], final[done])
            np.testing.assert_array_equal(nxt[~done], final[~done])
        last = emitted[(k + 1) * hp.n_steps]
        np.testing.assert_allclose(rollout.last_value.numpy(), last[:, 1] + 0.5 * last[:, 2], rtol=1e-6)
    assert sum(r.dones.sum().item() for r in rollouts) > 5


def test_episode_statistics_sum_the_rewards_of_each_episode(scripted_env):
    space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    env = scripted_env(4, space, N_ACTIONS, seed=2, p_term=0.15, p_trunc=0.05)
    model = ObservationReader()
    hp = AgentConfig(n_envs=4, n_steps=5)
    agent = A2C(env, model, torch.optim.SGD(model.parameters(), lr=0.0), hp, A2CSeams(), obs=env.reset()[0])
    for _ in range(8):
        agent.collect_rollout()
    expected, running, length = [], np.zeros(4), np.zeros(4, dtype=int)
    for step in env.transitions:
        running += step["rewards"]
        length += 1
        for i in np.flatnonzero(step["terminated"] | step["truncated"]):
            expected.append((running[i], length[i]))
            running[i], length[i] = 0.0, 0
    finished = agent.episodes.drain()
    assert len(finished) == len(expected) > 0
    for (ret, n), (exp_ret, exp_n) in zip(finished, expected, strict=True):
        assert n == exp_n and abs(ret - exp_ret) < 1e-5
    assert agent.episodes.drain() == []


def test_the_data_path_goes_through_its_seams(scripted_env):
    """choose_action, record_transition and next_observation are what the loop uses: replacing
    each changes exactly its part (the episode statistics keep counting what the env returned)."""
    import dataclasses

    from rl_lab.agent import seams as clean

    space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    env = scripted_env(4, space, N_ACTIONS, seed=3, p_term=0.2, p_trunc=0.2, encode=True)

    def doubled(step, value_of):
        recorded = clean.record_transition(step, value_of)
        return dataclasses.replace(recorded, reward=2 * recorded.reward)

    def stale(obs, step):  # the autoreset mix-up: the finished episode's last observation is kept
        nxt = step.obs.copy()
        for i in np.flatnonzero(step.terminated | step.truncated):
            nxt[i] = step.info["final_obs"][i]
        return nxt

    seams = dataclasses.replace(
        A2CSeams(), choose_action=lambda logits: torch.zeros(len(logits), dtype=torch.int64), record_transition=doubled,
        next_observation=stale,
    )  # fmt: skip
    model = ObservationReader()
    hp = AgentConfig(n_envs=4, n_steps=6)
    agent = A2C(env, model, torch.optim.SGD(model.parameters(), lr=0.0), hp, seams, obs=env.reset()[0])
    rollout = agent.collect_rollout()
    assert (np.stack(env.received) == 0).all()
    rewards = np.stack([s["rewards"] for s in env.transitions])
    np.testing.assert_array_equal(rollout.rewards.numpy(), 2 * rewards)
    ended = [
        (t, i) for t, s in enumerate(env.transitions[:-1]) for i in np.flatnonzero(s["terminated"] | s["truncated"])
    ]
    assert ended
    for t, i in ended:  # the next stored observation is the final one, not the new episode's first
        np.testing.assert_array_equal(rollout.obs[t + 1, i].numpy(), env.transitions[t]["final_obs"][i])
    expected, running = [], np.zeros(4)  # the episode statistics: the env's rewards, not the recorded ones
    for step in env.transitions:
        running += step["rewards"]
        for i in np.flatnonzero(step["terminated"] | step["truncated"]):
            expected.append(running[i])
            running[i] = 0.0
    np.testing.assert_allclose([ret for ret, _ in agent.episodes.drain()], expected, rtol=1e-6)
