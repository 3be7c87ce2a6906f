"""Softmax computed as exp(x) / sum(exp(x)) in float16, without subtracting the max.

Story: hand-written softmax (or mixed precision) where ``exp`` overflows: float16's largest
value is 65504, so any logit above ~11.1 makes ``exp`` infinite and the probability NaN.
The classic fix, subtracting the max first, is exactly what was left out.

Seam: ``entropy``. The entropy is computed from that softmax; ``dose`` scales the logits
inside, to bring the overflow within a short run (1.0: as written in the wild).

Dose: logit scale (default 20.0).

Symptoms: correct while logits are small, then inf/NaN in the entropy term, the loss and
every gradient: a non-finite divergence at the moment the policy gets confident.
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "entropy"
DOSE = 20.0
DOSE_RANGE = (0.0, 1e6)
SYMPTOM = "fine while logits are small, then inf/NaN entropy and loss: non-finite divergence"


def inject(seams, dose: float):
    def entropy(logits):
        e = torch.exp((dose * logits).half())
        probs = (e / e.sum(-1, keepdim=True)).float()
        return -(probs * torch.log(probs)).sum(-1)

    return dataclasses.replace(seams, entropy=entropy)
