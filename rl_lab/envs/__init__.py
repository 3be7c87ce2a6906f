"""Environments: the vector envs (here), Catch (catch.py) and the probe environments (probes.py).

Every factory returns a gymnasium ``VectorEnv`` in
SAME_STEP autoreset mode: when a sub-environment's episode ends, ``step``
returns the first observation of the next episode in ``obs`` and the last
observation of the finished one in ``info["final_obs"]`` (with
``info["_final_obs"]`` marking which). That is the semantics of
stable-baselines3's ``DummyVecEnv`` (``info["terminal_observation"]``), so a
rollout stored from it lines up with SB3's.

Two Pong pipelines, both with SB3's AtariWrapper semantics (noop reset up to
30, 4-frame skip with max over the last two frames, FIRE on reset, 84x84
grayscale, reward sign, 4 frames stacked with zeros after a reset, 108,000
frames per episode at most, no sticky actions):

``make_atari_vector_env`` (``env=pong``, the default)
    ale-py's C++ ``AtariVectorEnv``: emulators stepped on native threads,
    preprocessing in C++. Fast.
``make_atari_wrapped_env`` (``env=pong_sb3``)
    ``PongNoFrameskip-v4`` wrapped in SB3's own ``AtariWrapper`` in Python,
    frames stacked by gymnasium's ``FrameStackObservation``. The reference.

Where they differ (measured consequences: see ``results/known_result``):

* Grayscale and max order. SB3 takes the max of the last two RGB frames, then
  converts to gray (cv2 ``RGB2GRAY``) and resizes (``INTER_AREA``). The C++
  path reads ALE's grayscale screens, takes the max of the two gray frames,
  then resizes. Max and a weighted sum do not commute, so a few pixels differ
  where two objects overlap across frames.
* Reset sequence. SB3 does 1 to 30 random no-ops, FIRE, then action 2 (its
  ``FireResetEnv``); per ale-py's C++ source the vector env does 0 to 29
  no-ops and then FIRE only. Both start each episode at a random emulator
  state a few frames apart; the first point is served either way.
* Random streams. SB3 draws the no-op count from each env's ``np_random``; the
  C++ path from its own per-env generator seeded from ``reset(seed=...)``.
  The same seed gives different (equally distributed) episodes.
* Life loss. SB3's AtariWrapper ends a *training* episode on a life loss; Pong
  has no lives, so neither pipeline does.
"""

from __future__ import annotations

from typing import Any

import ale_py
import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from hydra.utils import instantiate

gym.register_envs(ale_py)
gym.register("rl_lab/Catch-v0", entry_point="rl_lab.envs.catch:CatchEnv")

SAME_STEP = {"autoreset_mode": AutoresetMode.SAME_STEP}
# env-config keys that describe the env (for the panel and the detectors) rather than build it
ENV_METADATA = (
    "name",
    "gradient_check_every",
    "solved_return",
    "return_range",
    "plateau_window",
    "critic_fit_after",
    "critic_fit_floor",
    "early_learning_check",
    "learning_check",
    "ppo",  # PPO's own detector levels (conf/algo_diagnostics/ppo.yaml)
)


def make_envs(env_config: dict[str, Any], n_envs: int) -> VectorEnv:
    """The vector env an ``env`` config group entry describes (its ``_target_`` factory)."""
    return instantiate({k: v for k, v in env_config.items() if k not in ENV_METADATA}, n_envs=n_envs)


def make_classic_env(id: str, n_envs: int, max_episode_steps: int | None = None) -> VectorEnv:
    """``n_envs`` copies of a gymnasium env (e.g. CartPole-v1) in one process; ``max_episode_steps``
    replaces the env's own time limit (None keeps it)."""
    limit = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
    return gym.make_vec(id, num_envs=n_envs, vectorization_mode="sync", vector_kwargs=SAME_STEP, **limit)


