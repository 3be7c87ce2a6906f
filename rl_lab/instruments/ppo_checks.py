"""Checks from PPO's definition: what any correct PPO update satisfies, whatever the bug.

:class:`PPOObserver` wraps PPO's own seams (and the optimizer step) from inside the instrument
(``Diagnostics.observe``); during an armed update it records what each seam was given and what it
returned, and after the update (``checks``) holds them to PPO's definition:

``ppo/minibatch_gap``         every epoch's minibatches partition the batch: each sample exactly once
                              (the share of samples drawn other than once, worst epoch)
``ppo/old_log_prob_gap``      the ratio's denominator is the acting policy's log-probability of the
                              taken action (from the rollout's acting logits), not one recomputed
                              later: the largest |difference|, every minibatch
``ppo/first_ratio_gap``       the ratio is exactly 1 on the first minibatch of the first epoch, where the
                              trained policy is still the acting one (the largest |ratio - 1|; models
                              without dropout, whose train and eval passes agree)
``ppo/ratio_gap``             the ratio is exp(log pi - log pi_old) of the log-probabilities it was given
``ppo/advantage_norm_gap``    the minibatch's advantages normalized: (A - mean) / (std + 1e-8)
``ppo/surrogate_gap``         the policy loss is -mean(min(r A, clip(r, 1 - eps, 1 + eps) A)) of the ratio,
                              advantages and clip range it was given (relative to mean |r A|)
``ppo/surrogate_gradient_gap`` and its gradient with respect to the ratio is that loss's (relative)
``ppo/value_clip_gap``        the value prediction is clipped around the acting critic's value of each
                              sample (the rollout's), within the clip range, or not at all without one
``ppo/schedule_gap``          each scheduled value (learning rate, clip range) is its schedule's at the
                              progress the loop gave (relative to the initial value)
``policy/log_prob_gap``       the seams both algorithms share, as A2C's panel checks them
``policy/entropy_gap``        (rl_lab/instruments/diagnostics.py), on every minibatch step: the
``value/loss_gap``            log-probabilities, the entropies and the value loss recomputed from
                              what each seam was given, and
``grads/value_term_gap``      each term's gradient with respect to what its seam was given (the
``grads/entropy_term_gap``    value prediction, the logits) against the clean term's (relative)
``params/step_gap``           the first minibatch step moved the parameters as the configured optimizer
                              steps on the gradient it held, with the learning rate the loop set
                              (the schedule's: a wrong schedule is the schedule's check's)
``grads/grad_gap``            the first minibatch step's gradient (before clipping) is the gradient of
                              PPO's loss recomputed independently: the clean definitions on that
                              minibatch, the acting policy's log-probabilities and values, the returns
                              and advantages of the recorded rollout, the parameters before the update,
                              train mode; as A2C's (rl_lab/instruments/definition.py). Not with dropout.

Each is 0 in a correct PPO up to float32 rounding (the recomputations run the same operations on the
same tensors); the detectors allow 1e-4. Nothing here changes the run: the observer reads tensors,
differentiates retained graphs with ``torch.autograd.grad`` (which fills no ``.grad``), and the
reference gradient runs under a forked random state on copies of the buffers.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.distributions import Categorical
from torch.func import functional_call

from rl_lab.agent import seams as clean
from rl_lab.instruments.definition import (
    Observed,
    gradient_gap,
    output_gradients,
    relative_difference,
    replayed_step_gap,
)

if TYPE_CHECKING:
    from rl_lab.agent.rollout import Rollout
    from rl_lab.agent.seams import PPOSeams
    from rl_lab.run.config import PPOConfig

PPO_CHECK_SERIES = (
    "ppo/minibatch_gap",
    "ppo/old_log_prob_gap",
    "ppo/first_ratio_gap",
    "ppo/ratio_gap",
    "ppo/advantage_norm_gap",
    "ppo/surrogate_gap",
    "ppo/surrogate_gradient_gap",
    "ppo/value_clip_gap",
    "ppo/schedule_gap",
)


def _largest(values: list[float]) -> float:
    return max(values, default=0.0)


class PPOObserver:
    """Records PPO's seams during an armed update (see the module doc); ``checks`` reads them."""

    def __init__(self, mode_dependent: bool):
        self.mode_dependent = mode_dependent
        self.armed = False
        self.parameters: dict[int, str] = {}  # the network's parameters' names, by id (observe)
        self._reset()

    def _reset(self) -> None:
        self.epochs: list[tuple[int, list[torch.Tensor]]] = []  # (n_samples, the minibatches) per call
        self.ratios: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (log-probs, old, ratio)
        self.normalized: list[float] = []
        self.surrogates: list[tuple[float, float]] = []  # (value gap, gradient gap)
        self.value_clips: list[tuple[torch.Tensor, float]] = []  # (old values given, recomputation gap)
        self.schedules: list[tuple[float, float, str, float]] = []  # (initial, progress, kind, returned)
        self.first_gradient: dict[str, torch.Tensor] | None = None  # the first step's, before clipping
        self.step_gap: float | None = None  # the first step against the optimizer's, replayed
        self.log_prob_gaps: list[float] = []
        self.entropies: list[tuple[float, float]] = []  # (value gap, gradient gap)
        self.value_losses: list[tuple[float, float]] = []  # (value gap, gradient gap)

    def observe(self, seams: PPOSeams, model: nn.Module) -> PPOSeams:
        """``seams`` with the observers around PPO's parts and the optimizer step (``model``: whose
        parameters the step's gradient is read from)."""
        self.parameters = {id(p): name for name, p in model.named_parameters()}
        return dataclasses.replace(
            seams,
            minibatches=Observed(seams.minibatches, self._minibatches),
            probability_ratio=Observed(seams.probability_ratio, self._ratio),
            normalize_advantages=Observed(seams.normalize_advantages, self._normalize),
            clipped_surrogate=Observed(seams.clipped_surrogate, self._surrogate),
            clip_values=Observed(seams.clip_values, self._clip_values),
            schedule=Observed(seams.schedule, self._schedule),
            log_prob=Observed(seams.log_prob, self._log_prob),
            entropy=Observed(seams.entropy, self._entropy),
            value_loss=Observed(seams.value_loss, self._value_loss),
            optimizer_step=Observed(seams.optimizer_step, self._optimizer_step),
        )

    def arm(self) -> None:
        self.armed = True
        self._reset()

    def _minibatches(self, inner, n_samples, batch_size):
        pieces = inner(n_samples, batch_size)
        if self.armed:
            self.epochs.append((n_samples, [p.detach().clone() for p in pieces]))
        return pieces

    def _ratio(self, inner, log_probs, old_log_probs):
        ratio = inner(log_probs, old_log_probs)
        if self.armed:
            self.ratios.append((log_probs.detach().clone(), old_log_probs.detach().clone(), ratio.detach().clone()))
        return ratio

    def _normalize(self, inner, advantages):
        out = inner(advantages)
        if self.armed:
            reference = clean.normalize_advantages(advantages.detach())
            self.normalized.append((out.detach() - reference).abs().max().item() if len(out) else 0.0)
        return out

    def _surrogate(self, inner, ratio, advantages, clip_range):
        out = inner(ratio, advantages, clip_range)
        if self.armed:
            leaf = ratio.detach().requires_grad_()
            reference = clean.clipped_surrogate(leaf, advantages.detach(), clip_range)
            scale = max((ratio.detach() * advantages.detach()).abs().mean().item(), 1e-12)
            value_gap = abs(out.item() - reference.item()) / scale
            run_gradient = output_gradients(out, (ratio,))[0]
            clean_gradient = torch.autograd.grad(reference, leaf)[0]
            norm = max(clean_gradient.norm().item(), 1e-12)
            self.surrogates.append((value_gap, (run_gradient - clean_gradient).norm().item() / norm))
        return out

    def _clip_values(self, inner, values, old_values, clip_range_vf):
        out = inner(values, old_values, clip_range_vf)
        if self.armed:
            reference = clean.clip_values(values.detach(), old_values.detach(), clip_range_vf)
            gap = ((out.detach() - reference).abs() / (1.0 + reference.abs())).max().item() if len(out) else 0.0
            self.value_clips.append((old_values.detach().clone(), gap))
        return out

    def _schedule(self, inner, initial, progress_remaining, kind):
        value = inner(initial, progress_remaining, kind)
        if self.armed:
            self.schedules.append((initial, progress_remaining, kind, value))
        return value

    def _log_prob(self, inner, logits, actions):
        out = inner(logits, actions)
        if self.armed:
            self.log_prob_gaps.append((out.detach() - clean.log_prob(logits.detach(), actions)).abs().mean().item())
        return out

    def _entropy(self, inner, logits):
        out = inner(logits)
        if self.armed:
            leaf = logits.detach().requires_grad_()
            reference = clean.entropy(leaf)
            value_gap = (out.detach() - reference.detach()).abs().max().item() if len(out) else 0.0
            # the loop takes the mean entropy: its gradient with respect to the logits the seam was given
            run_gradient = output_gradients(out.mean(), (logits,))
            clean_gradient = list(torch.autograd.grad(reference.mean(), leaf))
            self.entropies.append((value_gap, relative_difference(run_gradient, clean_gradient)))
        return out

    def _value_loss(self, inner, values, returns):
        out = inner(values, returns)
        if self.armed:
            leaf = values.detach().requires_grad_()
            reference = clean.value_loss(leaf, returns.detach())
            value_gap = abs(out.item() - reference.item()) / max(reference.item(), 1e-12)
            run_gradient = output_gradients(out, (values,))
            clean_gradient = list(torch.autograd.grad(reference, leaf))
            self.value_losses.append((value_gap, relative_difference(run_gradient, clean_gradient)))
        return out

    def _optimizer_step(self, inner, optimizer, loss, parameters, max_grad_norm):
        first = self.armed and self.step_gap is None
        if first:  # what the replay starts from: the parameters, the optimizer's state and the lr the loop set
            before = {id(p): p.detach().clone() for group in optimizer.param_groups for p in group["params"]}
            state, lr = copy.deepcopy(optimizer.state_dict()), optimizer.param_groups[0]["lr"]
        grad_norm = inner(optimizer, loss, parameters, max_grad_norm)
        if first:
            self.step_gap = replayed_step_gap(optimizer, state, before, lr)
        if self.armed and self.first_gradient is None and math.isfinite(grad_norm.item()):
            # clip_grad_norm_ scaled every gradient by one factor (torch's: max_norm / (norm + 1e-6), at most 1)
            scale = min(1.0, max_grad_norm / (grad_norm.item() + 1e-6))
            self.first_gradient = {
                self.parameters[id(p)]: p.grad.detach() / scale
                for p in parameters
                if p.grad is not None and id(p) in self.parameters
            }
        return grad_norm

    def checks(
        self,
        rollout: Rollout,
        hp: PPOConfig,
        model: nn.Module,
        parameters_before: dict[str, torch.Tensor],
        advantages: torch.Tensor,
        returns: torch.Tensor,
    ) -> dict[str, float]:
        """The series of the module doc after the armed update; ``advantages`` and ``returns`` are the
        clean ones of the rollout (the panel's SB3 reference), ``(T, N)``."""
        self.armed = False
        device = rollout.logits.device
        steps = [piece for _, pieces in self.epochs for piece in pieces]  # the minibatch of each step, in order
        acting_log_probs = Categorical(logits=rollout.logits.flatten(0, 1)).log_prob(rollout.actions.flatten())
        acting_values = rollout.values.flatten()
        out: dict[str, float] = {}
        partition_gaps = []
        for n_samples, pieces in self.epochs:
            counts = torch.bincount(torch.cat(pieces).cpu(), minlength=n_samples) if pieces else torch.zeros(n_samples)
            partition_gaps.append((counts[:n_samples] != 1).float().mean().item() + float(len(counts) > n_samples))
        out["ppo/minibatch_gap"] = _largest(partition_gaps)
        ratio_gaps, old_gaps = [], []
        for (log_probs, old, ratio), batch in zip(self.ratios, steps, strict=False):
            expected = torch.exp(log_probs - old)
            ratio_gaps.append(((ratio - expected).abs() / (1.0 + expected.abs())).max().item())
            old_gaps.append((old - acting_log_probs[batch.to(device)].to(old.device)).abs().max().item())
        out["ppo/ratio_gap"] = _largest(ratio_gaps)
        out["ppo/old_log_prob_gap"] = _largest(old_gaps)
        if self.ratios and not self.mode_dependent:
            out["ppo/first_ratio_gap"] = (self.ratios[0][2] - 1.0).abs().max().item()
        if hp.normalize_advantage:
            out["ppo/advantage_norm_gap"] = _largest(self.normalized)
        out["ppo/surrogate_gap"] = _largest([value for value, _ in self.surrogates])
        out["ppo/surrogate_gradient_gap"] = _largest([gradient for _, gradient in self.surrogates])
        clip_gaps = []
        for (old_values, gap), batch in zip(self.value_clips, steps, strict=False):
            acting = acting_values[batch.to(device)].to(old_values.device)
            clip_gaps.append(max(gap, ((old_values - acting).abs() / (1.0 + acting.abs())).max().item()))
        out["ppo/value_clip_gap"] = _largest(clip_gaps)
        out["policy/log_prob_gap"] = _largest(self.log_prob_gaps)
        out["policy/entropy_gap"] = _largest([value for value, _ in self.entropies])
        out["grads/entropy_term_gap"] = _largest([gradient for _, gradient in self.entropies])
        out["value/loss_gap"] = _largest([value for value, _ in self.value_losses])
        out["grads/value_term_gap"] = _largest([gradient for _, gradient in self.value_losses])
        if self.step_gap is not None:
            out["params/step_gap"] = self.step_gap
        out["ppo/schedule_gap"] = _largest(
            [
                abs(v - clean.schedule(initial, progress, kind)) / abs(initial)
                for initial, progress, kind, v in self.schedules
            ]
        )
        if not self.mode_dependent and self.first_gradient is not None and steps:
            progress = self.schedules[0][1] if self.schedules else 1.0
            reference = ppo_reference_gradient(
                model, parameters_before, rollout, steps[0], hp, progress, advantages, returns
            )
            out["grads/grad_gap"] = gradient_gap(self.first_gradient, reference)
        self._reset()
        return out


