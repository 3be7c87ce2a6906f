"""PPO's clipped surrogate takes the max where it must take the min: the optimistic bound.

Story: the pessimistic bound min(r A, clip(r) A) turned around. yandexdataschool/Practical_RL #248
(a course's PPO loss written as max(r A, clip(r) A), "maximizing the minimum is not minimising the
maximum"); tensorforce/tensorforce #106 (no min taken, fixed); openai/baselines #1156, where John
Schulman answers that baselines' max is right for a loss, and "if you flip it the wrong way, the
algorithm doesn't work at all".

Seam: ``clipped_surrogate``. The loss is ``-mean(max(r A, clip(r, 1 - eps, 1 + eps) A))``, mixed
with the clean loss: ``dose * bug + (1 - dose) * clean``.

Dose: the share of the optimistic loss, in [0, 1] (default 1.0).

Symptoms: where the ratio leaves the clip range the update pushes it further instead of stopping:
approximate KL and clip fraction climb, learning is erratic. The loss differs from the clipped
surrogate of its own ratio, advantages and clip range: ``surrogate_consistency`` fires once a ratio
leaves the clip range (from the second minibatch step, at the latest when the policy moves).
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "clipped_surrogate"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "the optimistic bound: the clip pushes instead of stopping; KL climbs; surrogate_consistency"
EXACT_WHILE = "every ratio is within the clip range (max and min then coincide)"


def inject(seams, dose: float):
    clipped_surrogate = seams.clipped_surrogate

    def surrogate_max(ratio, advantages, clip_range):
        clipped = torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
        optimistic = -torch.max(advantages * ratio, advantages * clipped).mean()
        return dose * optimistic + (1.0 - dose) * clipped_surrogate(ratio, advantages, clip_range)

    return dataclasses.replace(seams, clipped_surrogate=surrogate_max)
