"""After an episode ends, the agent acts once more on its final observation, not on the reset one.

Story: gymnasium 1.0 changed its vector environments' autoreset from the step that ends an
episode (SAME_STEP: the reset observation is returned at once, the final one goes to
``info``) to the step after it (NEXT_STEP). vwxyzjn/cleanrl #499: "Quite a few things
changed with Gymnasium 1.0 ... how final observations are stored when episode terminates";
"Being careless about this small change" is the writeup's warning; Farama added the
``autoreset_mode`` choice in gymnasium 1.1 (PR #1227) because users mixed the two. Code that
assumes one mode on an env of the other pairs the wrong observation with an action at every
episode boundary.

Seam: ``next_observation``. Where an episode ended, the observation the next action is
chosen from is the ended episode's final observation (``info["final_obs"]``) instead of the
next episode's first; the step after, the env's observations are used again.

Dose: none; any value applies the bug (default 1.0).

Symptoms: one action per episode is chosen from a stale state, and the rollout records it as
the new episode's first step. No return changes significantly (the fast atlas, 20k steps,
seeds 0-2: CartPole 145 against 150, p = 0.94; Catch 0.92 against 0.83, p = 0.90): a silent
bug. ``next_observation_consistency`` (``data/next_obs_gap``: the share of steps acted on
another observation than the env returned) fires at the first log point after the first
episode end (every rollout is checked; the fast tier's steps: ``results/atlas/fast``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

SEAM = "next_observation"
DOSE = 1.0
SYMPTOM = "acts once per episode on the previous episode's final state; next_observation_consistency"
EXACT_WHILE = "no episode has ended yet"


def next_observation(obs, step):
    ended = np.logical_or(step.terminated, step.truncated)
    if not ended.any():
        return step.obs
    return np.stack([step.info["final_obs"][i] if end else step.obs[i] for i, end in enumerate(ended)])


def inject(seams, dose: float):
    return dataclasses.replace(seams, next_observation=next_observation)
