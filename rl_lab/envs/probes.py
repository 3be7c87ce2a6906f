"""Probe environments: tasks so small that a correct agent's answer is known in closed form.

A full run takes minutes to hours and a bug shows in it only as a worse curve.
A probe is a task so small that its answer is known in closed form, so a
correct agent solves it in seconds and a broken part of the agent fails a
specific probe (Andy Jones's probe environments; "overfit a single
batch", from Full Stack Deep Learning's troubleshooting lecture):

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

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

IMAGE_SHAPE = (1, 36, 36)
VALUE_TOLERANCE = 0.1  # a value check passes when |V - answer| <= this
POLICY_TOLERANCE = 0.05  # a policy check passes when pi(right action) >= 1 - this


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
