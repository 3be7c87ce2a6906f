"""PPO's advantage normalization loses its parentheses: A - mean / std instead of (A - mean) / std.

Story: Omegastick/pytorch-cpp-rl #14: ``advantages = (advantages - advantages.mean() /
(advantages.std() + 1e-5))``, an operator-precedence typo the author confirmed ("definitely a
typo"). The advantages are shifted by mean/std and never scaled.

Seam: ``normalize_advantages``. The output is ``A - mean(A) / (std(A) + 1e-8)``, mixed with the
clean normalization: ``dose * bug + (1 - dose) * clean``.

Dose: the share of the wrong normalization, in [0, 1] (default 1.0).

Symptoms: the policy term sees advantages at their raw scale with a small shift: with large
returns its steps grow, with small ones they shrink, against the value term's. The output is not
the normalized input: ``advantage_norm_consistency`` fires at the first log point.
"""

from __future__ import annotations

import dataclasses

SEAM = "normalize_advantages"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "advantages shifted by mean/std, never scaled; advantage_norm_consistency"


def inject(seams, dose: float):
    normalize_advantages = seams.normalize_advantages

    def advantage_norm_precedence(advantages):
        if len(advantages) < 2:
            return normalize_advantages(advantages)
        wrong = advantages - advantages.mean() / (advantages.std() + 1e-8)
        return dose * wrong + (1.0 - dose) * normalize_advantages(advantages)

    return dataclasses.replace(seams, normalize_advantages=advantage_norm_precedence)
