"""The agent acts greedily while it trains: the most likely action instead of a sample.

Story: the acting policy of an on-policy method must be the policy being trained; a
``deterministic=True`` (an evaluation flag) left on in data collection breaks that.
HumanCompatibleAI/imitation PR #423 ("Set deterministic_policy of `exploration_wrapper` to
False") fixed rollouts that a stochastic policy was meant to collect; the reverse mix-up,
an ignored ``deterministic`` flag, is ikostrikov/pytorch-a2c-ppo-acktr #74 ("Yes, that's a
bug").

Seam: ``choose_action``. Each env's action is the argmax of the logits with probability
``dose``, else sampled from the policy (torch's random generator, saved with the checkpoint).

Dose: the probability of a greedy action per env step, in [0, 1] (default 1.0).

Symptoms (the fast atlas, 20k steps, seeds 0-2): the policy-gradient estimate is biased (the
log-probabilities of actions the policy did not sample are pushed): CartPole stalls at random
play (return 20.5 against 150, p = 1e-9) with its entropy down; Catch learns less (0.38
against 0.83, p = 0.05). The taken actions are more likely under the acting policy than
samples would be: ``action_sampling`` (``policy/action_logp_excess``) fires at 1,040-2,000
steps on Catch, at 9,000-10,000 on CartPole, whose near-uniform early policy makes a greedy
action barely likelier than a sample.
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "choose_action"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "no exploration: return stalls, taken actions likelier than samples; action_sampling"
EXACT_WHILE = (  # the check is statistical: it sums evidence over log points
    "the policy is near uniform (a greedy action is then nearly as probable as a sample)"
)


def inject(seams, dose: float):
    sample = seams.choose_action

    def choose_action(logits):
        greedy = logits.argmax(-1)
        if dose == 1.0:
            return greedy
        sampled = sample(logits)
        return torch.where(torch.rand(greedy.shape) < dose, greedy, sampled)

    return dataclasses.replace(seams, choose_action=choose_action)
