"""The network is built with another activation than the configured one: tanh and ReLU swapped.

Story: a model whose activation is a setting, and whose code uses another one. SamuelGabriel/PFNs
#5 ("activation choice bug in simple MLP prior": the activation is chosen, then the forward pass
always applies ``torch.tanh``); DLR-RM/stable-baselines3 #1511 (an A2C "custom policy that is the
same as the default" trained far worse: its ``activation_fn=ReLU`` is not the default tanh);
openai/baselines #331 (PPO2's policies applied ReLU to the policy and value outputs). The
parameters are the configured ones, same names, shapes and initial norms, so only the function
the network computes can tell.

Seam: ``build_model``. The configured factory's network with every ``nn.Tanh`` replaced by
``nn.ReLU`` and every ``nn.ReLU`` by ``nn.Tanh`` (CartPole's MLP gets ReLU, NatureCNN tanh).

Dose: none (1).

Symptoms: ``initialisation_consistency`` stays 0 (names, shapes, norms); ``function_consistency``
(``params/function_gap``) fires at the first log point. The agent still learns, differently.
"""

from __future__ import annotations

import dataclasses

from torch import nn

SEAM = "build_model"
DOSE = 1
DOSE_RANGE = (1, 1)
SYMPTOM = "the configured parameters, another function; function_consistency"


def inject(seams, dose: float):
    build_model = seams.build_model

    def swapped(factory, observation_space, action_space):
        model = build_model(factory, observation_space, action_space)
        for module in list(model.modules()):
            for name, child in module.named_children():
                if isinstance(child, nn.Tanh | nn.ReLU):
                    setattr(module, name, nn.ReLU() if isinstance(child, nn.Tanh) else nn.Tanh())
        return model

    return dataclasses.replace(seams, build_model=swapped)
