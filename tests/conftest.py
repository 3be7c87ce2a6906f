"""Shared test fixtures: a scripted vector environment whose every transition is known, and the
CI tier of the atlas run once per test session (tests/test_atlas.py checks it, tests/test_slurm.py
runs it again on SLURM).

Under pytest-xdist (README's test command runs ``-n auto``) each worker process gets one torch
thread, and the commands it starts inherit ``OMP_NUM_THREADS=1``: the workers, not torch's
threads, share the cores. The CI sweep is built once for all workers (xdist's documented
pattern: the first worker builds it under a file lock, the others wait and read it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from filelock import FileLock
from gymnasium.vector import AutoresetMode, VectorEnv

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


class ScriptedVectorEnv(VectorEnv):
    """A vector env with SAME_STEP autoreset whose observations, rewards and episode ends
    come from a seeded generator, and which logs what it emitted and received.

    Observation ``o`` of env i at global step s encodes ``(i, s)`` in its first two
    entries when ``encode=True``, so a test can tell which observation an action
    was chosen from. Episodes end by termination with probability ``p_term`` and by
    truncation with probability ``p_trunc`` per step.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        n_envs: int,
        obs_space: gym.spaces.Box,
        n_actions: int,
        seed: int = 0,
        p_term: float = 0.1,
        p_trunc: float = 0.1,
        encode: bool = False,
    ):
        self.num_envs = n_envs
        self.single_observation_space = obs_space
        self.single_action_space = gym.spaces.Discrete(n_actions)
        self.observation_space = gym.vector.utils.batch_space(obs_space, n_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, n_envs)
        self.rng = np.random.default_rng(seed)
        self.p_term, self.p_trunc, self.encode = p_term, p_trunc, encode
        self.t = 0
        self.emitted: list[np.ndarray] = []  # every observation batch returned, in order
        self.received: list[np.ndarray] = []  # every action batch received, in order
        self.transitions: list[dict] = []  # per step: rewards, terminated, truncated, final_obs

    def _observe(self) -> np.ndarray:
        space = self.single_observation_space
        if space.dtype == np.uint8:
            obs = self.rng.integers(0, 256, (self.num_envs, *space.shape), dtype=np.uint8)
        else:
            obs = self.rng.standard_normal((self.num_envs, *space.shape)).astype(space.dtype)
        if self.encode:
            flat = obs.reshape(self.num_envs, -1)
            flat[:, 0] = np.arange(self.num_envs)
            flat[:, 1] = self.t % 256
        return obs

    def reset(self, *, seed=None, options=None):
        obs = self._observe()
        self.emitted.append(obs.copy())
        return obs, {}

    def step(self, actions):
        self.received.append(np.asarray(actions).copy())
        self.t += 1
        rewards = self.rng.standard_normal(self.num_envs).astype(np.float32)
        u = self.rng.random(self.num_envs)
        terminated = u < self.p_term
        truncated = (u >= self.p_term) & (u < self.p_term + self.p_trunc)
        final_obs = self._observe()  # the observation the step produced
        done = terminated | truncated
        obs = np.where(done.reshape(-1, *[1] * (final_obs.ndim - 1)), self._observe(), final_obs)
        info = {}
        if done.any():
            info = {
                "final_obs": np.array([final_obs[i] if d else None for i, d in enumerate(done)], dtype=object),
                "_final_obs": done,
            }
        self.transitions.append(
            {"rewards": rewards, "terminated": terminated, "truncated": truncated, "final_obs": final_obs}
        )
        self.emitted.append(obs.copy())
        return obs, rewards, terminated, truncated, info


@pytest.fixture
def scripted_env():
    return ScriptedVectorEnv


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield


def _tier_sweep(tier: str, tmp_path_factory, worker_id) -> Path:
    """``python -m rl_lab.atlas tier=TIER`` (joblib, 2 jobs at a time) into a fresh directory, once per session."""
    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    out = shared / f"atlas_{tier}"
    with FileLock(str(shared / f"atlas_{tier}.lock")):
        if not (out / "benchmark.json").exists():  # the atlas writes it last
            done = subprocess.run(
                [sys.executable, "-m", "rl_lab.atlas", f"tier={tier}", f"out={out}"],
                capture_output=True,
                text=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
            assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def ci_sweep(tmp_path_factory, worker_id) -> Path:
    """The A2C regression tier, ``tier=ci``."""
    return _tier_sweep("ci", tmp_path_factory, worker_id)


@pytest.fixture(scope="session")
def ppo_ci_sweep(tmp_path_factory, worker_id) -> Path:
    """PPO's regression tier, ``tier=ppo_ci``."""
    return _tier_sweep("ppo_ci", tmp_path_factory, worker_id)
