"""Time limits set in two places: a second, shorter time limit around the env's own.

Story: CartPole-v0 ends episodes at 200 steps, v1 at 500; a ``TimeLimit`` from one place (a
registration, ``gym.make(..., max_episode_steps=...)``, a wrapper list in a config) silently caps
episodes that code elsewhere expects to run to another limit (openai/gym #463: "How to configure
the cartpole environment such that it is not capped at 200?"; dennybritz/reinforcement-learning
#107: gym 0.7.4 started wrapping every env in ``TimeLimit``, and MountainCar stopped learning).

Seam: ``wrap_env``. Every episode is truncated after ``dose`` agent steps (a time-limit end: the
final observation in ``info``, the env reset), whichever limit comes first.

Dose: the outer limit in steps, a whole number (default 200, CartPole-v0's).

Symptoms: the return is capped at the limit, below the env's solved return; the agent itself
learns as it would (the ends are truncations, bootstrapped). Every data-path check stays at 0.
Measured on CartPole at 500k, seed 200 (``python scripts/env_faults.py env=cartpole``,
``results/detectors/env_faults_cartpole.md``): a limit of 100 ends at 99.7 (``learns_worse`` at
38,000), 200 at 200 (``plateau`` at 323,000 only), 400 at 244 (no detector), against clean's 500;
no exact check fired. In the fast tier's 20,000 steps nothing fires.
"""

from __future__ import annotations

import numpy as np
import torch
from rl_lab.bugs._env_faults import ENV_SIDE_EXACT_WHILE, EnvFault, final_observations, inject_fault

SEAM = "wrap_env"
DOSE = 200
DOSE_RANGE = (1, 1_000_000)
ENVS = ("cartpole",)  # a partial reset of one sub-env: gymnasium's SyncVectorEnv's reset_mask
EXACT_WHILE = ENV_SIDE_EXACT_WHILE
SYMPTOM = "episodes cut at `dose` steps: the return is capped below the solved return, every check at 0"


class TimeLimitTwice(EnvFault):
    STATE = ("elapsed",)

    def reset(self, **kwargs):
        self.elapsed = torch.zeros(self.num_envs, dtype=torch.int64)
        return super().reset(**kwargs)

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        ended = np.logical_or(terminated, truncated)
        self.elapsed = torch.where(torch.as_tensor(ended), 0, self.elapsed + 1)
        cut = self.elapsed.numpy() >= self.dose
        if cut.any():
            info = dict(info)
            final_obs, has_final = final_observations(info, self.num_envs)
            for i in np.flatnonzero(cut):
                final_obs[i], has_final[i] = obs[i], True
            info["final_obs"], info["_final_obs"] = final_obs, has_final
            first_obs, _ = self.env.reset(options={"reset_mask": cut})
            obs = np.where(cut.reshape(-1, *[1] * (obs.ndim - 1)), first_obs, obs)
            truncated = np.logical_or(truncated, cut)
            self.elapsed[torch.as_tensor(cut)] = 0
        return obs, reward, terminated, truncated, info


def inject(seams, dose: float):
    if dose != int(dose):
        raise ValueError("the time limit must be a whole number of steps")
    return inject_fault(seams, TimeLimitTwice, dose)
