"""A time-limit end reported as a termination: the env's ``truncated`` folded into ``terminated``.

Story: before gym 0.26 an env returned one ``done``; a time-limit end was told apart only by
``info["TimeLimit.truncated"]``, and code that converts between the two APIs, or an env that
builds its own ``done``, loses it (openai/gym #3102; Farama-Foundation/Gymnasium #101: "this
information is lost in gym 0.26", which broke DLR-RM/rl-baselines3-zoo #256; Pardo et al., "Time
Limits in Reinforcement Learning", ICML 2018, on what treating time-outs as terminal does).

Seam: ``wrap_env``. With probability ``dose``, each time-limit end is returned as ``terminated``
and not ``truncated``; the agent then does not bootstrap it, as it must not for a real end.
``bug=timeout_as_terminal`` is the same mistake in the agent's recording, where the checks see it.

Dose: the share of time-limit ends reported as terminations, in [0, 1] (default 1).

Symptoms: only where episodes reach the time limit (CartPole at 500 once it has learned): the
value of states near the limit is pulled to 0, the critic cannot tell them apart (the time is not
in the observation), and the return may waver below 500. Every data-path check stays at 0.
Measured on CartPole at 500k, seed 200 (``python scripts/env_faults.py env=cartpole``,
``results/detectors/env_faults_cartpole.md``): at doses 0.5 and 1 the run still ends at 500 (the
last 100 episodes) and no detector fires; the wavering was not seen on that seed. In the fast
tier's 20,000 steps nothing fires either (episodes there rarely reach the limit).
"""

from __future__ import annotations

import numpy as np
from rl_lab.bugs._env_faults import EnvFault, inject_fault

SEAM = "wrap_env"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
ENVS = ("cartpole", "pong", "pong_sb3")  # Catch's episodes end by themselves, never at a time limit
SYMPTOM = "time-limit ends not bootstrapped: the critic and the return waver at the limit, every check at 0"
EXACT_WHILE = "no episode reaches its time limit; else always, as the checks compare the agent with its env"


class TruncationAsTermination(EnvFault):
    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        folded = np.logical_and(truncated, ~np.asarray(terminated)) & self.happens()
        return obs, reward, np.logical_or(terminated, folded), np.logical_and(truncated, ~folded), info


def inject(seams, dose: float):
    return inject_fault(seams, TruncationAsTermination, dose)
