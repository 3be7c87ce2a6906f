"""The seams of the actor-critic loops: each place where a real-world bug can live.

The loops of :mod:`rl_lab.agent.a2c` and :mod:`rl_lab.agent.ppo` call their parts only through a
seams record: :class:`A2CSeams` or :class:`PPOSeams`. Both hold :class:`SharedSeams`, the parts
with the same meaning in both algorithms (acting, recording, returns, log-probabilities, entropy,
the value loss, the optimizer step), and add their own. The functions here are the clean parts;
a bug (see ``bugs/``) takes the record and returns a copy with one field wrapped or replaced, so
a bug at a shared seam runs on either algorithm unchanged. A loop never asks which bug is on, and
``A2CSeams()`` or ``PPOSeams()`` is the agent with none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium.vector import VectorEnv
from torch import nn
from torch.distributions import Categorical

from rl_lab.agent.rollout import EnvStep, Transition

if TYPE_CHECKING:
    from rl_lab.agent.rollout import Rollout

ModelFactory = Callable[[gym.Space, gym.Space], nn.Module]


def wrap_env(envs: VectorEnv) -> VectorEnv:
    """The vector env the agent steps: the env as built. An env-side bug wraps it (a broken wrapper,
    a noisy sensor, a second time limit), so the agent, and every check of the data path, sees
    what the wrapped env returns."""
    return envs


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


# --- PPO's own parts (stable-baselines3's PPO.train) ------------------------------------------
def minibatches(n_samples: int, batch_size: int) -> list[torch.Tensor]:
    """One epoch's minibatches: a fresh random permutation of the ``n_samples`` indices of the
    flattened rollout (index ``t * n_envs + i``), cut into pieces of ``batch_size``, the last one
    smaller when it does not divide (SB3's ``RolloutBuffer.get``; SB3 draws from numpy's global
    generator, rl-lab from torch's, which the checkpoint saves). Every sample once per epoch."""
    return list(torch.randperm(n_samples).split(batch_size))


def minibatch_forward(model: nn.Module, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(B, A)`` and values ``(B,)`` of a minibatch of network inputs, with autograd, train mode."""
    model.train()
    return model(obs)


def normalize_advantages(advantages: torch.Tensor) -> torch.Tensor:
    """A minibatch's advantages to zero mean and unit standard deviation (unbiased, plus 1e-8);
    a minibatch of one is left as it is (its std is undefined: SB3 issue #325)."""
    if len(advantages) < 2:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def probability_ratio(log_probs: torch.Tensor, old_log_probs: torch.Tensor) -> torch.Tensor:
    """pi(a|s) / pi_old(a|s), from the log-probabilities under the trained and the acting policy."""
    return torch.exp(log_probs - old_log_probs)


def clipped_surrogate(ratio: torch.Tensor, advantages: torch.Tensor, clip_range: float) -> torch.Tensor:
    """PPO's policy loss: -mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)), the pessimistic bound."""
    clipped = torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    return -torch.min(advantages * ratio, advantages * clipped).mean()


def clip_values(values: torch.Tensor, old_values: torch.Tensor, clip_range_vf: float | None) -> torch.Tensor:
    """The value prediction the value loss sees: unclipped when ``clip_range_vf`` is None (SB3's and
    the zoo's default), else kept within ``clip_range_vf`` of the acting critic's value."""
    if clip_range_vf is None:
        return values
    return old_values + torch.clamp(values - old_values, -clip_range_vf, clip_range_vf)


SCHEDULES = ("constant", "linear")


def schedule(initial: float, progress_remaining: float, kind: str) -> float:
    """A hyperparameter's value at ``progress_remaining`` (1 at the start of training, 0 at the end):
    ``constant``, or ``linear`` to 0 (the zoo's ``lin_X``)."""
    return initial * progress_remaining if kind == "linear" else initial


@dataclass(frozen=True)
class SharedSeams:
    """The parts both loops have, with the same meaning; a bug replaces one field (``dataclasses.replace``)."""

    ALGORITHM: ClassVar[str] = ""  # a record's algorithm: the conf/algo option

    wrap_env: Callable[[VectorEnv], VectorEnv] = wrap_env
    build_model: Callable[[ModelFactory, gym.Space, gym.Space], nn.Module] = build_model
    preprocess: Callable[[np.ndarray], torch.Tensor] = preprocess
    acting_mode: Callable[[nn.Module], None] = acting_mode
    choose_action: Callable[[torch.Tensor], torch.Tensor] = choose_action
    record_transition: Callable[[EnvStep, Callable[[np.ndarray], torch.Tensor]], Transition] = record_transition
    next_observation: Callable[[np.ndarray, EnvStep], np.ndarray] = next_observation
    compute_returns: Callable[..., tuple[torch.Tensor, torch.Tensor]] = compute_returns
    log_prob: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = log_prob
    entropy: Callable[[torch.Tensor], torch.Tensor] = entropy
    value_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = value_loss
    optimizer_step: Callable[..., torch.Tensor] = optimizer_step


@dataclass(frozen=True)
class A2CSeams(SharedSeams):
    """A2C's loop: the shared parts, one training forward pass over the rollout, the policy-gradient loss."""

    ALGORITHM: ClassVar[str] = "a2c"

    training_forward: Callable[[nn.Module, Rollout], tuple[torch.Tensor, torch.Tensor]] = training_forward
    policy_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = policy_loss


@dataclass(frozen=True)
class PPOSeams(SharedSeams):
    """PPO's loop: the shared parts, and minibatching, the ratio, the clipped losses and the schedules."""

    ALGORITHM: ClassVar[str] = "ppo"

    minibatches: Callable[[int, int], list[torch.Tensor]] = minibatches
    minibatch_forward: Callable[[nn.Module, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] = minibatch_forward
    normalize_advantages: Callable[[torch.Tensor], torch.Tensor] = normalize_advantages
    probability_ratio: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = probability_ratio
    clipped_surrogate: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor] = clipped_surrogate
    clip_values: Callable[[torch.Tensor, torch.Tensor, float | None], torch.Tensor] = clip_values
    schedule: Callable[[float, float, str], float] = schedule


SEAM_RECORDS: tuple[type[SharedSeams], ...] = (A2CSeams, PPOSeams)  # one per algorithm


def seam_states(seams: SharedSeams) -> dict[str, Any]:
    """The state of every seam function that keeps one between calls (an object with
    ``state_dict``: a bug's frame history, its random generator); the clean seams keep none."""
    return {
        f.name: getattr(seams, f.name).state_dict()
        for f in dataclasses.fields(seams)
        if hasattr(getattr(seams, f.name), "state_dict")
    }


def load_seam_states(seams: SharedSeams, states: dict[str, Any]) -> None:
    """Restore what :func:`seam_states` saved; the seams must hold the same stateful functions."""
    stateful = {f.name for f in dataclasses.fields(seams) if hasattr(getattr(seams, f.name), "load_state_dict")}
    if stateful != set(states):
        raise ValueError(f"seams with state {sorted(stateful)} cannot load saved state of {sorted(states)}")
    for name, state in states.items():
        getattr(seams, name).load_state_dict(state)
