"""PPO's ratio is taken against the current policy, not the one that acted: it is always 1.

Story: the "old" log-probabilities recomputed with the network being trained instead of kept
from the rollout, so pi/pi_old is exactly 1 and the clip never acts: higgsfield-ai/higgsfield
#20 ("Error in PPO implementation?": ``old_log_probs`` computed with the same policy as
``new_log_probs``, also seen in another popular implementation), tensorforce/tensorforce #312
("Possible bug: prob_ratio always 1").

Seam: ``probability_ratio``. The denominator is ``dose * log pi(a|s).detach() + (1 - dose) *
log pi_old(a|s)``: at dose 1 the ratio is 1 with the gradient of log pi, so the loss is a plain
policy gradient on normalized advantages, repeated for every minibatch and epoch, unclipped.

Dose: the share of pi_old replaced by the current policy, in [0, 1] (default 1.0).

Symptoms: ``ppo/clip_fraction`` stays 0; the update is larger than PPO allows (approximate KL per
epoch grows). The ratio differs from exp(log pi - log pi_old) from the second minibatch step on:
``ratio_consistency`` fires at the first log point.
"""

from __future__ import annotations

import dataclasses

SEAM = "probability_ratio"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "the ratio is always 1, the clip never acts; clip fraction 0; ratio_consistency"
EXACT_WHILE = "one minibatch step per update (n_epochs 1, batch_size the whole rollout): pi is then pi_old"


def inject(seams, dose: float):
    probability_ratio = seams.probability_ratio

    def ratio_against_current_policy(log_probs, old_log_probs):
        current = log_probs.detach()
        return probability_ratio(log_probs, dose * current + (1.0 - dose) * old_log_probs)

    return dataclasses.replace(seams, probability_ratio=ratio_against_current_policy)
