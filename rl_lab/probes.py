"""Probe environments and the overfit-one-batch check: localize a bug in seconds.

A full run takes minutes to hours and a bug shows in it only as a worse curve.
A probe is a task so small that its answer is known in closed form, so a
correct agent solves it in seconds and a broken part of the agent fails a
specific probe (Andy Jones's probe environments; the seeds' "overfit a single
batch", ``../shared/seeds/fsdl-lecture7-troubleshooting-dnns.txt``):

==================  ==========================================  ===============================
probe               task                                        answer; what it tests
==================  ==========================================  ===============================
``value``           1 action, observation 0, 1 step, reward +1  V = 1; value loss, optimizer
``discount``        1 action, 3 steps (observations -1, 0, 1),   V = gamma^2, gamma, 1;
                    reward +1 at the end                         discounting, bootstrapping,
                                                                 the order of time
``backprop``        1 action, observation +-1 at random,         V(s) = s; the gradient reaches
                    1 step, reward = observation                 the network through its input
``policy``          2 actions, observation 0, 1 step,            pi(1) = 1, V = 1; advantage and
                    reward +1 for action 1, -1 for action 0      policy loss
``policy_value``    2 actions, observation +-1 at random,        pi(s > 0) = 1, V = 1; policy and
                    1 step, reward +1 when the action matches    value together, batching
                    the observation's sign, else -1
==================  ==========================================  ===============================

Each probe comes as a ``vector`` variant (a float of shape ``(1,)``) and an
``image`` variant (a ``1x36x36`` uint8 image, the smallest input NatureCNN
takes, with a white band over its left, middle or right third for s = -1, 0, 1), so the CNN and the /255 path are probed
too. Probes train the configured agent (its network, optimizer, seams and
hyperparameters, bugs included) with the A2C loop of :mod:`rl_lab.a2c`, except
that ``gamma`` is :data:`PROBE_GAMMA`: with 0.99 a missing discount would move
V(0) by 0.01, below any tolerance; with 0.5 it moves it by 0.5.
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

from rl_lab.a2c import A2C
from rl_lab.config import TrainConfig
from rl_lab.envs import SAME_STEP
from rl_lab.train import build_agent

PROBE_GAMMA = 0.5
IMAGE_SHAPE = (1, 36, 36)
VALUE_TOLERANCE = 0.1  # a value check passes when |V - answer| <= this
POLICY_TOLERANCE = 0.05  # a policy check passes when pi(right action) >= 1 - this
EVAL_EVERY = 10  # updates between two evaluations of the checks
CONFIRM = 3  # a probe is solved once its checks pass at this many evaluations in a row


class ProbeEnv(gym.Env):
    """An episode of ``horizon`` steps over a scalar state ``s`` in {-1, 0, 1}, observed as a
    ``(1,)`` float vector or as a ``1x36x36`` uint8 image, black with a white band over its left,
    middle or right third for s = -1, 0, 1."""

    n_actions = 1
    horizon = 1
    tests = ""  # the part of the agent a failure points at

    def __init__(self, image: bool = False):
        self.image = image
        self.action_space = gym.spaces.Discrete(self.n_actions)
        if image:
            self.observation_space = gym.spaces.Box(0, 255, IMAGE_SHAPE, np.uint8)
        else:
            self.observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def encode(self, state: float) -> np.ndarray:
        if self.image:  # a white band over the left, middle or right third for s = -1, 0, 1
            image = np.zeros(IMAGE_SHAPE, dtype=np.uint8)
            third = IMAGE_SHAPE[-1] // 3
            start = round(state + 1) * third
            image[..., start : start + third] = 255
            return image
        return np.array([state], dtype=np.float32)

    def initial_state(self) -> float:
        return 0.0

    def reward(self, state: float, action: int, t: int) -> float:
        raise NotImplementedError

    def checks(self, gamma: float) -> list[Check]:
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t, self.state = 0, self.initial_state()
        return self.encode(self.state), {}

    def step(self, action):
        reward = self.reward(self.state, int(action), self.t)
        self.t += 1
        if self.t < self.horizon:  # only the discount probe has more than one state: -1, 0, 1
            self.state += 1.0
        return self.encode(self.state), reward, self.t >= self.horizon, False, {}


@dataclass(frozen=True)
class Check:
    """One analytic answer: the value of ``state``, or the probability of ``action`` there."""

    label: str
    state: float
    target: float
    action: int | None = None  # None: a value check

    def passes(self, measured: float) -> bool:
        if self.action is None:
            return abs(measured - self.target) <= VALUE_TOLERANCE
        return measured >= self.target - POLICY_TOLERANCE


class ValueProbe(ProbeEnv):
    tests = "value loss, optimizer"

    def reward(self, state, action, t):
        return 1.0

    def checks(self, gamma):
        return [Check("V(0)", 0.0, 1.0)]


class DiscountProbe(ProbeEnv):
    # Three steps, not two: a period-2 pattern of rewards and ends over a 5-step rollout
    # reads the same backwards, so a time-reversal bug would pass a two-step probe.
    horizon = 3
    tests = "discounting, bootstrapping, the order of time"

    def initial_state(self):
        return -1.0

    def reward(self, state, action, t):
        return 1.0 if t == self.horizon - 1 else 0.0

    def checks(self, gamma):
        return [Check("V(-1)", -1.0, gamma**2), Check("V(0)", 0.0, gamma), Check("V(+1)", 1.0, 1.0)]


class BackpropProbe(ProbeEnv):
    tests = "backprop from the loss through the network to its input"

    def initial_state(self):
        return float(self.np_random.choice([-1.0, 1.0]))

    def reward(self, state, action, t):
        return state

    def checks(self, gamma):
        return [Check("V(+1)", 1.0, 1.0), Check("V(-1)", -1.0, -1.0)]


class PolicyProbe(ProbeEnv):
    n_actions = 2
    tests = "advantage and policy loss"

    def reward(self, state, action, t):
        return 1.0 if action == 1 else -1.0

    def checks(self, gamma):
        return [Check("pi(1|0)", 0.0, 1.0, action=1), Check("V(0)", 0.0, 1.0)]


class PolicyValueProbe(ProbeEnv):
    n_actions = 2
    tests = "policy and value together, batching"

    def initial_state(self):
        return float(self.np_random.choice([-1.0, 1.0]))

    def reward(self, state, action, t):
        return 1.0 if action == int(state > 0) else -1.0

    def checks(self, gamma):
        return [
            Check("pi(1|+1)", 1.0, 1.0, action=1),
            Check("pi(0|-1)", -1.0, 1.0, action=0),
            Check("V(+1)", 1.0, 1.0),
            Check("V(-1)", -1.0, 1.0),
        ]


@dataclass(frozen=True)
class Probe:
    name: str
    env: type[ProbeEnv]
    max_updates: int  # budget; a correct agent solves it well within (see tests/test_probes.py)


PROBES = (
    Probe("value", ValueProbe, 600),
    Probe("discount", DiscountProbe, 800),
    Probe("backprop", BackpropProbe, 800),
    Probe("policy", PolicyProbe, 800),
    Probe("policy_value", PolicyValueProbe, 1000),
)
VARIANTS = ("vector", "image")


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
    returns are near 0, so its starting loss is already small).
    """
    seams, hp = agent.seams, agent.hp
    for _ in range(OVERFIT_WARMUP):
        agent.collect_rollout()
    rollout = agent.collect_rollout()
    rollout = dataclasses.replace(
        rollout, values=rollout.values.detach(), logits=rollout.logits.detach(), graph_recorded=False
    )
    returns, _ = seams.compute_returns(
        rollout.rewards + hp.gamma * rollout.truncation_values,
        rollout.values,
        rollout.dones,
        rollout.last_value,
        hp.gamma,
        hp.gae_lambda,
    )
    ones = torch.ones_like(returns)
    for group in agent.optimizer.param_groups:
        group["lr"] *= OVERFIT_LR_SCALE
    result = OverfitResult(False, 0, returns.numel(), math.nan, math.nan, 0.0, 0.0)
    try:
        for step in range(1, max_steps + 1):
            logits, values = seams.training_forward(agent.model, rollout)
            value_loss = seams.value_loss(values, returns)
            fit_loss = seams.policy_loss(seams.log_prob(logits, rollout.actions), ones)
            seams.optimizer_step(agent.optimizer, value_loss + fit_loss, agent.parameters, hp.max_grad_norm)
            probs = torch.softmax(logits.detach(), dim=-1)
            result.steps = step
            result.value_loss_end = float(value_loss.detach())
            if step == 1:
                result.value_loss_start = float(value_loss.detach())
            result.mean_action_prob = float(probs.gather(-1, rollout.actions.unsqueeze(-1)).mean())
            result.action_accuracy = float((probs.argmax(-1) == rollout.actions).float().mean())
            if (
                result.value_loss_end <= max(OVERFIT_VALUE_RATIO * result.value_loss_start, OVERFIT_VALUE_FLOOR)
                and result.mean_action_prob >= OVERFIT_ACTION_PROB
            ):
                result.passed = True
                break
    except (ValueError, RuntimeError) as error:
        result.error = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return result


def variants_for(settings: TrainConfig) -> tuple[str, ...]:
    """The probe variants the configured network takes: a CNN takes only images."""
    model_class = hydra.utils.get_class(settings.agent.model["_target_"])
    return ("image",) if getattr(model_class, "takes_images_only", False) else VARIANTS


def run_all(settings: TrainConfig, seed: int = 0) -> list[ProbeResult]:
    """Every probe in every variant the configured network takes."""
    return [run_probe(probe, variant, settings, seed) for probe in PROBES for variant in variants_for(settings)]
