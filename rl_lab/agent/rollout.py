"""What both actor-critic algorithms share: the rollout's records and the acting half of the loop.

:class:`ActorCriticAgent` collects a rollout of ``n_steps`` steps in ``n_envs`` environments, as
stable-baselines3's ``OnPolicyAlgorithm.collect_rollouts`` does for A2C and PPO alike; each
algorithm (:mod:`rl_lab.agent.a2c`, :mod:`rl_lab.agent.ppo`) adds its own ``update``. Every step
goes through the seams record the agent holds, so a bug from ``bugs/`` can change one part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from gymnasium.vector import VectorEnv
from torch import nn

if TYPE_CHECKING:
    from rl_lab.agent.seams import SharedSeams
    from rl_lab.run.config import AgentConfig


@dataclass
class EnvStep:
    """What one step of the vector env returned, as it returned it."""

    obs: np.ndarray  # SAME_STEP autoreset: where an episode ended, the next episode's first observation
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    info: dict[str, Any]

    @property
    def time_limit_ends(self) -> np.ndarray:
        """Where a time limit cut an episode that did not terminate: the ends bootstrapped with V(final obs)."""
        return np.logical_and(self.truncated, np.logical_not(self.terminated))


@dataclass
class Transition:
    """What the rollout keeps of one env step, ``(N,)`` each."""

    reward: torch.Tensor
    terminated: torch.Tensor  # 1.0 where the episode ended for good
    truncated: torch.Tensor  # 1.0 where a time limit cut it
    truncation_value: torch.Tensor  # V(final observation) where truncated and not terminated, else 0


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


class ActorCriticAgent:
    """Network, optimizer, environments and the loop state between updates; the acting half.

    A subclass is one algorithm: its ``update(rollout)`` returns the update's numbers (see
    :meth:`rl_lab.agent.a2c.A2C.update` for the keys every algorithm returns), ``SEAMS`` is its
    seams record, ``HYPERPARAMETERS`` its settings' schema, and ``SINGLE_GRADIENT_STEP`` says
    whether an update is one gradient step on the whole rollout (the panel's checks that replay
    that step need it)."""

    SEAMS: ClassVar[type[SharedSeams]]
    HYPERPARAMETERS: ClassVar[type[AgentConfig]]  # its settings' schema (conf/agent/<algo>_<env>.yaml)
    SINGLE_GRADIENT_STEP: ClassVar[bool]

    def __init__(
        self,
        envs: VectorEnv,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        hp: AgentConfig,
        seams: SharedSeams,
        obs: np.ndarray,
        device: torch.device | str = "cpu",
        total_timesteps: int | None = None,
    ):
        """``total_timesteps``: the budget a schedule anneals over (SB3: ``learn``'s), default ``hp.n_timesteps``."""
        self.envs, self.model, self.optimizer, self.hp, self.seams = envs, model, optimizer, hp, seams
        # the network the rollouts act with: the trained one, unless a loop gives acting its own copy
        self.acting_model = model
        self.device = torch.device(device)
        self.obs = obs  # current observation of every env, the next rollout starts here
        self.episodes = EpisodeTracker.for_envs(hp.n_envs)
        self.parameters = list(model.parameters())
        self.num_timesteps = 0  # agent steps collected so far (SB3's num_timesteps), for schedules
        self.total_timesteps = total_timesteps or hp.n_timesteps

    def update(self, rollout: Rollout) -> dict[str, Any]:
        raise NotImplementedError

    def _forward(self, obs: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.seams.preprocess(obs).to(self.device)
        logits, values = self.acting_model(x)
        return x, logits, values

    def _value_of(self, obs: np.ndarray) -> torch.Tensor:
        return self._forward(obs)[2]

    def collect_rollout(self) -> Rollout:
        """Act: ``n_steps`` steps in every env with the acting network."""
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

        self.num_timesteps += T * N
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
