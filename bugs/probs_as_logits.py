"""Softmax probabilities are passed where logits are expected.

Story: "Incorrect input to the model's loss function: for example, you use softmax
outputs to a loss that expects logits" (FSDL troubleshooting lecture). In RL: the policy
head already applies a softmax, and ``Categorical(logits=probs)`` softmaxes again.

Seam: ``log_prob`` and ``entropy``, which both build the distribution: both see
softmax(logits) as their logits. Acting is untouched.

Dose: none; any value applies the bug (default 1.0).

Symptoms: the training distribution is squashed towards uniform (softmax of values in
[0, 1]) and its gradients are tiny, but RMSprop divides by their running scale, so
learning goes on. The logits grow large to make the squashed distribution move
(CartPole: logits range 9.5 against 1.2 clean), and the acting policy becomes
near-deterministic (entropy 0.13 against 0.75) while the loss still sees a near-uniform one.
"""

from __future__ import annotations

import dataclasses

SEAM = ("log_prob", "entropy")
DOSE = 1.0
SYMPTOM = "logits spread grows x8, acting entropy collapses; RMSprop hides the tiny gradients"


def inject(seams, dose: float):
    clean_log_prob, clean_entropy = seams.log_prob, seams.entropy
    return dataclasses.replace(
        seams,
        log_prob=lambda logits, actions: clean_log_prob(logits.softmax(-1), actions),
        entropy=lambda logits: clean_entropy(logits.softmax(-1)),
    )
