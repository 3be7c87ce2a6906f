"""PPO's learning rate and clip range are never annealed: the zoo's lin_X schedules stay at X.

Story: annealing wired to the wrong switch: ikostrikov/pytorch-a2c-ppo-acktr-gail #157 (the clip
decay flag was ignored and the clip followed the learning-rate flag instead; "Yes, that's a bug");
the zoo's tuned CartPole PPO relies on both schedules (DLR-RM/stable-baselines3 #1763, where the
maintainer suggests removing the annealing on CartPole to see what happens).

Seam: ``schedule``. A linear schedule anneals ``1 - dose`` of the way: ``initial * (1 - (1 - dose) *
(1 - progress_remaining))``; a constant one is untouched.

Dose: the share of the annealing removed, in [0, 1] (default 1.0: constant).

Symptoms: late in training the steps stay large: the return can fall back from its peak and
oscillate instead of settling. The scheduled values are not the schedule's at the run's
progress: ``schedule_consistency`` fires at the first log point.
"""

from __future__ import annotations

import dataclasses

SEAM = "schedule"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "learning rate and clip range stay at their initial values; schedule_consistency"


def inject(seams, dose: float):
    schedule = seams.schedule

    def schedules_not_annealed(initial, progress_remaining, kind):
        if kind != "linear":
            return schedule(initial, progress_remaining, kind)
        return initial * (1.0 - (1.0 - dose) * (1.0 - progress_remaining))

    return dataclasses.replace(seams, schedule=schedules_not_annealed)
