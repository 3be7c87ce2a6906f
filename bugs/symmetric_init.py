"""Every weight starts at the same constant: symmetry between units is never broken.

Story: initialising with zeros or a constant "to be safe". Every unit of a layer computes
the same thing and gets the same gradient, forever: a 512-unit layer is one unit.

Seam: ``build_model``. After construction, every weight is set to ``dose`` and every bias
to 0.

Dose: the constant (default 0.01).

Symptoms: the critic is a function of one feature and cannot fit: explained variance ~0
(CartPole: 4e-6 against 0.97 clean); activation norms small (all units equal); the
parameter norm grows steadily along the one direction it can move. The return can still
rise on CartPole (the policy needs little), which is why the critic's numbers are the tell.
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "build_model"
DOSE = 0.01
SYMPTOM = "units stay identical: explained variance ~0, parameter norm grows; return may still rise"


def inject(seams, dose: float):
    clean = seams.build_model

    def build_model(factory, observation_space, action_space):
        model = clean(factory, observation_space, action_space)
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.fill_(dose if name.endswith("weight") else 0.0)
        return model

    return dataclasses.replace(seams, build_model=build_model)
