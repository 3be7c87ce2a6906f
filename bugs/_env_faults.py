"""Shared by the env-side bugs: a fault as a gymnasium vector wrapper around the env as built,
put in through the ``wrap_env`` seam.

The agent, and every data-path check, sees what the wrapper returns: the fault is the
environment's, so those checks stay at 0 by design. A fault draws from torch's random generator,
which the checkpoint saves; what a wrapper keeps between steps (the last action, the last
observation, a step counter) is its ``state_dict``, which the checkpoint saves through the seam
function (:func:`rl_lab.agent.seams.seam_states`), so a resumed run goes on exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorEnv, VectorWrapper

# an env-side bug's EXACT_WHILE (bugs/__init__.py): no exact check can see it, at any dose
ENV_SIDE_EXACT_WHILE = "always: the fault is the environment's, and the checks compare the agent with its env"


class EnvFault(VectorWrapper):
    """A faulty wrapper: ``dose`` is the bug's; a subclass overrides ``step`` (and ``reset`` when it
    keeps state) and lists the attributes it keeps between steps in ``STATE`` (tensors)."""

    STATE: tuple[str, ...] = ()

    def __init__(self, env: VectorEnv, dose: float):
        super().__init__(env)
        self.dose = dose

    def happens(self) -> np.ndarray:
        """Which envs the fault hits this step: each with probability ``dose``, independently."""
        return (torch.rand(self.num_envs) < self.dose).numpy()

    def state_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.STATE}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self.STATE:
            setattr(self, name, state[name])


def noise_like(space: spaces.Box, n: int) -> np.ndarray:
    """``n`` observations of pure noise: uniform over the space where it is bounded (an image's 0 to
    255), standard normal where it is not (CartPole's velocities)."""
    shape = (n, *space.shape)
    if np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high)):
        low, high = torch.as_tensor(space.low, dtype=torch.float64), torch.as_tensor(space.high, dtype=torch.float64)
        if np.issubdtype(space.dtype, np.integer):
            noise = torch.floor(low + torch.rand(shape, dtype=torch.float64) * (high - low + 1))
        else:
            noise = low + torch.rand(shape, dtype=torch.float64) * (high - low)
    else:
        noise = torch.randn(shape, dtype=torch.float64)
    return noise.numpy().astype(space.dtype)


def final_observations(info: dict[str, Any], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Copies of a step's ``info["final_obs"]`` (an object array) and its mask ``_final_obs``, empty
    where the step ended no episode, for a wrapper that ends episodes of its own."""
    final_obs = np.array(info.get("final_obs", np.full(n, None)), dtype=object)
    return final_obs, np.array(info.get("_final_obs", np.zeros(n, dtype=bool)))


class _WrapEnv:
    """The ``wrap_env`` seam function of an env-side bug: wraps what the seam it replaces returns in
    ``fault(envs, dose)``, and saves and loads that wrapper's state (and an inner bug's)."""

    def __init__(self, inner: Any, fault: type[EnvFault], dose: float):
        self.inner, self.fault, self.dose = inner, fault, dose
        self.wrapper: EnvFault | None = None

    def __call__(self, envs: VectorEnv) -> VectorEnv:
        self.wrapper = self.fault(self.inner(envs), self.dose)
        return self.wrapper

    def state_dict(self) -> dict[str, Any]:
        inner = self.inner.state_dict() if hasattr(self.inner, "state_dict") else {}
        return {"wrapper": self.wrapper.state_dict() if self.wrapper else {}, "inner": inner}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.wrapper is not None:
            self.wrapper.load_state_dict(state["wrapper"])
        if hasattr(self.inner, "load_state_dict"):
            self.inner.load_state_dict(state["inner"])


def inject_fault(seams: Any, fault: type[EnvFault], dose: float) -> Any:
    """``seams`` with the env it acts in wrapped in ``fault`` at ``dose``."""
    return dataclasses.replace(seams, wrap_env=_WrapEnv(seams.wrap_env, fault, dose))


class ObservationFault(EnvFault):
    """A fault in what the env's sensor returns: ``corrupt(obs, hit)`` changes the observations of the
    envs ``hit`` this step (on reset too). The final observation of an ended episode (in ``info``,
    read at time-limit ends only) is left as the env returned it."""

    def corrupt(self, obs: np.ndarray, hit: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reset(self, **kwargs):
        obs, info = super().reset(**kwargs)
        return self.corrupt(obs, self.happens()), info

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        return self.corrupt(obs, self.happens()), reward, terminated, truncated, info
