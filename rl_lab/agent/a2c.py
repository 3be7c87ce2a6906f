"""Advantage actor-critic (A2C), numerically the algorithm of stable-baselines3's ``A2C``.

Read top to bottom: one rollout of ``n_steps`` steps in ``n_envs`` environments,
returns and advantages, one gradient step on

    loss = policy_loss + ent_coef * (-mean entropy) + vf_coef * MSE(returns, values)

with the global gradient norm clipped to ``max_grad_norm``. Episode ends by
termination are not bootstrapped; ends by time limit (truncation) are, with
``reward += gamma * V(final observation)`` exactly as SB3's ``collect_rollouts``.

Every step the loop takes goes through a :class:`~rl_lab.agent.seams.Seams` field,
so a bug from ``bugs/`` can change one part and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from gymnasium.vector import VectorEnv
from torch import nn

from rl_lab.agent.seams import EnvStep, Seams
from rl_lab.run.config import AgentConfig


@dataclass
class Rollout:
    """``n_steps`` x ``n_envs`` transitions. Index ``[t, i]``: env i at step t.

    ``actions[t]`` was chosen from ``obs[t]``; ``rewards[t]``, ``terminated[t]``
    and ``truncated[t]`` are what that action produced, as the rollout recorded it.
    ``observations`` and ``env_steps`` keep what the loop received, as received, so that an
    instrument can check the data path (the loop itself reads neither).
    """

    obs: torch.Tensor  # (T, N, *obs_shape) preprocessed network input
    actions: torch.Tensor  # (T, N) int64
    rewards: torch.Tensor  # (T, N) float32, as the environment returned them
    terminated: torch.Tensor  # (T, N) float32, 1.0 where the episode ended for good
    truncated: torch.Tensor  # (T, N) float32, 1.0 where a time limit cut it
    values: torch.Tensor  # (T, N) V(obs[t]) from the acting pass
    logits: torch.Tensor  # (T, N, A) from the acting pass
    truncation_values: torch.Tensor  # (T, N) V(final obs) where truncated (not terminated), else 0
    last_value: torch.Tensor  # (N,) V(observation after the last step)
    observations: list[np.ndarray]  # (T) of (N, *obs_shape): what each action was chosen from, before preprocess
    env_steps: list[EnvStep]  # (T) what each env step returned
    # the network's parameters while it acted, where they are not those the update starts from
    # (rl_lab.agent.loops.LaggedLoop); None: the same (SB3's A2C)
    acting_parameters: dict[str, torch.Tensor] | None = None

    @property
    def dones(self) -> torch.Tensor:
        return torch.maximum(self.terminated, self.truncated)


@dataclass
class EpisodeTracker:
    """Running return and length of every sub-environment; finished episodes are kept until drained."""

    returns: np.ndarray
    lengths: np.ndarray
    finished: list[tuple[float, int]] = field(default_factory=list)

    @classmethod
    def for_envs(cls, n_envs: int) -> EpisodeTracker:
        return cls(np.zeros(n_envs), np.zeros(n_envs, dtype=np.int64))

    def record(self, rewards: np.ndarray, dones: np.ndarray) -> None:
        self.returns += rewards
        self.lengths += 1
        for i in np.flatnonzero(dones):
            self.finished.append((float(self.returns[i]), int(self.lengths[i])))
        self.returns[dones] = 0.0
        self.lengths[dones] = 0

    def drain(self) -> list[tuple[float, int]]:
        finished, self.finished = self.finished, []
        return finished


class A2C:
    """The agent: network, optimizer, environments and the loop state between updates."""

    def __init__(
        self,
        envs: VectorEnv,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        hp: AgentConfig,
        seams: Seams,
        obs: np.ndarray,
        device: torch.device | str = "cpu",
    ):
        self.envs, self.model, self.optimizer, self.hp, self.seams = envs, model, optimizer, hp, seams
        # the network the rollouts act with: the trained one, unless a loop gives acting its own copy
        self.acting_model = model
        self.device = torch.device(device)
        self.obs = obs  # current observation of every env, the next rollout starts here
        self.episodes = EpisodeTracker.for_envs(hp.n_envs)
        self.parameters = list(model.parameters())

    def _forward(self, obs: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.seams.preprocess(obs).to(self.device)
        logits, values = self.acting_model(x)
        return x, logits, values

    def _value_of(self, obs: np.ndarray) -> torch.Tensor:
        return self._forward(obs)[2]

    # --- 1. act: n_steps steps in every env -------------------------------------------------
    def collect_rollout(self) -> Rollout:
        T, N, seams = self.hp.n_steps, self.hp.n_envs, self.seams
        seams.acting_mode(self.acting_model)
        obs_buf, logits_buf, values_buf, observations, env_steps = [], [], [], [], []
        actions = torch.zeros((T, N), dtype=torch.int64)
        rewards, terminated, truncated, truncation_values = (torch.zeros((T, N)) for _ in range(4))

        with torch.no_grad():
            for t in range(T):
                x, logits, values = self._forward(self.obs)
                action = seams.choose_action(logits)
                step = EnvStep(*self.envs.step(action.cpu().numpy()))
                recorded = seams.record_transition(step, self._value_of)

                # references, not copies: the envs return fresh arrays every step (tests/test_envs.py)
                observations.append(self.obs)
                env_steps.append(step)
                obs_buf.append(x)
                logits_buf.append(logits)
                values_buf.append(values)
                actions[t] = action
                rewards[t] = recorded.reward
                terminated[t] = recorded.terminated
                truncated[t] = recorded.truncated
                truncation_values[t] = recorded.truncation_value

                # the episode statistics count what the env returned, whatever the rollout recorded
                self.episodes.record(
                    np.asarray(step.reward, dtype=np.float64), np.logical_or(step.terminated, step.truncated)
                )
                self.obs = seams.next_observation(self.obs, step)

            last_value = self._value_of(self.obs).cpu()

        return Rollout(
            obs=torch.stack(obs_buf),
            actions=actions,
            rewards=rewards,
            terminated=terminated,
            truncated=truncated,
            values=torch.stack(values_buf),
            logits=torch.stack(logits_buf),
            truncation_values=truncation_values,
            last_value=last_value,
            observations=observations,
            env_steps=env_steps,
            acting_parameters=None
            if self.acting_model is self.model
            else {name: p.detach().clone() for name, p in self.acting_model.named_parameters()},
        )

    # --- 2. learn: returns, advantages, one gradient step ------------------------------------
    def update(self, rollout: Rollout) -> dict[str, Any]:
        hp, seams = self.hp, self.seams
        rewards = rollout.rewards + hp.gamma * rollout.truncation_values
        returns, advantages = seams.compute_returns(
            rewards, rollout.values.detach().cpu(), rollout.dones, rollout.last_value, hp.gamma, hp.gae_lambda
        )
        returns, advantages = returns.to(self.device), advantages.to(self.device)

        logits, values = seams.training_forward(self.model, rollout)
        actions = rollout.actions.to(self.device)
        log_probs = seams.log_prob(logits, actions)
        policy_loss = seams.policy_loss(log_probs, advantages)
        value_loss = seams.value_loss(values, returns)
        entropy = seams.entropy(logits).mean()
        loss = policy_loss + hp.ent_coef * (-entropy) + hp.vf_coef * value_loss
        grad_norm = seams.optimizer_step(self.optimizer, loss, self.parameters, hp.max_grad_norm)

        return {
            "loss": loss.detach(),
            "policy_loss": policy_loss.detach(),
            "value_loss": value_loss.detach(),
            "entropy": entropy.detach(),
            "grad_norm": grad_norm.detach(),
            # the critic's predictions while acting, as SB3's explained variance uses them
            # (the training forward may differ: dropout, or a bug at the training_forward seam)
            "values": rollout.values.to(self.device),
            "train_values": values.detach(),  # what the value loss saw
            "returns": returns,
            "advantages": advantages,
            "logits": logits.detach(),
            "log_probs": log_probs.detach(),
        }
