"""The value loss has the wrong sign: the critic maximises its error.

Story: the sign-flip family (FSDL troubleshooting lecture, "error goes up"), on the critic:
``loss = policy_loss - vf_coef * value_loss`` written by analogy with the entropy bonus.

Seam: ``value_loss``. The loss is multiplied by (1 - 2 * dose); dose 1 negates it.

Dose: in [0, 1] (default 1.0); 0 is clean.

Symptoms: the critic runs away from the returns: values driven to one extreme (CartPole:
about -100 while returns are below 10), explained variance ~0, gradient norm x24 over
clean; the policy gets garbage advantages and the return falls below random.
"""

from __future__ import annotations

import dataclasses

from rl_lab.bugs._sign import flip_sign

SEAM = "value_loss"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "values run away from the returns, gradient norm x24, return below random"


def inject(seams, dose: float):
    return dataclasses.replace(seams, value_loss=flip_sign(seams.value_loss, dose))
