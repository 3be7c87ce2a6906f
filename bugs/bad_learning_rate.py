"""The learning rate is off by orders of magnitude (0, or absurdly large).

Story: "Even very subtle choices of learning rate and weight initialization can make a
big difference" (FSDL troubleshooting lecture); a unit mix-up (1e-4 typed as 1e4), a
schedule that decays to 0 at step 0, or a config override that never applied.

Seam: ``optimizer_step``. Every step runs with the configured lr times ``dose``.

Dose: the multiplier (default 100.0: absurd); 0.0 freezes learning, 1.0 is clean.

Symptoms: dose 100: parameter norms jump and grow, update ratios ~1e-1 instead of
~1e-3, gradient spikes, value divergence, often non-finite values; dose 0: a perfect
plateau at the random policy's return, update ratio exactly 0.
"""

from __future__ import annotations

import dataclasses

SEAM = "optimizer_step"
DOSE = 100.0
DOSE_RANGE = (0.0, 1e6)
SYMPTOM = "x100: parameter norm and update ratio blow up, divergence; x0: flat at random return"


def inject(seams, dose: float):
    if dose == 1.0:
        return seams
    clean = seams.optimizer_step
    base_lr: dict[int, float] = {}

    def optimizer_step(optimizer, loss, parameters, max_grad_norm):
        for i, group in enumerate(optimizer.param_groups):
            base_lr.setdefault(i, group["lr"])
            group["lr"] = base_lr[i] * dose
        return clean(optimizer, loss, parameters, max_grad_norm)

    return dataclasses.replace(seams, optimizer_step=optimizer_step)
