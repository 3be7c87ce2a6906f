"""Observations fed to the training step lag the actions and rewards by k steps.

Story: Nelson Elhage's Pong actor-critic ("Systems That Defy Detailed Understanding", 2020-02-22,
blog.nelhage.com): "I had an off-by-one error when feeding frames into the training step.
Because deep neural networks are so d--n good at learning, they were still able to extract
signal from the misaligned frames and start learning; but eventually the bad data won out."
Months of debugging.

Seam: ``training_forward``. The training forward pass sees the observation from k steps
earlier (the same env; across rollout boundaries the previous rollout's frames are kept),
paired with the action, reward and advantage of step t. Acting is untouched, so the agent
still plays from the right frame; only what it learns from is shifted.

Dose: k, the lag in steps (default 1). k = 0 is the clean agent.

Symptoms: learns early (consecutive frames are similar, so the signal survives), then
worse final return than clean; the acting/training KL (``policy/act_train_kl``) is non-zero
from the first update, explained variance lower (values are trained on the wrong frames); on
CartPole the return rises, then falls or stalls; on Catch it learns, then its gradient norm
explodes and the return falls back to random play (``python -m rl_lab.elhage``). On Pong
(one seed, 3M steps, ``results/known_result/pong/off_by_one.md``) it never learned at all:
entropy collapse at 892k steps, value divergence at 1.18M, while the clean run reached -15 at 4.08M.
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "training_forward"
DOSE = 1
DOSE_RANGE = (0, 1000)
SYMPTOM = "learns, then stalls or decays: lower explained variance and final return than clean"
MYSTERY_DOSES = (1, 2, 3)  # the doses bug=mystery plants it at


def shift_observations(obs: torch.Tensor, history: list[torch.Tensor], k: int) -> torch.Tensor:
    """``obs`` (T, N, ...) -> the observations k steps earlier, using ``history`` (the previous
    rollouts' last frames, oldest first) before the first step; the first rollout repeats its
    first frame. Updates ``history`` in place to this rollout's last k frames."""
    past = history if history else [obs[0]] * k
    extended = torch.cat([torch.stack(past[-k:]), obs]) if k else obs
    history[:] = list(extended[-k:]) if k else []
    return extended[: obs.shape[0]]


class LaggedTrainingForward:
    """The training forward pass on observations k steps old; keeps the last k frames of each
    env between rollouts (its state, saved with the checkpoint)."""

    def __init__(self, k: int):
        self.k = k
        self.history: list[torch.Tensor] = []

    def __call__(self, model, rollout):
        model.train()
        shifted = shift_observations(rollout.obs, self.history, self.k)
        n_steps, n_envs = rollout.actions.shape
        logits, values = model(shifted.flatten(0, 1))
        return logits.view(n_steps, n_envs, -1), values.view(n_steps, n_envs)

    def state_dict(self) -> dict:
        return {"history": torch.stack(self.history) if self.history else torch.zeros(0)}

    def load_state_dict(self, state: dict) -> None:
        self.history = list(state["history"]) if state["history"].numel() else []


def inject(seams, dose: float):
    k = int(dose)
    if k != dose:
        raise ValueError("must be a whole number of steps")
    if k == 0:
        return seams
    return dataclasses.replace(seams, training_forward=LaggedTrainingForward(k))
