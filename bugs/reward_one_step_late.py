"""Each reward is recorded with the step after the one that earned it.

Story: openai/spinningup #50, "Silent bug in ppo implementation - rewards shifted": "in each
buffer slot the reward _before_ the corresponding observation is stored instead of the
reward after the observation ... This bug is silent in most control problems (where
rewards are dense)". Its author, in #67: "it is equivalent to delaying a reward by one
timestep, which makes the credit assignment problem slightly worse". Fixed in 2020.

Seam: ``record_transition``. The rollout records, at each step, the reward the env
returned ``dose`` steps earlier in the same env (0 before the first); a reward that ends an
episode is recorded with the next episode's first step. Episode ends and bootstraps are
untouched. The pending rewards are kept between rollouts (and in the checkpoint).

Dose: the lag in steps, a whole number (default 1; 0 is the clean agent).

Symptoms (the fast atlas, 20k steps, seeds 0-2): none on CartPole, where every reward is +1
and a late one is the same number (return 158 against 150, p = 0.14; no check can see it).
On Catch, whose one reward comes at the end, the reward for a catch lands in the next episode:
the agent stays at random play (return -0.68 against 0.83, p = 8e-10) and its critic fits
worse. ``record_consistency`` (``data/record_gap``) fires at the first log point (1,040) there.
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "record_transition"
DOSE = 1
DOSE_RANGE = (0, 1000)
SYMPTOM = "sparse rewards land an episode late: Catch stays random; inert on CartPole; record_consistency"
EXACT_WHILE = "each reward so far equals the one before it in its env (on CartPole: always, +1)"


class LateReward:
    """``record`` with each reward replaced by the one ``lag`` steps earlier (state: the pending rewards)."""

    def __init__(self, record, lag: int):
        self.record, self.lag = record, lag
        self.pending: list[torch.Tensor] = []  # the last `lag` rewards, oldest first

    def __call__(self, step, value_of):
        recorded = self.record(step, value_of)
        if not self.pending:
            self.pending = [torch.zeros_like(recorded.reward)] * self.lag
        self.pending.append(recorded.reward)
        recorded.reward = self.pending.pop(0)
        return recorded

    def state_dict(self) -> dict:
        return {"pending": torch.stack(self.pending) if self.pending else torch.zeros(0)}

    def load_state_dict(self, state: dict) -> None:
        self.pending = list(state["pending"]) if state["pending"].numel() else []


def inject(seams, dose: float):
    lag = int(dose)
    if lag != dose:
        raise ValueError("must be a whole number of steps")
    if lag == 0:
        return seams
    return dataclasses.replace(seams, record_transition=LateReward(seams.record_transition, lag))
