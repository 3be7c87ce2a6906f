"""Returns are accumulated forwards in time: each step is credited with the past, not the future.

Story: the RL data-order fault. A2C has no minibatches to leave unshuffled; its order
bugs live in the rollout: iterating ``range(T)`` where ``reversed(range(T))`` was meant, or
a buffer stored newest-first and discounted oldest-first. The targets still look like
discounted sums, so nothing crashes.

Seam: ``compute_returns``. The clean GAE recursion runs on the time-reversed rollout and
its result is reversed back: the return at step t sums the rewards *before* t.

Dose: none; any value applies the bug (default 1.0).

Symptoms: advantages unrelated to the consequences of the action: no policy learning
(return near random), value targets predictable only from the past: explained
variance low; value loss looks healthy.
"""

from __future__ import annotations

import dataclasses

SEAM = "compute_returns"
DOSE = 1.0
SYMPTOM = "credit flows backwards: return near random, low explained variance"


def inject(seams, dose: float):
    clean = seams.compute_returns

    def compute_returns(rewards, values, dones, last_value, gamma, gae_lambda):
        returns, advantages = clean(rewards.flip(0), values.flip(0), dones.flip(0), last_value, gamma, gae_lambda)
        return returns.flip(0), advantages.flip(0)

    return dataclasses.replace(seams, compute_returns=compute_returns)
