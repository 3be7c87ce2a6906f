"""``optimizer.zero_grad()`` is missing: gradients accumulate across updates.

Story: the most common PyTorch training-loop slip. Each step then follows the sum of all
past gradients; gradient clipping hides part of it, so it "works", badly.

Seam: ``optimizer_step``. Before the backward pass the old gradients are kept, scaled by
``dose`` (1.0: never zeroed; 0.0: the clean agent).

Dose: the fraction of the previous gradient kept, in [0, 1] (default 1.0).

Symptoms: every update follows a running sum of past gradients, a stale direction like
momentum without decay. Gradient clipping rescales the kept gradient in place, so the
norm does *not* grow (measured on CartPole: a median 7.9 against 11.3 clean). What shows is
the critic's fit: explained variance far below clean (0.23 against 0.97 over the second
half of a 100k-step CartPole run), and a return that rises and collapses. The exact check:
``grads/stale_ratio`` (what ``.grad`` held when the new gradient arrived) is above 0 from the
second update on, so ``stale_gradient`` fires at the first log point.
"""

from __future__ import annotations

import dataclasses

from torch import nn

SEAM = "optimizer_step"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
EXACT_WHILE = "no earlier update has left a gradient to keep (the run's first update)"
SYMPTOM = "stale summed gradients: explained variance far below clean, return rises and collapses"


def inject(seams, dose: float):
    if dose == 0:
        return seams

    def optimizer_step(optimizer, loss, parameters, max_grad_norm):
        for p in parameters:
            if p.grad is not None:
                p.grad.mul_(dose)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(parameters, max_grad_norm)
        optimizer.step()
        return grad_norm

    return dataclasses.replace(seams, optimizer_step=optimizer_step)
