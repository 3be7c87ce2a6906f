"""PPO's min is taken over the ratio and its clipped value before they are weighted by the advantage.

Story: takuseno/ppo #3 ("Incorrect Surrogate Loss Equation": the minimum taken before multiplying
by the advantages, so the direction of the advantage no longer decides which side is clipped;
confirmed and fixed by the author). The paper: "the probability ratio r is clipped at 1 - eps or
1 + eps depending on whether the advantage is positive or negative".

Seam: ``clipped_surrogate``. The loss is ``-mean(min(r, clip(r, 1 - eps, 1 + eps)) * A)``, mixed
with the clean loss: ``dose * bug + (1 - dose) * clean``.

Dose: the share of the wrong loss, in [0, 1] (default 1.0).

Symptoms: for negative advantages a ratio below 1 - eps keeps its gradient and one above 1 + eps
is capped: the update is clipped on the wrong side. ``surrogate_consistency`` fires once a ratio
leaves the clip range on the side where the two differ.
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "clipped_surrogate"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "the clip acts on the wrong side for negative advantages; surrogate_consistency"
EXACT_WHILE = "every ratio is within the clip range"


def inject(seams, dose: float):
    clipped_surrogate = seams.clipped_surrogate

    def ratio_clipped_before_advantage(ratio, advantages, clip_range):
        smaller = torch.min(ratio, torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range))
        wrong = -(smaller * advantages).mean()
        return dose * wrong + (1.0 - dose) * clipped_surrogate(ratio, advantages, clip_range)

    return dataclasses.replace(seams, clipped_surrogate=ratio_clipped_before_advantage)
