"""A noisy reward: with probability ``dose`` standard normal noise is added to an env's reward.

Story: a reward read from a noisy measurement or a mis-synchronised scorer; Dulac-Arnold et al.,
"Challenges of real-world reinforcement learning" (Machine Learning 2021; google-research/
realworldrl_suite); Wang et al., "Reinforcement Learning with Perturbed Rewards" (AAAI 2020).

Seam: ``wrap_env``. Each env's reward, with probability ``dose`` per step, gets N(0, 1) added.
The logged return is the noisy one too (the episode statistics count what the env returned); the
noise has mean 0, so it moves the mean return only through what the agent learns.

Dose: the probability per env and step, in [0, 1] (default 0.5).

Symptoms: noisier returns and advantages: slower learning, lower explained variance. Every
data-path check stays at 0.
Measured on Catch (``python scripts/env_faults.py env=catch steps=100000``, seed 200, 100k steps;
clean calibration median 0.9, random play -0.62): final return 0.87, 0.90, 0.82 and 1.11 (noisy) at
0.05, 0.1, 0.2 and 0.5, every one flagged by ``critic_surprised`` at 10,000; no exact check fired.
On CartPole (``python scripts/env_faults.py env=cartpole``, seed 200, 500k steps; clean calibration
median 500, random play 21.8): 467-500 at 0.05-0.5 (every reward is +1, the noise of mean 0),
no detector.
"""

from __future__ import annotations

import torch
from rl_lab.bugs._env_faults import ENV_SIDE_EXACT_WHILE, EnvFault, inject_fault

SEAM = "wrap_env"
DOSE = 0.5
DOSE_RANGE = (0.0, 1.0)
EXACT_WHILE = ENV_SIDE_EXACT_WHILE
SYMPTOM = "N(0, 1) added to a share of rewards: slower learning, lower explained variance, every check at 0"


class RewardNoise(EnvFault):
    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        noise = torch.randn(self.num_envs, dtype=torch.float64).numpy() * self.happens()
        return obs, (reward + noise).astype(reward.dtype), terminated, truncated, info


def inject(seams, dose: float):
    return inject_fault(seams, RewardNoise, dose)
