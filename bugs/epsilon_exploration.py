"""Epsilon-greedy exploration left on in an on-policy agent: a few actions are uniform, not sampled.

Story: exploration noise from a value-based agent carried into a policy-gradient one, with the
log-probability still taken under the policy: the gradient is then off-policy and biased. The
review of coleam00/Archon PR #821 ("Epsilon-greedy log-prob is biased (off-policy); use behavior
distribution"); TonghanWang/DOP #21 ("Epsilon is applied twice?": a uniform epsilon mixed into
the policy, then again at action selection).

Seam: ``choose_action``. With probability ``dose`` per env step the action is uniform over the
actions, else sampled from the policy (torch's random generator, saved with the checkpoint).

Dose: the probability of a uniform action, in [0, 1] (default 0.05).

Symptoms: small: learning goes on a little worse. The taken actions are not a draw from the
acting policy: ``acting_distribution`` (``policy/acting_evidence``, an e-process over every action
of the run) fires once the policy is confident enough for a uniform action to be unlikely under it.
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "choose_action"
DOSE = 0.05
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "a share of uniform actions; acting_distribution, once the policy is confident"
EXACT_WHILE = (  # the check is statistical: it sums evidence over every action of the run
    "the policy is near uniform (a uniform action is then nearly as probable as a sample)"
)


def inject(seams, dose: float):
    sample = seams.choose_action

    def choose_action(logits):
        sampled = sample(logits)
        uniform = torch.randint(logits.shape[-1], sampled.shape)
        return torch.where(torch.rand(sampled.shape) < dose, uniform, sampled)

    return dataclasses.replace(seams, choose_action=choose_action)
