"""stable-baselines3 as the reference: build its A2C or PPO from an rl-lab config and
move weights and rollouts between the two, for the parity tests, the
throughput benchmark and the known-result comparison.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import A2C as SB3A2C
from stable_baselines3 import PPO as SB3PPO
from stable_baselines3.common.logger import configure
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv
from torch import nn

from rl_lab.agent.models import MlpActorCritic, NatureCNN
from rl_lab.agent.rollout import Rollout
from rl_lab.agent.seams import schedule
from rl_lab.run.config import AgentConfig, PPOConfig


class _SpacesOnly(gym.Env):
    """SB3 needs an env to build an algorithm; only its spaces are used when rollouts are loaded by hand."""

    def __init__(self, obs_space: gym.Space, n_actions: int):
        self.observation_space, self.action_space = obs_space, gym.spaces.Discrete(n_actions)

    def reset(self, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def spaces_only_envs(obs_space: gym.Space, n_actions: int, n_envs: int) -> DummyVecEnv:
    """A vector env with these spaces for SB3 to build on; the caller loads its rollouts (``load_rollout_into_sb3``)."""
    return DummyVecEnv([lambda: _SpacesOnly(obs_space, n_actions)] * n_envs)


def sb3_a2c(env: VecEnv, hp: AgentConfig, policy: str, seed: int, optimizer: str) -> SB3A2C:
    """SB3's A2C with rl-lab's hyperparameters; ``optimizer`` is ``rmsprop_tf_like`` (zoo Atari) or ``rmsprop``."""
    policy_kwargs: dict = {}
    if optimizer == "rmsprop_tf_like":
        from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike

        policy_kwargs = {"optimizer_class": RMSpropTFLike, "optimizer_kwargs": {"eps": 1e-5}}
    elif optimizer != "rmsprop":
        raise ValueError(f"optimizer={optimizer!r}: valid choices are rmsprop, rmsprop_tf_like")
    model = SB3A2C(
        policy,
        env,
        learning_rate=hp.lr,
        n_steps=hp.n_steps,
        gamma=hp.gamma,
        gae_lambda=hp.gae_lambda,
        ent_coef=hp.ent_coef,
        vf_coef=hp.vf_coef,
        max_grad_norm=hp.max_grad_norm,
        policy_kwargs=policy_kwargs,
        seed=seed,
        device="cpu",
    )
    model.set_logger(configure(None, [""]))
    return model


def sb3_ppo(env: VecEnv, hp: PPOConfig, policy: str, seed: int) -> SB3PPO:
    """SB3's PPO with rl-lab's hyperparameters (its default optimizer, Adam with eps 1e-5), the
    schedules as rl-lab's ``schedule`` seam reads them at SB3's progress remaining."""
    model = SB3PPO(
        policy,
        env,
        learning_rate=lambda progress: schedule(hp.lr, progress, hp.lr_schedule),
        n_steps=hp.n_steps,
        batch_size=hp.batch_size,
        n_epochs=hp.n_epochs,
        gamma=hp.gamma,
        gae_lambda=hp.gae_lambda,
        clip_range=lambda progress: schedule(hp.clip_range, progress, hp.clip_range_schedule),
        clip_range_vf=hp.clip_range_vf,
        normalize_advantage=hp.normalize_advantage,
        ent_coef=hp.ent_coef,
        vf_coef=hp.vf_coef,
        max_grad_norm=hp.max_grad_norm,
        seed=seed,
        device="cpu",
    )
    model.set_logger(configure(None, [""]))
    return model


def parameter_pairs(sb3_policy: nn.Module, model: nn.Module) -> list[tuple[nn.Parameter, nn.Parameter]]:
    """(SB3 parameter, rl-lab parameter) for every parameter of the rl-lab model."""
    if isinstance(model, NatureCNN):
        cnn, linear = sb3_policy.features_extractor.cnn, sb3_policy.features_extractor.linear
        sb3_layers = [cnn[0], cnn[2], cnn[4], linear[0]]
        ours = [m for m in model.body if isinstance(m, nn.Conv2d | nn.Linear)]
    elif isinstance(model, MlpActorCritic):
        sb3_layers = [m for m in sb3_policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)]
        sb3_layers += [m for m in sb3_policy.mlp_extractor.value_net if isinstance(m, nn.Linear)]
        ours = [m for m in model.policy_body if isinstance(m, nn.Linear)]
        ours += [m for m in model.value_body if isinstance(m, nn.Linear)]
    else:
        raise TypeError(f"no SB3 counterpart for {type(model).__name__}")
    sb3_layers += [sb3_policy.action_net, sb3_policy.value_net]
    ours += [model.policy_head, model.value_head]
    pairs = []
    for theirs, mine in zip(sb3_layers, ours, strict=True):
        pairs += [(theirs.weight, mine.weight), (theirs.bias, mine.bias)]
    assert len(pairs) == len(list(model.parameters()))
    return pairs


def copy_weights_to_sb3(model: nn.Module, sb3_policy: nn.Module) -> None:
    with torch.no_grad():
        for theirs, mine in parameter_pairs(sb3_policy, model):
            theirs.copy_(mine)


def load_rollout_into_sb3(
    sb3: OnPolicyAlgorithm, rollout: Rollout, obs: np.ndarray, last_obs: np.ndarray, episode_starts: np.ndarray
) -> None:
    """Fill SB3's rollout buffer with the same transitions and compute its returns.

    ``obs`` are the raw observations ``(T, N, ...)``, ``last_obs`` the ones after
    the last step; ``episode_starts`` ``(N,)`` flags the envs whose episode began
    at the rollout's first step. Values and log-probs come from SB3's own policy,
    so they are compared, not copied. Rewards carry the truncation bootstrap, as
    SB3's ``collect_rollouts`` adds it.
    """
    buffer, policy = sb3.rollout_buffer, sb3.policy
    buffer.reset()
    policy.set_training_mode(False)
    rewards = (rollout.rewards + sb3.gamma * rollout.truncation_values).numpy()
    dones = rollout.dones.numpy()
    for t in range(rollout.actions.shape[0]):
        obs_t, _ = policy.obs_to_tensor(obs[t])
        with torch.no_grad():
            values, log_probs, _ = policy.evaluate_actions(obs_t, rollout.actions[t])
        buffer.add(obs[t], rollout.actions[t].numpy()[:, None], rewards[t], episode_starts, values, log_probs)
        episode_starts = dones[t]
    with torch.no_grad():
        last_values = policy.predict_values(policy.obs_to_tensor(last_obs)[0])
    buffer.compute_returns_and_advantage(last_values=last_values, dones=dones[-1])
