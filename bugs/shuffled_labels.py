"""Value targets and advantages are permuted across the batch, apart from their observations.

Story: the supervised-learning classic "labels shuffled apart from their data" (FSDL
troubleshooting lecture: "inspect the data for shuffled labels"), in its RL form: a
dataloader or an index bug pairs each observation with another transition's return and
advantage, e.g. after sorting one array and not the other.

Seam: ``compute_returns``. A fraction p of the (return, advantage) pairs of the batch are
moved to other positions by a random permutation (a generator of its own, seeded, so the
agent's action stream is the clean one's).

Dose: p in [0, 1], the shuffled fraction (default 1.0). p = 0 is the clean agent.

Symptoms: with p = 1 no learning at all: return at or below the random policy's level,
explained variance near 0, and the policy drifts to a confident wrong choice (entropy
below clean: random advantages still move the logits); intermediate p slow learning.
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "compute_returns"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "no learning: explained variance ~0, return at or below random"
MYSTERY_DOSES = (0.5, 1.0)  # the doses bug=mystery plants it at


def shuffle_fraction(x: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """The indices of ``x.numel()`` items with a fraction ``p`` of them permuted among themselves."""
    n = x.numel()
    chosen = torch.randperm(n, generator=generator)[: round(p * n)]
    index = torch.arange(n)
    index[chosen] = chosen[torch.randperm(chosen.numel(), generator=generator)]
    return index


class ShuffledReturns:
    """The clean returns and advantages, a fraction p of them permuted; its generator is its
    state, saved with the checkpoint."""

    def __init__(self, clean, p: float):
        self.clean, self.p = clean, p
        self.generator = torch.Generator().manual_seed(0)

    def __call__(self, rewards, values, dones, last_value, gamma, gae_lambda):
        returns, advantages = self.clean(rewards, values, dones, last_value, gamma, gae_lambda)
        index = shuffle_fraction(returns, self.p, self.generator)
        return returns.flatten()[index].view_as(returns), advantages.flatten()[index].view_as(advantages)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def inject(seams, dose: float):
    if dose == 0:
        return seams
    return dataclasses.replace(seams, compute_returns=ShuffledReturns(seams.compute_returns, dose))
