"""PPO's value clipping clips around the current prediction, recomputed, not the acting critic's: no effect.

Story: tensorflow/agents #352 ("PPO value clipping seems to have no effect": the old value
predictions were recomputed by the value network being trained, so the clipped difference was
always 0 and the clipped loss equalled the unclipped one; confirmed and fixed by the maintainers).

Seam: ``clip_values``. The clip's centre is ``dose * V.detach() + (1 - dose) * V_old``: at dose 1
the prediction is never clipped. It matters only with value clipping on: the atlas runs it with
``agent.clip_range_vf=0.2`` (``CONTEXT``); the zoo's configs leave it off.

Dose: the share of the centre moved to the current prediction, in [0, 1] (default 1.0).

Symptoms: none in the return that a few seeds can show (the critic trains as without clipping).
The prediction is not clipped around the acting critic's value: ``value_clip_consistency`` fires
once a prediction moves further than the clip range from it.
"""

from __future__ import annotations

import dataclasses

SEAM = "clip_values"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "value clipping has no effect (centred on the current prediction); value_clip_consistency"
CONTEXT = {"agent.clip_range_vf": 0.2}
EXACT_WHILE = "no value prediction moves more than clip_range_vf from the acting critic's"


def inject(seams, dose: float):
    clip_values = seams.clip_values

    def old_values_recomputed(values, old_values, clip_range_vf):
        return clip_values(values, dose * values.detach() + (1.0 - dose) * old_values, clip_range_vf)

    return dataclasses.replace(seams, clip_values=old_values_recomputed)
