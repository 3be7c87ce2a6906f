"""The policy-gradient term has the wrong sign: the agent makes good actions less likely.

Story: "Error goes up: commonly due to a flipped sign somewhere in the loss function or
gradient" (FSDL troubleshooting lecture). In policy gradients the minus in
``-(advantages * log_probs).mean()`` is easy to drop, or to apply twice.

Seam: ``policy_loss``. The loss is multiplied by (1 - 2 * dose): dose 1 negates it,
dose 0.5 removes it, dose 0 is clean. Value and entropy terms are untouched
(``value_sign_flip`` and ``entropy_sign_flip`` flip those).

Dose: how much of the sign is flipped, in [0, 1] (default 1.0).

Symptoms: return falls below the random policy's (CartPole: episodes shorter than a
random agent's ~22 steps); the entropy collapses as the policy locks onto bad actions;
explained variance stays fine (the critic is intact).
"""

from __future__ import annotations

import dataclasses

from rl_lab.bugs._sign import flip_sign

SEAM = "policy_loss"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "return falls below random, entropy collapses; critic unaffected"


def inject(seams, dose: float):
    return dataclasses.replace(seams, policy_loss=flip_sign(seams.policy_loss, dose))
