"""A stuck sensor: with probability ``dose`` an env returns its previous observation again.

Story: a reading that did not refresh: a stuck sensor (Dulac-Arnold et al., "Challenges of
real-world reinforcement learning", Machine Learning 2021; google-research/realworldrl_suite), a
video frame grabbed before the next one arrived, a simulator that renders at a lower rate than it
steps.

Seam: ``wrap_env``. Each env's observation, with probability ``dose`` per step, is the one it
returned at the step before (repeats can chain); across an episode's end, that is the last one
seen of the finished episode.

Dose: the probability per env and step, in [0, 1] (default 0.2).

Symptoms: the agent acts on a stale state a share of the time; a lower return where timing
matters (CartPole). Every data-path check stays at 0.
Measured on Catch (``python scripts/env_faults.py env=catch steps=100000``, seed 200, 100k steps;
clean calibration median 0.9, random play -0.62): final return 0.92, 0.78, 0.76 and 0.5 at 0.05,
0.1, 0.2 and 0.5; flagged at 0.2 and 0.5 (``critic_surprised``, 14,000 and 12,000); no exact check
fired.
On CartPole (``python scripts/env_faults.py env=cartpole``, seed 200, 500k steps; clean calibration
median 500, random play 21.8): 500 at 0.05-0.1, 485 at 0.2, 326 at 0.5; no detector.
"""

from __future__ import annotations

import numpy as np
import torch
from rl_lab.bugs._env_faults import ENV_SIDE_EXACT_WHILE, ObservationFault, inject_fault

SEAM = "wrap_env"
DOSE = 0.2
DOSE_RANGE = (0.0, 1.0)
EXACT_WHILE = ENV_SIDE_EXACT_WHILE
SYMPTOM = "a share of observations repeat the previous one: a lower return, every check at 0"


class ObservationRepeated(ObservationFault):
    STATE = ("previous",)
    previous: torch.Tensor | None = None

    def corrupt(self, obs, hit):
        if self.previous is not None:
            obs = np.where(hit.reshape(-1, *[1] * (obs.ndim - 1)), self.previous.numpy(), obs)
        self.previous = torch.from_numpy(np.array(obs))
        return obs


def inject(seams, dose: float):
    return inject_fault(seams, ObservationRepeated, dose)
