"""Catch: the image tier's game, small enough that a laptop CPU trains NatureCNN on it in minutes.

bsuite's ``catch`` (Osband et al. 2020, "Behaviour Suite for Reinforcement Learning"):
a ball falls from a random column of the top row of a 10 x 5 grid, one row per step;
the agent moves a paddle along the bottom row (left, stay, right). When the ball
reaches the bottom the episode ends with +1 if the paddle is under it, else -1.
Nine steps per episode; a random policy scores about -0.6, a perfect one +1.

Written here rather than taken from ``bsuite`` (which pulls ``dm_env`` and its own
environment API): it is forty lines. The observation is the grid drawn as a uint8
image, 1 x 40 x 40 (a cell is 4 x 8 pixels; 36 x 36 is the smallest input NatureCNN
takes), so the CNN, the /255 preprocessing and every image-path bug are exercised.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

ROWS, COLUMNS = 10, 5
CELL_HEIGHT, CELL_WIDTH = 4, 8
LEFT, STAY, RIGHT = 0, 1, 2


class CatchEnv(gym.Env):
    """bsuite's Catch as a gymnasium env with an image observation (see the module doc)."""

    metadata = {"render_modes": []}

    def __init__(self):
        shape = (1, ROWS * CELL_HEIGHT, COLUMNS * CELL_WIDTH)
        self.observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        self.action_space = gym.spaces.Discrete(3)
        self.ball_row, self.ball_column, self.paddle = 0, 0, COLUMNS // 2

    def _observation(self) -> np.ndarray:
        grid = np.zeros((ROWS, COLUMNS), np.uint8)
        grid[self.ball_row, self.ball_column] = 255
        grid[ROWS - 1, self.paddle] = 255
        return np.kron(grid, np.ones((CELL_HEIGHT, CELL_WIDTH), np.uint8))[None]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.ball_row, self.ball_column = 0, int(self.np_random.integers(COLUMNS))
        self.paddle = COLUMNS // 2
        return self._observation(), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is invalid: must be 0 (left), 1 (stay) or 2 (right)")
        self.paddle = int(np.clip(self.paddle + int(action) - STAY, 0, COLUMNS - 1))
        self.ball_row += 1
        terminated = self.ball_row == ROWS - 1
        reward = (1.0 if self.paddle == self.ball_column else -1.0) if terminated else 0.0
        return self._observation(), reward, terminated, False, {}
