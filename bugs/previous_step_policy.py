"""Actions drawn from the policy of the previous step: the logits are one step stale.

Story: an acting loop that samples from a distribution computed before the environment stepped
(a cached ``dist`` object, or logits kept from the last call) instead of the one for the current
observation: Elhage's off-by-one on the acting side. The training step then credits each action
to the wrong state. ikostrikov/pytorch-a2c-ppo-acktr #74 and HumanCompatibleAI/imitation #423 are
the acting-policy mix-ups of ``greedy_acting``; this is the temporal one.

Seam: ``choose_action``. Each env's action is sampled from the logits of the previous call (the
previous step; at the first call, the current ones) with probability ``dose``, else from the
current logits. The previous logits are saved with the checkpoint.

Dose: the probability of acting on the stale distribution, in [0, 1] (default 1.0).

Symptoms: ``act_train_consistency`` stays 0 (the logits are right; the draw is not);
``acting_distribution`` (``policy/acting_evidence``) fires once the policy tells states apart.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

SEAM = "choose_action"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "actions from the last step's policy; acting_distribution once the policy tells states apart"
EXACT_WHILE = "the policy is the same at consecutive steps (early: near uniform everywhere)"


class StaleChoice:
    def __init__(self, sample, dose: float):
        self.sample, self.dose = sample, dose
        self.previous: torch.Tensor | None = None

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        previous = logits if self.previous is None else self.previous
        self.previous = logits.detach().clone()
        current, stale = self.sample(logits), self.sample(previous)
        return torch.where(torch.rand(current.shape) < self.dose, stale, current)

    def state_dict(self) -> dict[str, Any]:
        return {"previous": self.previous}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.previous = state["previous"]


def inject(seams, dose: float):
    return dataclasses.replace(seams, choose_action=StaleChoice(seams.choose_action, dose))