def ppo_reference_gradient(
    model: nn.Module,
    parameters: dict[str, torch.Tensor],
    rollout: Rollout,
    batch: torch.Tensor,
    hp: PPOConfig,
    progress_remaining: float,
    advantages: torch.Tensor,
    returns: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """The gradient of PPO's loss on one minibatch (``batch``: indices of the flattened rollout) at
    ``parameters``, from the clean definitions: pi_old and V_old the acting pass's, the clean returns
    and advantages, the clip range at ``progress_remaining``, the network in train mode."""
    leaves = {name: p.detach().requires_grad_() for name, p in parameters.items()}
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    device = next(iter(leaves.values())).device
    batch = batch.to(device)
    obs = rollout.obs.flatten(0, 1).to(device)[batch]
    actions = rollout.actions.flatten().to(device)[batch]
    old_log_probs = clean.log_prob(rollout.logits.flatten(0, 1).to(device)[batch], actions)
    old_values = rollout.values.flatten().to(device)[batch]
    modes = [(module, module.training) for module in model.modules()]
    model.train()
    try:
        with torch.random.fork_rng(devices=[]):
            logits, values = functional_call(model, {**leaves, **buffers}, (obs,))
    finally:
        for module, training in modes:
            module.training = training
    batch_advantages = advantages.flatten().to(device)[batch]
    if hp.normalize_advantage:
        batch_advantages = clean.normalize_advantages(batch_advantages)
    clip_range = clean.schedule(hp.clip_range, progress_remaining, hp.clip_range_schedule)
    ratio = clean.probability_ratio(clean.log_prob(logits, actions), old_log_probs)
    predicted = clean.clip_values(values, old_values, hp.clip_range_vf)
    loss = (
        clean.clipped_surrogate(ratio, batch_advantages, clip_range)
        - hp.ent_coef * clean.entropy(logits).mean()
        + hp.vf_coef * clean.value_loss(predicted, returns.flatten().to(device)[batch])
    )
    grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
    return {name: torch.zeros_like(p) if g is None else g for (name, p), g in zip(leaves.items(), grads, strict=True)}
