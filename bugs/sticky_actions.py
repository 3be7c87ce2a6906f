"""Sticky actions where none were meant: the env repeats the previous action with probability ``dose``.

Story: ALE's ``v5`` environments (``ALE/Pong-v5``) repeat the previous action with probability
0.25 by default, the evaluation protocol of Machado et al., "Revisiting the Arcade Learning
Environment" (JAIR 2018); the ``NoFrameskip-v4`` ids that SB3's AtariWrapper and the zoo's
figures assume repeat none. Swapping one id for the other changes the environment silently
(Farama-Foundation/Arcade-Learning-Environment #441: "1/4, so repeat_action_probability=0.25";
openai/gym #2179: the action actually executed is not reported).

Seam: ``wrap_env``. In each env, with probability ``dose`` per step, the action executed is the
one executed at the step before in that env; the first step of an episode executes the chosen one.
The agent records the action it chose.

Dose: the repeat probability, in [0, 1] (default 0.25, ALE v5's).

Symptoms: the agent's control is partly ignored, so learning is slower and the return lower;
every data-path check stays at 0 (the env returns what it did, consistently).
Measured on Catch (``python scripts/env_faults.py env=catch steps=100000``, seed 200, 100k steps;
clean calibration median 0.9, random play -0.62): final return 0.36, 0.16, 0.60 and 0.04 at 0.05,
0.1, 0.2 and 0.5; only the 0.5 run was flagged (``early_learning`` at 10,000); no exact check fired.
On CartPole (``python scripts/env_faults.py env=cartpole``, seed 200, 500k steps; clean calibration
median 500, random play 21.8): 499-500 at 0.05-0.1, 475 at 0.2, no detector; 139 at 0.5,
flagged by ``no_learning`` at 20,000.
"""

from __future__ import annotations

import numpy as np
import torch
from rl_lab.bugs._env_faults import ENV_SIDE_EXACT_WHILE, EnvFault, inject_fault

SEAM = "wrap_env"
DOSE = 0.25
DOSE_RANGE = (0.0, 1.0)
EXACT_WHILE = ENV_SIDE_EXACT_WHILE
SYMPTOM = "the chosen action is replaced by the previous one at random: slower learning, every check at 0"


class StickyActions(EnvFault):
    STATE = ("previous",)

    def reset(self, **kwargs):
        self.previous = torch.full((self.num_envs,), -1, dtype=torch.int64)  # -1: an episode's first step
        return super().reset(**kwargs)

    def step(self, actions):
        chosen = torch.as_tensor(np.asarray(actions), dtype=torch.int64)
        repeat = torch.as_tensor(self.happens()) & (self.previous >= 0)
        executed = torch.where(repeat, self.previous, chosen)
        obs, reward, terminated, truncated, info = self.env.step(executed.numpy().astype(np.asarray(actions).dtype))
        ended = torch.as_tensor(np.logical_or(terminated, truncated))
        self.previous = torch.where(ended, torch.full_like(executed, -1), executed)
        return obs, reward, terminated, truncated, info


def inject(seams, dose: float):
    return inject_fault(seams, StickyActions, dose)
