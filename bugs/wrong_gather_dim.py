"""The taken action's log-prob is gathered along the batch axis instead of the action axis.

Story: ``log_probs.gather(0, actions.unsqueeze(-1))`` where ``gather(1, ...)`` was meant:
it runs (the index fits), and returns the log-prob of action 0 at observation number
``action``. The policy gradient then trains the wrong action at the wrong observation.

Seam: ``log_prob``. On the flattened batch, entry i is log pi(action 0 | obs[actions[i]]).

Dose: none; any value applies the bug (default 1.0).

Symptoms: no learning signal for the actions taken: the return stays near random, the
probability of action 0 at the first few observations is driven up or down by
unrelated advantages (entropy drifts, logits spread grows); the critic trains normally
(explained variance fine), which localises the fault to the policy term.
"""

from __future__ import annotations

import dataclasses

SEAM = "log_prob"
DOSE = 1.0
SYMPTOM = "return stays near random while the critic trains fine"


def inject(seams, dose: float):
    def log_prob(logits, actions):
        flat = logits.reshape(-1, logits.shape[-1]).log_softmax(-1)
        return flat.gather(0, actions.reshape(-1, 1)).squeeze(-1).view_as(actions)

    return dataclasses.replace(seams, log_prob=log_prob)
