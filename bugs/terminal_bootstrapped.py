"""A terminal state is bootstrapped as if a time limit had cut the episode.

Story: the mirror image of ``timeout_as_terminal``, and as old. openai/spinningup #257
("Computing value of terminal state"): its PPO bootstraps ``v = V(o)`` when a timeout or the
end of an epoch coincides with a real termination, where the value must be 0; lazyprogrammer's
machine_learning_examples #13 ("most scripts don't consider the value of the terminal state
to be 0"). With gymnasium's ``terminated``/``truncated`` it is the swapped flag:
bootstrapping on ``terminated or truncated`` instead of on ``truncated and not terminated``.

Seam: ``record_transition``. Where the env terminated an episode, the recorded bootstrap is
``dose * V(final observation)`` (the acting critic's value of the state it ended in) instead
of 0; at dose 1 the end is recorded as a truncation.

Dose: the share of the value bootstrapped, in [0, 1] (default 1.0).

Symptoms (the fast atlas, 20k steps, seeds 0-2 against the clean control, Welch's test): on
CartPole, where every termination is a failure, falling costs nothing and the agent never
learns: return 15 against 150 (p = 2e-7), below random play. On Catch the return is unchanged
(0.98 against 0.83, p = 0.48) and the mean value is up (p = 0.038): a miss is followed by the
value of the state it ended in. ``record_consistency`` (``data/record_gap``) fires at the
first log point after the first termination (every rollout is checked).
"""

from __future__ import annotations

import dataclasses

import numpy as np

SEAM = "record_transition"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "CartPole never learns (falling costs nothing); Catch unharmed; record_consistency"
EXACT_WHILE = "no episode has terminated yet"


def inject(seams, dose: float):
    record = seams.record_transition

    def record_transition(step, value_of):
        recorded = record(step, value_of)
        ended = np.flatnonzero(step.terminated)
        if ended.size:
            final_obs = np.stack([step.info["final_obs"][i] for i in ended])
            recorded.truncation_value[ended] = dose * value_of(final_obs).cpu()
            if dose == 1.0:
                recorded.terminated[ended] = 0.0
                recorded.truncated[ended] = 1.0
        return recorded

    return dataclasses.replace(seams, record_transition=record_transition)
