"""A time-limit end is recorded as a terminal state: the value after it is taken as 0.

Story: stable-baselines3's on-policy algorithms did exactly this until 2021 ("Proper
TimeLimit/Infinite Horizon Handling for On-Policy algorithm", DLR-RM/stable-baselines3 #633,
fixed by PR #658: "replace `reward` by `reward + gamma * next_value` when there is a
timeout"). Still filed in 2026 against other libraries: skrl #449 ("truncated steps ... are
treated as terminal states, meaning the future value is zeroed out rather than
bootstrapped. This under-values every state near a time limit"). gymnasium 0.26 split
``done`` into ``terminated`` and ``truncated``; code that still writes
``done = terminated or truncated`` in its returns has this bug.

Seam: ``record_transition``. Where the env truncated an episode (and did not terminate
it), the recorded bootstrap ``V(final observation)`` is scaled by ``1 - dose``; at dose 1
the end is recorded as a termination.

Dose: the share of the bootstrap lost, in [0, 1] (default 1.0, the bug as reported).

CartPole only (``ENVS``), with a time limit of 100 steps (``CONTEXT``) that the agent
reaches within the atlas's 20k steps: Catch's episodes end by termination, and Pong's end by
the score thousands of steps before its limit.

Symptoms: only where episodes reach the time limit. The critic learns that the states just
before the limit are worth little, although nothing in them says time is up. CartPole with a
100-step limit (the fast atlas, 20k steps, seeds 0-2, against the clean control with the same
limit): return 94 against 150 (p = 2.5e-5), entropy higher, value loss higher.
``record_consistency`` (``data/record_gap``) fires at the first log point after the first
time-limit end (every rollout is checked); with CartPole-v1's own limit of 500 there are none
in the first 20k steps, so the bug is silent there.
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "record_transition"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "only at the time limit: values sag near it, return near the limit wobbles; record_consistency"
ENVS = ("cartpole",)
EXACT_WHILE = "no episode has reached the time limit yet"
CONTEXT = {"env.max_episode_steps": 100}  # a limit the agent reaches early (CartPole-v1's own is 500)


def inject(seams, dose: float):
    record = seams.record_transition

    def record_transition(step, value_of):
        recorded = record(step, value_of)
        recorded.truncation_value = recorded.truncation_value * (1.0 - dose)
        if dose == 1.0:
            recorded.terminated = torch.maximum(recorded.terminated, recorded.truncated)
        return recorded

    return dataclasses.replace(seams, record_transition=record_transition)
