"""The frame stack is not cleared when an episode starts: its first observations hold the last one's frames.

Story: an agent that stacks its own frames (rather than letting the env do it) must clear
the stack at every reset. JuliaReinforcementLearning/ReinforcementLearningCore.jl PR #113,
"Add reset method for StackFrames", added the missing reset; Farama-Foundation/Gymnasium
#829 ("Does FrameStackObservation work as expected?") is the same question about what a
fresh stack holds. Nothing fails: the first three observations of each episode show the
end of the previous point.

Seam: ``next_observation``. The agent keeps its own stack of the last K frames of each env,
pushing the newest frame of every observation and never clearing it, and acts on that;
between episode starts it equals the env's stack.

Dose: none; any value applies the bug (default 1.0).

Pong only (``ENVS``): it needs observations that are stacks of K > 1 frames; CartPole's and
Catch's are not, and a run of it on them is refused.

Symptoms: for K - 1 = 3 steps after each reset the network sees frames of two different
points (the ball at both ends of the court); Pong's resets are rare (an episode lasts
thousands of steps), so the return is hardly affected: a silent bug.
``next_observation_consistency`` (``data/next_obs_gap``) fires at the first log point after
the first episode start (every rollout is checked): 13,040 steps on Pong (``results/atlas/pong``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

SEAM = "next_observation"
DOSE = 1.0
SYMPTOM = "the first frames of an episode hold the last one's; next_observation_consistency"
ENVS = ("pong", "pong_sb3")  # the env configs whose observations are frame stacks
EXACT_WHILE = "no episode has started again yet (the first reset observation comes at the first episode end)"


class UnclearedFrameStack:
    """The agent's own stack of the last K frames of each env, never cleared (its state, saved with the checkpoint)."""

    def __init__(self):
        self.frames: np.ndarray | None = None  # (N, K, H, W)

    def __call__(self, obs, step):
        if self.frames is None:
            self.frames = np.array(obs)  # the stack the run started from
        self.frames = np.concatenate([self.frames[:, 1:], np.asarray(step.obs)[:, -1:]], axis=1)
        return self.frames.copy()

    def state_dict(self) -> dict:
        return {"frames": torch.from_numpy(self.frames) if self.frames is not None else torch.zeros(0)}

    def load_state_dict(self, state: dict) -> None:
        self.frames = state["frames"].numpy() if state["frames"].numel() else None


def inject(seams, dose: float):
    return dataclasses.replace(seams, next_observation=UnclearedFrameStack())
