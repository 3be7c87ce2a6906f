"""The network acts in train mode: dropout (or batch norm) stays on while playing.

Story: "Forgot to set up train mode for the network correctly: toggling train/evaluation
mode or controlling batch norm dependencies" (FSDL troubleshooting lecture). Nothing
fails: the agent just acts with a randomly thinned network.

Seam: ``acting_mode``: the model is put in train mode instead of eval mode for acting.

Dose: none; any value applies the bug (default 1.0).

Only matters for models whose two modes differ. Run it with dropout, and compare it with
the clean agent *with the same model*:
``bug=missing_eval_mode agent.model.dropout=0.2`` against ``bug=none agent.model.dropout=0.2``.
With dropout 0 the bug changes nothing (and the test says so).

Symptoms: against the same-model control, the values and log-probs the update uses come
from thinned networks: the gradient norm about doubles (CartPole, 100k steps: 30 against
13) and the return is lower (146 against 249). Entropy is *not* higher (0.66 against
0.78), and explained variance is no reliable tell (above the control at 100k steps,
below it at 60k).
"""

from __future__ import annotations

import dataclasses

SEAM = "acting_mode"
DOSE = 1.0
SYMPTOM = "with dropout: gradient norm ~2x the same-model control, lower return"
# what a run needs for this bug to matter (dropout, so that train and eval mode differ);
# the atlas runs it, and its clean control, with these overrides
CONTEXT = {"agent.model.dropout": 0.2}


def inject(seams, dose: float):
    return dataclasses.replace(seams, acting_mode=lambda model: model.train())
