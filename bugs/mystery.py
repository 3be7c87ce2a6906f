"""A hidden bug to find: ``bug=mystery bug.mystery.dose=N`` plants the zoo bug (and dose) that
the number N picks, or none at all. For workshops: nothing the learner sees names it (the
config says ``mystery: {dose: N}``, the run directory and TensorBoard tags are a clean run's),
so the diagnosis has to come from the curves, the probes and ``python -m rl_lab.diagnose``.
``python -m rl_lab.reveal RUN_DIR`` tells what it was.

Story: every bug in the zoo was found by someone who did not know it was there.

Seam: the picked bug's seam (any of them).

Dose: N, the mystery's number (a whole number, 0 to 1,000,000; default 0). The pick is a
fixed function of N and the algorithm (:func:`pick`), the same on every machine and whatever
user bugs ``RL_LAB_BUG_PATH`` adds. Each algorithm has its own pool (``algo=ppo bug=mystery``
hides one of PPO's zoo; A2C's pool is as it was before PPO). The numbers run in cycles of the
pool's size P (:func:`pool`: every built-in zoo bug of the algorithm that needs no context, and
no bug, because a clean run is a possible answer too): numbers 0 to P-1 plant every answer
exactly once, in a shuffled order, and so do P to 2P-1, in another order, and so on. An
instructor who hands out consecutive numbers from any multiple of P gives every answer once
before any repeats. Bugs that need a ``CONTEXT`` (a config change that would give them away) or
some ``ENVS`` only are not in the pool; bugs with ``MYSTERY_DOSES`` are planted at one of those
doses, the others at their default dose.

Symptoms: those of the bug it picked.
"""

from __future__ import annotations

import random

SEAM = ()
DOSE = 0
DOSE_RANGE = (0, 1_000_000)
SYMPTOM = "hidden: diagnose it (python -m rl_lab.diagnose RUN_DIR), then python -m rl_lab.reveal RUN_DIR"
ZOO = False  # not a bug of its own: atlases and zoo listings leave it out
CLEAN = "none"


def pool(algorithm: str = "a2c") -> list[str]:
    """The possible answers: every built-in zoo bug of ``algorithm`` that needs no context and runs on
    every env, and no bug.

    Built-in only, so that a number plants the same bug whatever ``RL_LAB_BUG_PATH`` adds. The
    environment's own faults (seam ``wrap_env``) are answers too: a run that is wrong with every
    data-path check at 0 is one to find."""
    from pathlib import Path

    from rl_lab import bugs

    builtin = {n: m for n, m in bugs.registry().items() if Path(m.__file__).parent == bugs.BUILTIN_DIR}
    plain = {
        n
        for n, m in builtin.items()
        if not bugs.context_of(m) and bugs.envs_of(m) is None and algorithm in bugs.algorithms_of(m)
    }
    return [CLEAN] + sorted(n for n in plain if getattr(builtin[n], "ZOO", True))


def pick(number: float, algorithm: str = "a2c") -> tuple[str, float]:
    """The (bug, dose) that mystery ``number`` plants in a run of ``algorithm``; ``("none", 0.0)`` for no bug."""
    from rl_lab import bugs

    if number != int(number):
        raise ValueError(f"mystery number {number!r} is invalid: must be a whole number")
    answers = pool(algorithm)
    cycle, position = divmod(int(number), len(answers))
    # str seeding: stable across Python versions; each cycle a permutation of the whole pool
    name = random.Random(f"rl-lab mystery cycle {cycle}").sample(answers, len(answers))[position]
    if name == CLEAN:
        return CLEAN, 0.0
    module = bugs.registry()[name]
    doses = getattr(module, "MYSTERY_DOSES", (module.DOSE,))
    return name, float(random.Random(f"rl-lab mystery dose {int(number)}").choice(doses))


def inject(seams, dose: float):
    from rl_lab import bugs

    name, bug_dose = pick(dose, seams.ALGORITHM)
    return seams if name == CLEAN else bugs.registry()[name].inject(seams, bug_dose)
