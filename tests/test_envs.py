"""Environment pipelines: shapes, SB3 AtariWrapper semantics, frame-stack alignment, snapshots."""

from __future__ import annotations

import numpy as np
import pytest

from rl_lab.envs import (
    env_state,
    load_env_state,
    make_atari_vector_env,
    make_atari_wrapped_env,
    make_classic_env,
    make_envs,
)

PONG_FACTORIES = {
    "vector": lambda n: make_atari_vector_env("pong", n, num_threads=1),
    "sb3_wrapper": lambda n: make_atari_wrapped_env("PongNoFrameskip-v4", n),
}


@pytest.mark.parametrize("pipeline", sorted(PONG_FACTORIES))
def test_pong_pipelines_stack_zero_padded_frames_that_shift_by_one_per_step(pipeline):
    envs = PONG_FACTORIES[pipeline](2)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
    assert envs.single_action_space.n == 6
    # SB3's VecFrameStack: zeros before the first frame of an episode
    assert (obs[:, :3] == 0).all() and (obs[:, 3] > 0).any()
    rng = np.random.default_rng(0)
    for _ in range(30):
        nxt, reward, term, trunc, _ = envs.step(rng.integers(0, 6, 2))
        assert set(np.unique(reward)) <= {-1.0, 0.0, 1.0}
        live = ~(term | trunc)
        # the newest frame enters last; the three before it are the previous observation's last three
        np.testing.assert_array_equal(nxt[live, :3], obs[live, 1:])
        obs = nxt
    envs.close()


def test_vector_pong_episode_limit_counts_emulator_frames():
    envs = make_atari_vector_env("pong", 2, num_threads=1, max_frames_per_episode=40)
    envs.reset(seed=0)
    truncated_at = None
    for t in range(1, 20):
        _, _, term, trunc, info = envs.step(np.zeros(2, dtype=np.int64))
        if trunc.any():
            truncated_at = t
            assert "final_obs" in info  # SAME_STEP autoreset hands over the last observation
            break
    assert truncated_at == 10  # 40 frames at frameskip 4
    envs.close()


def test_cartpole_snapshot_restores_the_future_exactly():
    envs = make_classic_env("CartPole-v1", 3)
    envs.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(30):
        envs.step(rng.integers(0, 2, 3))
    snapshot = env_state(envs)
    actions = rng.integers(0, 2, (60, 3))
    first = [envs.step(a)[0] for a in actions]  # crosses episode ends: the reset draws come from the saved rng
    load_env_state(envs, snapshot)
    second = [envs.step(a)[0] for a in actions]
    np.testing.assert_array_equal(np.stack(first), np.stack(second))


def test_vector_pong_has_no_snapshot():
    envs = make_atari_vector_env("pong", 1, num_threads=1)
    assert env_state(envs) is None
    envs.close()


def test_catch_is_bsuites_catch_drawn_as_an_image():
    from rl_lab.envs.catch import COLUMNS, LEFT, RIGHT, ROWS, CatchEnv

    env = CatchEnv()
    obs, _ = env.reset(seed=3)
    assert obs.shape == (1, 40, 40) and obs.dtype == np.uint8 and set(np.unique(obs)) == {0, 255}
    ball = env.ball_column
    rewards, steps, done = [], 0, False
    while not done:  # chase the ball: always caught
        action = LEFT if env.paddle > ball else RIGHT if env.paddle < ball else 1
        obs, reward, done, truncated, _ = env.step(action)
        rewards.append(reward)
        steps += 1
    assert steps == ROWS - 1 and rewards[-1] == 1.0 and sum(rewards[:-1]) == 0.0 and not truncated
    env.reset(seed=3)
    ball = env.ball_column
    away = RIGHT if ball < COLUMNS // 2 else LEFT
    for _ in range(ROWS - 1):
        *_, reward, done, _, _ = env.step(away)
    assert done and reward == -1.0
    with pytest.raises(ValueError, match="action 5 is invalid"):
        env.step(5)


@pytest.mark.parametrize("env_name", ["cartpole", "catch", "pong"])
def test_each_step_returns_fresh_arrays_that_the_rollout_may_keep(env_name):
    """The rollout keeps the observations the env returned by reference (for the data-path checks):
    a later step must not write into an earlier step's arrays."""
    from rl_lab.run.training import compose_settings

    envs = make_envs(compose_settings([f"env={env_name}"]).env, 2)
    first, _ = envs.reset(seed=0)
    kept = [first]
    for _ in range(3):
        kept.append(envs.step(np.zeros(2, dtype=np.int64))[0])
    copies = [k.copy() for k in kept]
    envs.step(np.zeros(2, dtype=np.int64))
    assert all(np.array_equal(k, c) for k, c in zip(kept, copies, strict=True))
    assert not any(np.shares_memory(a, b) for i, a in enumerate(kept) for b in kept[i + 1 :])
    envs.close()