def make_atari_vector_env(
    id: str, n_envs: int, num_threads: int = 2, max_frames_per_episode: int = 108_000, screen: bool = False
) -> VectorEnv:
    """ale-py's C++ vector env with SB3 AtariWrapper semantics (see module doc).

    ``id`` is the ROM name in snake case (``pong``, ``breakout``). ``screen``: observe ALE's
    colour screen at full size instead of the network's 4 stacked 84x84 gray frames; the same
    seed and actions play the same game (:func:`make_screen_envs`).
    """
    image = {"img_height": 210, "img_width": 160, "grayscale": False, "stack_num": 1} if screen else {}
    return ale_py.vector_env.AtariVectorEnv(
        id,
        n_envs,
        num_threads=num_threads,
        autoreset_mode=AutoresetMode.SAME_STEP,
        repeat_action_probability=0.0,
        frameskip=4,
        maxpool=True,
        noop_max=30,
        use_fire_reset=True,
        episodic_life=False,
        reward_clipping=True,
        max_num_frames_per_episode=max_frames_per_episode,
        **({"img_height": 84, "img_width": 84, "grayscale": True, "stack_num": 4} | image),
    )


def make_screen_envs(env_config: dict[str, Any], n_envs: int) -> VectorEnv | None:
    """The game as a person sees it: the env of ``env_config`` observing ALE's colour screen at
    full size. Reset with the same seed and given the same actions, it plays the same game as
    :func:`make_envs` (the emulator is deterministic). None where the network already sees the
    whole picture (CartPole's state, Catch's 40x40 board)."""
    if env_config.get("_target_") != f"{__name__}.make_atari_vector_env":
        return None
    return make_envs({**env_config, "screen": True}, n_envs)


def _wrapped_atari(id: str) -> gym.Env:
    from stable_baselines3.common.atari_wrappers import AtariWrapper

    env = AtariWrapper(gym.make(id), noop_max=30, frame_skip=4, screen_size=84, clip_reward=True)
    env = gym.wrappers.ReshapeObservation(env, (84, 84))  # WarpFrame keeps a trailing channel axis
    # SB3's VecFrameStack fills the stack with zeros after a reset; so does padding_type="zero".
    return gym.wrappers.FrameStackObservation(env, 4, padding_type="zero")


def make_atari_wrapped_env(id: str, n_envs: int) -> VectorEnv:
    """``id`` (e.g. PongNoFrameskip-v4) in SB3's AtariWrapper, ``n_envs`` copies in one process."""
    return gym.vector.SyncVectorEnv([lambda: _wrapped_atari(id) for _ in range(n_envs)], **SAME_STEP)


def env_state(envs: VectorEnv) -> dict[str, Any] | None:
    """Plain-data snapshot of a classic-control vector env, or ``None`` if unsupported.

    CartPole's whole state is a 4-vector, a step counter and a random generator,
    so a resumed CartPole run continues bit for bit. The C++ Atari vector env
    exposes no state, so a resumed Pong run restarts its episodes (documented
    in README); model, optimizer, counters and random streams are still restored.
    """
    if not isinstance(envs, gym.vector.SyncVectorEnv):
        return None
    subenvs = []
    for env in envs.envs:
        core = env.unwrapped
        if not hasattr(core, "state") or core.state is None or not isinstance(env, gym.wrappers.TimeLimit):
            return None
        subenvs.append(
            {
                "state": np.asarray(core.state, dtype=np.float64).tolist(),
                "steps_beyond_terminated": core.steps_beyond_terminated,
                "elapsed_steps": env._elapsed_steps,
                "rng": core.np_random.bit_generator.state,
            }
        )
    return {"subenvs": subenvs, "autoreset_envs": envs._autoreset_envs.tolist()}


def load_env_state(envs: VectorEnv, state: dict[str, Any]) -> None:
    """Restore a snapshot taken by :func:`env_state`."""
    assert isinstance(envs, gym.vector.SyncVectorEnv)
    for env, saved in zip(envs.envs, state["subenvs"], strict=True):
        core = env.unwrapped
        core.state = np.array(saved["state"], dtype=np.float64)
        core.steps_beyond_terminated = saved["steps_beyond_terminated"]
        env._elapsed_steps = saved["elapsed_steps"]
        core.np_random.bit_generator.state = saved["rng"]
    envs._autoreset_envs = np.array(state["autoreset_envs"], dtype=bool)
