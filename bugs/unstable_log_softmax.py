"""log(softmax(x)) computed in two steps: a probability that underflows to 0 gives -inf, then NaN.

Story: the numerically unstable log-softmax. ``torch.log(torch.softmax(logits, -1))``
equals ``log_softmax`` until one probability underflows (float32: logit gaps above ~104);
then the log-prob is -inf, the loss inf or NaN, and the next update writes NaN into every
weight. It hides until the policy becomes confident.

Seam: ``log_prob``. Log-probs are ``log(softmax(dose * logits))`` gathered at the actions;
``dose`` scales the logits inside, to bring the failure within a short run (1.0: the
bug as it is written in the wild).

Dose: logit scale (default 40.0, so that a CartPole run meets it within a minute).

Symptoms: fine until a probability underflows, then non-finite loss and gradient at once:
the run diverges with NaN (diagnostics/nonfinite_count > 0).
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "log_prob"
DOSE = 40.0
DOSE_RANGE = (0.0, 1e6)
SYMPTOM = "fine, then a sudden NaN when the policy gets confident: non-finite divergence"


def inject(seams, dose: float):
    def log_prob(logits, actions):
        probs = torch.softmax(dose * logits, dim=-1)
        return torch.log(probs).gather(-1, actions.unsqueeze(-1)).squeeze(-1)

    return dataclasses.replace(seams, log_prob=log_prob)
