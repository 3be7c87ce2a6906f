"""PPO's ratio is clipped to [eps, 1 + eps] instead of [1 - eps, 1 + eps].

Story: ChenmienTan/RL2 PR #21 ("Fix PPO Clip": "Clip range should be [1 - eps, 1 + eps], not
[eps, 1 + eps]"), merged. A dropped ``1 -`` leaves the lower bound at eps (0.1 or 0.2), far
below 1: a ratio can fall almost to eps before the clip acts.

Seam: ``clipped_surrogate``. The lower clip bound is ``(1 - dose) * (1 - eps) + dose * eps``.

Dose: how far the lower bound moves from 1 - eps towards eps, in [0, 1] (default 1.0).

Symptoms: for negative advantages the probability of a bad action can be pushed far down in one
update: larger updates, a clip fraction that undercounts. ``surrogate_consistency`` fires once a
ratio falls below 1 - eps (its loss is then not the clipped surrogate of its ratio).
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "clipped_surrogate"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "the ratio's lower clip bound is eps, not 1 - eps; surrogate_consistency"
EXACT_WHILE = "no ratio falls below 1 - clip_range"


def inject(seams, dose: float):
    def clip_lower_bound_wrong(ratio, advantages, clip_range):
        lower = (1.0 - dose) * (1.0 - clip_range) + dose * clip_range
        clipped = torch.clamp(ratio, lower, 1.0 + clip_range)
        return -torch.min(advantages * ratio, advantages * clipped).mean()

    return dataclasses.replace(seams, clipped_surrogate=clip_lower_bound_wrong)
