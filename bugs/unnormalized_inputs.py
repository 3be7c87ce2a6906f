"""Observations reach the network unscaled: pixels in [0, 255] instead of [0, 1].

Story: "normalize the input data ... for images, it's fine to scale values to [0, 1]
(for example, by dividing by 255)" (FSDL troubleshooting lecture); forgetting it is the
classic. Orthogonal init with gain sqrt(2) then meets inputs 255 times too large.

Seam: ``preprocess``. Image observations (uint8) are not divided by 255; vector
observations (CartPole) are multiplied by ``dose``, the same mistake in its other form
(raw units where the network expects unit scale).

Dose: the factor for vector observations (default 255.0); images always skip the /255.

Symptoms: first-layer activations far above clean (tanh saturated on the MLP: norms x7
on CartPole), the critic cannot fit (explained variance ~0), the policy gets confident
early (entropy below clean). The return can still rise on CartPole; on Pong the CNN's
logits explode.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

SEAM = "preprocess"
DOSE = 255.0
DOSE_RANGE = (0.0, 1e6)
SYMPTOM = "saturated first layer: activation norms way up, explained variance ~0, low entropy"


def inject(seams, dose: float):
    def preprocess(obs):
        x = torch.from_numpy(np.asarray(obs))
        return x.float() if x.dtype == torch.uint8 else x.float() * dose

    return dataclasses.replace(seams, preprocess=preprocess)
