"""PPO's unclipped surrogate is weighted by the minibatch's mean advantage, not each sample's.

Story: Omegastick/pytorch-cpp-rl #14 ("Typos in some ppo equations": ``surr_1 = ratio *
advantages.mean()`` where each sample's advantage belongs; the author: "leftover debug code", and
"I'm interested in why it works at all").

Seam: ``clipped_surrogate``. The unclipped term is ``r * mean(A)``; the clipped one stays
``clip(r) A``, averaged before the min, as in the report. Mixed with the clean loss: ``dose * bug +
(1 - dose) * clean``.

Dose: the share of the wrong loss, in [0, 1] (default 1.0).

Symptoms: with normalized advantages mean(A) is 0, so the unclipped term sends no gradient and
the policy barely learns from its own advantages. At the first minibatch the loss's value can
still match (r = 1); its gradient with respect to the ratio does not:
``surrogate_gradient_consistency`` fires at the first log point.
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "clipped_surrogate"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "the policy term weights every sample by the mean advantage; surrogate_gradient_consistency"


def inject(seams, dose: float):
    clipped_surrogate = seams.clipped_surrogate

    def surrogate_mean_before_min(ratio, advantages, clip_range):
        unclipped = ratio * advantages.mean()
        clipped = (torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range) * advantages).mean()
        wrong = -torch.min(unclipped, clipped).mean()
        return dose * wrong + (1.0 - dose) * clipped_surrogate(ratio, advantages, clip_range)

    return dataclasses.replace(seams, clipped_surrogate=surrogate_mean_before_min)
