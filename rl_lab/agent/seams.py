"""The seams of the A2C loop: each place where a real-world bug can live.

The loop in :mod:`rl_lab.agent.a2c` calls its parts only through a :class:`Seams`
record. The functions here are the clean parts; a bug (see ``bugs/``) takes
the record and returns a copy with one field wrapped or replaced. The loop
never asks which bug is on, and :func:`clean_seams` is the agent with none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical

if TYPE_CHECKING:
    from rl_lab.agent.a2c import Rollout

ModelFactory = Callable[[gym.Space, gym.Space], nn.Module]


def build_model(factory: ModelFactory, observation_space: gym.Space, action_space: gym.Space) -> nn.Module:
    """Construct and initialise the actor-critic network."""
    return factory(observation_space, action_space)


def preprocess(obs: np.ndarray) -> torch.Tensor:
    """Environment observation batch -> float network input; images scaled to [0, 1] as SB3 does."""
    x = torch.from_numpy(np.asarray(obs))
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


def acting_mode(model: nn.Module) -> None:
    """Put the network in the mode it acts in: eval (dropout off, batch-norm statistics frozen)."""
    model.eval()


def choose_action(logits: torch.Tensor) -> torch.Tensor:
    """Sample each env's action from the acting policy (a categorical over the logits)."""
    return Categorical(logits=logits).sample()


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


def record_transition(step: EnvStep, value_of: Callable[[np.ndarray], torch.Tensor]) -> Transition:
    """The rollout's record of an env step: reward and episode ends as the env returned them, and
    the value of the final observation of each time-limit end (not of a termination), which the
    update adds to the reward as ``gamma * V`` (SB3's bootstrap of timeouts). ``value_of`` is the
    acting critic."""
    truncation_value = torch.zeros(len(step.reward))
    cut = np.flatnonzero(step.time_limit_ends)
    if cut.size:
        final_obs = np.stack([step.info["final_obs"][i] for i in cut])
        truncation_value[cut] = value_of(final_obs).cpu()
    return Transition(
        reward=torch.as_tensor(step.reward, dtype=torch.float32),
        terminated=torch.as_tensor(step.terminated, dtype=torch.float32),
        truncated=torch.as_tensor(step.truncated, dtype=torch.float32),
        truncation_value=truncation_value,
    )


def next_observation(obs: np.ndarray, step: EnvStep) -> np.ndarray:
    """The observation the next action is chosen from: the one the step returned, which in SAME_STEP
    autoreset mode is already the next episode's first where an episode ended (``obs`` is the
    observation the step acted on)."""
    return step.obs


def training_forward(model: nn.Module, rollout: Rollout) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(T, N, A)`` and values ``(T, N)`` of the rollout's observations, with autograd, train mode."""
    model.train()
    n_steps, n_envs = rollout.actions.shape
    logits, values = model(rollout.obs.flatten(0, 1))
    return logits.view(n_steps, n_envs, -1), values.view(n_steps, n_envs)


def compute_returns(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(lambda) advantages and TD(lambda) returns, as SB3's ``RolloutBuffer``.

    All tensors are ``(T, N)`` except ``last_value`` ``(N,)``, the value of the
    observation after the last step. ``dones[t]`` ends the episode after step t,
    so nothing is bootstrapped across it; truncations are bootstrapped by the
    caller through ``rewards``. Returns ``(returns, advantages)``.
    """
    advantages = torch.zeros_like(rewards)
    last_gae = torch.zeros_like(last_value)
    next_value = last_value
    for t in reversed(range(rewards.shape[0])):
        next_non_terminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * next_non_terminal - values[t]
        last_gae = delta + gamma * gae_lambda * next_non_terminal * last_gae
        advantages[t] = last_gae
        next_value = values[t]
    return advantages + values, advantages


def log_prob(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Log-probability of each taken action under the categorical policy."""
    return Categorical(logits=logits).log_prob(actions)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical policy at each observation."""
    return Categorical(logits=logits).entropy()


def policy_loss(log_probs: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """Policy-gradient loss: advantages are constants, their gradient flows through the log-probs."""
    return -(advantages * log_probs).mean()


def value_loss(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the value estimates (no 1/2 factor, as SB3)."""
    return F.mse_loss(returns, values)


def optimizer_step(
    optimizer: torch.optim.Optimizer, loss: torch.Tensor, parameters: list[nn.Parameter], max_grad_norm: float
) -> torch.Tensor:
    """Backpropagate, clip the global gradient norm, step. Returns the norm before clipping."""
    optimizer.zero_grad()
    loss.backward()
    grad_norm = nn.utils.clip_grad_norm_(parameters, max_grad_norm)
    optimizer.step()
    return grad_norm


@dataclass(frozen=True)
class Seams:
    """The named parts of the loop; a bug replaces one field (``dataclasses.replace``)."""

    build_model: Callable[[ModelFactory, gym.Space, gym.Space], nn.Module] = build_model
    preprocess: Callable[[np.ndarray], torch.Tensor] = preprocess
    acting_mode: Callable[[nn.Module], None] = acting_mode
    choose_action: Callable[[torch.Tensor], torch.Tensor] = choose_action
    record_transition: Callable[[EnvStep, Callable[[np.ndarray], torch.Tensor]], Transition] = record_transition
    next_observation: Callable[[np.ndarray, EnvStep], np.ndarray] = next_observation
    training_forward: Callable[[nn.Module, Rollout], tuple[torch.Tensor, torch.Tensor]] = training_forward
    compute_returns: Callable[..., tuple[torch.Tensor, torch.Tensor]] = compute_returns
    log_prob: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = log_prob
    entropy: Callable[[torch.Tensor], torch.Tensor] = entropy
    policy_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = policy_loss
    value_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = value_loss
    optimizer_step: Callable[..., torch.Tensor] = optimizer_step


def clean_seams() -> Seams:
    """The clean agent."""
    return Seams()


def seam_states(seams: Seams) -> dict[str, Any]:
    """The state of every seam function that keeps one between calls (an object with
    ``state_dict``: a bug's frame history, its random generator); the clean seams keep none."""
    return {
        f.name: getattr(seams, f.name).state_dict()
        for f in dataclasses.fields(seams)
        if hasattr(getattr(seams, f.name), "state_dict")
    }


def load_seam_states(seams: Seams, states: dict[str, Any]) -> None:
    """Restore what :func:`seam_states` saved; the seams must hold the same stateful functions."""
    stateful = {f.name for f in dataclasses.fields(seams) if hasattr(getattr(seams, f.name), "load_state_dict")}
    if stateful != set(states):
        raise ValueError(f"seams with state {sorted(stateful)} cannot load saved state of {sorted(states)}")
    for name, state in states.items():
        getattr(seams, name).load_state_dict(state)
