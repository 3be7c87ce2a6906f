"""The entropy bonus has the wrong sign: the agent is paid for certainty, not exploration.

Story: the sign-flip family, on the exploration term: ``+ ent_coef * entropy`` where the
loss needs ``- ent_coef * entropy`` (or a coefficient defined as negative and negated again).

Seam: ``entropy``. The per-state entropy is multiplied by (1 - 2 * dose) before the loss
averages it; dose 1 negates it. The logged ``policy/entropy`` is then negative too, which
is itself a tell.

Dose: in [0, 1] (default 1.0); 0 is clean. It needs ent_coef > 0 to matter: Pong's 0.01
does; CartPole's zoo setting is 0.0, so run it there with ``agent.ent_coef=0.01``.

Symptoms: premature entropy collapse, a deterministic policy early, then a plateau
below the clean return.
"""

from __future__ import annotations

import dataclasses

from rl_lab.bugs._sign import flip_sign

SEAM = "entropy"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "entropy collapses early, then a plateau (needs ent_coef > 0)"
# what a run needs for this bug to matter (an entropy bonus: CartPole's zoo setting has none);
# the atlas runs it, and its clean control, with these overrides
CONTEXT = {"agent.ent_coef": 0.01}


def inject(seams, dose: float):
    return dataclasses.replace(seams, entropy=flip_sign(seams.entropy, dose))
