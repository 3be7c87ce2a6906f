"""A sensor that returns noise: with probability ``dose`` an env's observation is pure noise.

Story: a faulty or dropped sensor reading, one of the perturbations of Dulac-Arnold et al.,
"Challenges of real-world reinforcement learning: definitions, benchmarks and analysis" (Machine
Learning 2021; google-research/realworldrl_suite: noise, stuck and dropped sensors), and of the
anomaly benchmarks built on gym (modanesh/anomalous_rl_envs: "IID noise", "sensor shutdown").
In software: a camera frame read before it is written, a buffer from another process.

Seam: ``wrap_env``. Each env's observation (after a step or a reset), with probability ``dose``,
is replaced by noise of its shape and type: uniform over the observation space where it is
bounded (an image's 0-255), standard normal where it is not (CartPole's state).

Dose: the probability per env and step, in [0, 1] (default 0.2).

Symptoms: the agent acts on noise a share of the time and its critic cannot fit those steps:
lower return, lower explained variance; every data-path check stays at 0.
Measured on Catch (``python scripts/env_faults.py env=catch steps=100000``, seed 200, 100k steps;
clean calibration median 0.9, random play -0.62): final return 0.66, 0.62, 0.62 and -0.2 at 0.05,
0.1, 0.2 and 0.5, each flagged (``early_learning`` at 10,000; ``critic_surprised`` at 29,040 and
12,000; ``critic_fits_worse`` at 13,040); no exact check fired.
On CartPole (``python scripts/env_faults.py env=cartpole``, seed 200, 500k steps; clean calibration
median 500, random play 21.8): 191, 131, 95 and 73 at 0.05-0.5; flagged at 0.2
(``learns_worse``, 149,000) and 0.5 (18,000) only.
"""

from __future__ import annotations

import numpy as np
from rl_lab.bugs._env_faults import ENV_SIDE_EXACT_WHILE, ObservationFault, inject_fault, noise_like

SEAM = "wrap_env"
DOSE = 0.2
DOSE_RANGE = (0.0, 1.0)
EXACT_WHILE = ENV_SIDE_EXACT_WHILE
SYMPTOM = "a share of observations are noise: lower return and explained variance, every check at 0"


class ObservationReplacedByNoise(ObservationFault):
    def corrupt(self, obs, hit):
        hit = hit.reshape(-1, *[1] * (obs.ndim - 1))
        return np.where(hit, noise_like(self.single_observation_space, self.num_envs), obs)


def inject(seams, dose: float):
    return inject_fault(seams, ObservationReplacedByNoise, dose)
