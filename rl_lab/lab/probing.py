"""Probes and the overfit-one-batch check: localize a bug in seconds (the command: ``python -m rl_lab.probe``).

A full run takes minutes to hours and a bug shows in it only as a worse curve. A probe
environment (:mod:`rl_lab.envs.probes`) has an answer known in closed form, so a correct
agent solves it in seconds and a broken part of the agent fails a specific probe (Andy
Jones's probe environments; "overfit a single batch" from Full Stack Deep Learning's
troubleshooting lecture). Probes train the configured agent (its network, optimizer, seams
and hyperparameters, bugs included) with the A2C loop of :mod:`rl_lab.agent.a2c`, except that
``gamma`` is :data:`PROBE_GAMMA`: with 0.99 a missing discount would move V(0) by 0.01,
below any tolerance; with 0.5 it moves it by 0.5.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import hydra
import numpy as np
import torch

from rl_lab.agent.a2c import A2C
from rl_lab.envs import SAME_STEP
from rl_lab.envs.probes import POLICY_TOLERANCE, PROBES, VALUE_TOLERANCE, VARIANTS, Check, Probe, ProbeEnv
from rl_lab.run.config import TrainConfig
from rl_lab.run.training import build_agent

PROBE_GAMMA = 0.5
EVAL_EVERY = 10  # updates between two evaluations of the checks
CONFIRM = 3  # a probe is solved once its checks pass at this many evaluations in a row


@dataclass
class ProbeResult:
    probe: str
    variant: str
    tests: str
    passed: bool
    updates: int  # updates until solved (CONFIRM evaluations in a row), or the whole budget
    measured: dict[str, float]  # check label -> last measured value
    targets: dict[str, float]
    error: str = ""  # the exception that ended the probe early, if any


def _measure(agent: A2C, env: ProbeEnv, checks: list[Check]) -> dict[str, float]:
    model, seams = agent.model, agent.seams
    x = seams.preprocess(np.stack([env.encode(c.state) for c in checks])).to(agent.device)
    seams.acting_mode(model)
    with torch.no_grad():
        logits, values = model(x)
        probs = torch.softmax(logits, dim=-1)
    return {c.label: float(values[i] if c.action is None else probs[i, c.action]) for i, c in enumerate(checks)}


def run_probe(probe: Probe, variant: str, settings: TrainConfig, seed: int = 0) -> ProbeResult:
    """Train the configured agent on one probe until its checks hold ``CONFIRM`` evaluations
    in a row, or its budget ends."""
    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r} is invalid: valid choices are {', '.join(VARIANTS)}")
    image = variant == "image"
    hp = dataclasses.replace(settings.agent, gamma=PROBE_GAMMA)
    envs = gym.vector.SyncVectorEnv([lambda: probe.env(image) for _ in range(hp.n_envs)], **SAME_STEP)
    single = probe.env(image)
    checks = single.checks(PROBE_GAMMA)
    result = ProbeResult(probe.name, variant, single.tests, False, 0, {}, {c.label: c.target for c in checks})
    try:
        agent = build_agent(settings, envs, seed, hp)
        streak = 0
        for update in range(1, probe.max_updates + 1):
            agent.update(agent.collect_rollout())
            result.updates = update
            if update % EVAL_EVERY == 0:
                result.measured = _measure(agent, single, checks)
                ok = all(c.passes(result.measured[c.label]) for c in checks)
                streak = streak + 1 if ok else 0
                if streak == CONFIRM:
                    result.passed = True
                    break
    except (ValueError, RuntimeError) as error:  # e.g. Categorical rejecting NaN logits
        result.error = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    finally:
        envs.close()
    return result


@dataclass
class OverfitResult:
    passed: bool
    steps: int  # optimizer steps until both fits held, or the whole budget
    batch_size: int
    value_loss_start: float
    value_loss_end: float
    action_accuracy: float  # fraction of the batch whose fixed action is the most probable one
    mean_action_prob: float
    error: str = ""


OVERFIT_STEPS = 3000
PROBED_ALGORITHM = A2C.SEAMS.ALGORITHM  # the probes and the overfit check drive A2C's seams
OVERFIT_WARMUP = 100  # rollouts played (no learning) before the batch is taken
OVERFIT_LR_SCALE = 10.0  # one batch has no noise to average out
OVERFIT_VALUE_RATIO = 0.01  # value loss must fall below this fraction of its start,
OVERFIT_VALUE_FLOOR = 0.005  # or below this: an RMS error of 0.07 where rewards are of size 1
OVERFIT_ACTION_PROB = 0.9  # mean probability of the fixed actions must exceed this


def overfit_one_batch(agent: A2C, max_steps: int = OVERFIT_STEPS) -> OverfitResult:
    """Fit one fixed rollout: the value head to its returns, the policy head to its actions.

    The batch is the rollout after ``OVERFIT_WARMUP`` rollouts of play without learning
    (CartPole's start states are nearly identical; by then episodes have spread out). Its
    returns are computed once, through the ``compute_returns`` seam; then the network is
    trained on that batch alone. The value part is ``value_loss(values, returns)``, the
    policy part ``policy_loss(log_probs, 1)``: with every advantage 1 the policy-gradient
    loss is the negative log-likelihood of the fixed actions. Both go through the agent's
    seams and optimizer (at ``OVERFIT_LR_SCALE`` times its learning rate: at the training
    rate the fit is slow), so a broken loss,
    backward pass or optimizer step shows as a batch that will not fit. The value fit counts
    as done below 1% of its starting loss, or below ``OVERFIT_VALUE_FLOOR`` (Pong's early
    returns are near 0, so its starting loss is already small). The targets are made a function
    of the input first (:func:`consistent_targets`): Catch's batch holds the same frame with
    different actions and returns, which no network can fit.
    """
    seams, hp = agent.seams, agent.hp
    for _ in range(OVERFIT_WARMUP):
        agent.collect_rollout()
    rollout = agent.collect_rollout()
    returns, _ = seams.compute_returns(
        rollout.rewards + hp.gamma * rollout.truncation_values,
        rollout.values,
        rollout.dones,
        rollout.last_value,
        hp.gamma,
        hp.gae_lambda,
    )
    actions, returns = consistent_targets(rollout.obs, rollout.actions, returns)
    ones = torch.ones_like(returns)
    for group in agent.optimizer.param_groups:
        group["lr"] *= OVERFIT_LR_SCALE
    result = OverfitResult(False, 0, returns.numel(), math.nan, math.nan, 0.0, 0.0)
    try:
        for step in range(1, max_steps + 1):
            logits, values = seams.training_forward(agent.model, rollout)
            value_loss = seams.value_loss(values, returns)
            fit_loss = seams.policy_loss(seams.log_prob(logits, actions), ones)
            seams.optimizer_step(agent.optimizer, value_loss + fit_loss, agent.parameters, hp.max_grad_norm)
            probs = torch.softmax(logits.detach(), dim=-1)
            result.steps = step
            result.value_loss_end = float(value_loss.detach())
            if step == 1:
                result.value_loss_start = float(value_loss.detach())
            result.mean_action_prob = float(probs.gather(-1, actions.unsqueeze(-1)).mean())
            result.action_accuracy = float((probs.argmax(-1) == actions).float().mean())
            if (
                result.value_loss_end <= max(OVERFIT_VALUE_RATIO * result.value_loss_start, OVERFIT_VALUE_FLOOR)
                and result.mean_action_prob >= OVERFIT_ACTION_PROB
            ):
                result.passed = True
                break
    except (ValueError, RuntimeError) as error:
        result.error = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return result


def consistent_targets(
    obs: torch.Tensor, actions: torch.Tensor, returns: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Actions and returns ``(T, N)`` made a function of the observation: every sample of a distinct
    observation gets that observation's most frequent action (the lowest of a tie) and its mean
    return. A batch of distinct observations (CartPole's) is returned unchanged."""
    _, group = torch.unique(obs.flatten(2).flatten(0, 1), dim=0, return_inverse=True)
    flat_actions, flat_returns = actions.flatten().clone(), returns.flatten().clone()
    for g in group.unique():
        members = (group == g).nonzero().flatten()
        if members.numel() > 1:
            counts = torch.bincount(flat_actions[members])
            flat_actions[members] = int(counts.argmax())
            flat_returns[members] = flat_returns[members].mean()
    return flat_actions.view_as(actions), flat_returns.view_as(returns)


def variants_for(settings: TrainConfig) -> tuple[str, ...]:
    """The probe variants the configured network takes: a CNN takes only images."""
    model_class = hydra.utils.get_class(settings.agent.model["_target_"])
    return ("image",) if getattr(model_class, "takes_images_only", False) else VARIANTS


def run_all(settings: TrainConfig, seed: int = 0) -> list[ProbeResult]:
    """Every probe in every variant the configured network takes."""
    return [run_probe(probe, variant, settings, seed) for probe in PROBES for variant in variants_for(settings)]


def _tolerance(label: str, target: float) -> str:
    """What a check accepts: a policy check a probability of the right action, a value check a band."""
    return f">= {target - POLICY_TOLERANCE:.2f}" if label.startswith("pi(") else f"+- {VALUE_TOLERANCE:g}"


def format_table(results: list[ProbeResult], overfit: OverfitResult) -> str:
    lines = [
        f"{'probe':13s} {'obs':6s} {'check':10s} {'answer':>7s} {'accepts':>8s} {'measured':>9s}  "
        f"{'result':6s} {'updates':>7s}"
    ]
    for r in results:
        for i, (label, target) in enumerate(r.targets.items()):
            measured = r.measured.get(label, float("nan"))
            head = f"{r.probe:13s} {r.variant:6s}" if i == 0 else " " * 20
            tail = f"{'pass' if r.passed else 'FAIL':6s} {r.updates:7d}" if i == 0 else ""
            tolerance = _tolerance(label, target)
            lines.append(f"{head} {label:10s} {target:7.3f} {tolerance:>8s} {measured:9.3f}  {tail}".rstrip())
        if r.error:
            lines.append(f"{'':20s} stopped by {r.error}")
    lines.append(
        f"overfit one batch ({overfit.batch_size} samples): value loss {overfit.value_loss_start:.4g} -> "
        f"{overfit.value_loss_end:.4g}, fixed actions p={overfit.mean_action_prob:.3f} "
        f"(accuracy {overfit.action_accuracy:.2f}) after {overfit.steps} steps: "
        f"{'pass' if overfit.passed else 'FAIL'}" + (f" ({overfit.error})" if overfit.error else "")
    )
    lines.append(
        f"  (passes when the value loss falls below {OVERFIT_VALUE_RATIO:g} of its start or below "
        f"{OVERFIT_VALUE_FLOOR:g}, and the fixed actions' mean probability exceeds {OVERFIT_ACTION_PROB:g}, "
        f"within {OVERFIT_STEPS:,} steps)"
    )
    return "\n".join(lines)


def matrix_markdown(reports: dict[str, dict[str, Any]]) -> str:
    """A bug x probe table from ``{bug name: probes.json content}``: which probe localizes which bug.

    A passing cell shows the updates (probes) or optimizer steps (overfit) it took."""
    first = next(iter(reports.values()))
    columns = [f"{p['probe']}/{p['variant']}" for p in first["probes"]] + ["overfit"]
    lines = [
        "| bug | " + " | ".join(columns) + " | failed |",
        "|---|" + "---|" * (len(columns) + 1),
    ]
    uncaught = []
    for bug, report in reports.items():
        checks = [*report["probes"], report["overfit"]]
        failed = [c for c, check in zip(columns, checks, strict=True) if not check["passed"]]
        if bug != "none" and not failed:
            uncaught.append(bug)
        cells = [f"pass {c.get('updates', c.get('steps'))}" if c["passed"] else "**FAIL**" for c in checks]
        lines.append(f"| {bug} | " + " | ".join(cells) + f" | {len(failed)} of {len(columns)} |")
    lines.append("")
    lines.append(f"Bugs no probe catches: {', '.join(uncaught) if uncaught else 'none'}.")
    return "\n".join(lines)
