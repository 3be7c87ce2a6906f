"""Frames skipped twice: a wrapper repeats each action ``dose`` times around an env that already acts
once per agent step.

Story: ALE's ``v5`` environments skip frames inside (``frameskip=4``, once 5: Farama-Foundation/
Arcade-Learning-Environment #443), and the DeepMind-style wrappers skip again (SB3's AtariWrapper,
gym's ``AtariPreprocessing``, which once asserted ``NoFrameskip`` in the id for this reason: openai/
baselines #89, openai/gym #2454 and #2512, Farama-Foundation/Gymnasium #702). Wrapped around a
``v5`` id, the agent acts every 16 frames instead of 4.

Seam: ``wrap_env``. Each agent step steps the env ``dose`` times with the same actions and returns
the last observation and the summed reward. An env whose episode ends at an inner step reports
that end (its final observation, terminated or truncated, the reward up to it); the rest of its
inner steps play on in its next episode unseen.

Dose: the number of env steps per agent step, a whole number from 1 (no fault) up (default 2).

Symptoms: the agent decides half as often, and learns worse where that costs control (Catch);
every data-path check stays at 0.
Measured on Catch (``python scripts/env_faults.py env=catch steps=100000``, seed 200, 100k steps;
clean calibration median 0.9, random play -0.62): final return 0.78 (dose 2) and 0.44 (dose 4), both
flagged by ``critic_surprised`` (14,000; 12,000); no exact check fired.
On CartPole (``python scripts/env_faults.py env=cartpole``, seed 200, 500k steps; clean calibration
median 500, random play 21.8): final return 473 (dose 2) and 499 (dose 4), no detector: CartPole
at 500k learns through it.
"""

from __future__ import annotations

import numpy as np
from rl_lab.bugs._env_faults import ENV_SIDE_EXACT_WHILE, EnvFault, final_observations, inject_fault

SEAM = "wrap_env"
DOSE = 2
DOSE_RANGE = (1, 8)
EXACT_WHILE = ENV_SIDE_EXACT_WHILE
SYMPTOM = "the agent acts every `dose` env steps: coarser control, lower return, every check at 0"


class FrameSkipTwice(EnvFault):
    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        reward, terminated, truncated = reward.copy(), terminated.copy(), truncated.copy()
        info = dict(info)
        final_obs, has_final = final_observations(info, self.num_envs)
        ended = np.logical_or(terminated, truncated)
        for _ in range(int(self.dose) - 1):
            obs, inner_reward, inner_terminated, inner_truncated, inner_info = self.env.step(actions)
            live = ~ended
            reward += np.where(live, inner_reward, 0)
            terminated |= live & inner_terminated
            truncated |= live & inner_truncated
            for i in np.flatnonzero(live & np.logical_or(inner_terminated, inner_truncated)):
                final_obs[i], has_final[i] = inner_info["final_obs"][i], True
            ended = np.logical_or(terminated, truncated)
        info["final_obs"], info["_final_obs"] = final_obs, has_final
        return obs, reward, terminated, truncated, info


def inject(seams, dose: float):
    if dose != int(dose):
        raise ValueError("the number of env steps per agent step must be a whole number")
    return inject_fault(seams, FrameSkipTwice, dose)
