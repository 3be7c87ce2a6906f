"""Values of shape (N, 1) meet returns of shape (N,): the MSE silently broadcasts to (N, N).

Story: "Incorrect shapes for the network tensors ... can fail silently ... because the
automatic differentiation systems do silent broadcasting" (FSDL troubleshooting
lecture). Forgetting ``.squeeze(-1)`` on the value head makes ``F.mse_loss`` compare every
value with every return (PyTorch only warns, and warnings get filtered).

Seam: ``value_loss``. The loss is the mean over all (i, j) of (return_j - value_i)^2.

Dose: none; any value applies the bug (default 1.0).

Symptoms: every value is pulled to the batch mean of the returns: explained variance
stuck near 0 (CartPole: 3e-6 against 0.97) while the value loss looks reasonable;
advantages become returns minus a per-batch constant, a REINFORCE-with-baseline
that still learns CartPole: only the critic's numbers give it away. The exact check:
``value/loss_gap`` (the value loss against the MSE recomputed from the same values and
returns) is above 0, so ``value_loss_consistency`` fires at the first log point.
"""

from __future__ import annotations

import dataclasses
import warnings

import torch.nn.functional as F

SEAM = "value_loss"
DOSE = 1.0
SYMPTOM = "values collapse to the batch mean: explained variance ~0; the return may look fine"


def inject(seams, dose: float):
    def value_loss(values, returns):
        with warnings.catch_warnings():  # the real bug's warning is usually filtered, too
            warnings.simplefilter("ignore")
            return F.mse_loss(returns.flatten(), values.flatten().unsqueeze(-1))

    return dataclasses.replace(seams, value_loss=value_loss)
