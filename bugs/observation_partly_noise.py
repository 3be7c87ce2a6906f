"""A sensor with dead pixels: with probability ``dose`` half an env's observation is noise.

Story: part of a reading corrupted, not all of it: a partly failed sensor, a frame torn between two
writes, a stale region of a shared buffer. Dulac-Arnold et al., "Challenges of real-world
reinforcement learning" (Machine Learning 2021; google-research/realworldrl_suite's noisy and
dropped sensors); modanesh/anomalous_rl_envs.

Seam: ``wrap_env``. Each env's observation, with probability ``dose`` per step, has each of its
entries replaced, with probability one half, by noise (as ``bug=observation_replaced_by_noise``).

Dose: the probability per env and step, in [0, 1] (default 0.2).

Symptoms: milder than all-noise: the agent still sees half of the state; lower return and
explained variance at a high dose. Every data-path check stays at 0.
Measured on Catch (``python scripts/env_faults.py env=catch steps=100000``, seed 200, 100k steps;
clean calibration median 0.9, random play -0.62): final return 0.96, 0.88, 0.54 and 0.78 at 0.05,
0.1, 0.2 and 0.5; flagged at 0.05, 0.1 (``critic_surprised``, 10,000-11,040) and 0.5
(``early_learning``, 10,000), not at 0.2; no exact check fired.
On CartPole (``python scripts/env_faults.py env=cartpole``, seed 200, 500k steps; clean calibration
median 500, random play 21.8): 91-110 at every dose; flagged by half the budget at 0.2
(``learns_worse``, 150,000) and 0.5 (``no_learning``, 20,000) only, the milder doses by
``return_envelope`` at 435,000-443,000.
"""

from __future__ import annotations

import numpy as np
import torch
from rl_lab.bugs._env_faults import ENV_SIDE_EXACT_WHILE, ObservationFault, inject_fault, noise_like

SEAM = "wrap_env"
DOSE = 0.2
DOSE_RANGE = (0.0, 1.0)
EXACT_WHILE = ENV_SIDE_EXACT_WHILE
SYMPTOM = "half of a share of observations is noise: a lower return at a high dose, every check at 0"


class ObservationPartlyNoise(ObservationFault):
    def corrupt(self, obs, hit):
        entries = (torch.rand(obs.shape) < 0.5).numpy() & hit.reshape(-1, *[1] * (obs.ndim - 1))
        return np.where(entries, noise_like(self.single_observation_space, self.num_envs), obs)


def inject(seams, dose: float):
    return inject_fault(seams, ObservationPartlyNoise, dose)
