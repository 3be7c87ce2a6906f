"""Part of the network never trains: its parameters are frozen or never reach the optimizer.

Story: ``requires_grad=False`` left over from fine-tuning, a layer created after the
optimizer was built, or a module kept in a plain Python list instead of an
``nn.ModuleList``: its parameters exist, get used, and never move.

Seam: ``build_model``. The first ``dose`` fraction of the model's layers (in definition
order, heads last) get ``requires_grad=False``.

Dose: the frozen fraction of layers in [0, 1] (default 0.75: everything but the heads on
the CNN, the policy trunk and half the value trunk on the MLP).

Symptoms: zero gradient norm and zero update ratio for the frozen layers
(grads/<layer>/norm = 0, params/<layer>/update_ratio = 0) while the heads move; learning
slower than clean, capped by what random features can express.
"""

from __future__ import annotations

import dataclasses
import math

SEAM = "build_model"
DOSE = 0.75
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "frozen layers: zero gradient and update ratio; slower, capped learning"


def inject(seams, dose: float):
    clean = seams.build_model

    def build_model(factory, observation_space, action_space):
        model = clean(factory, observation_space, action_space)
        layers = [m for m in model.modules() if list(m.parameters(recurse=False))]
        for layer in layers[: math.floor(dose * len(layers))]:
            layer.requires_grad_(False)
        return model

    return dataclasses.replace(seams, build_model=build_model)
