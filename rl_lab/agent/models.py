"""Actor-critic networks, initialised as stable-baselines3's ``ActorCriticPolicy``.

Both take a preprocessed float observation batch and return ``(logits, values)``
with shapes ``(N, n_actions)`` and ``(N,)``. Orthogonal init with gain sqrt(2)
for the body, 0.01 for the policy head, 1 for the value head, zero biases.
"""

from __future__ import annotations

import math
from itertools import islice

import gymnasium as gym
import torch
from torch import nn

BODY_GAIN = math.sqrt(2)
CONV_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}  # NatureCNN's conv_dtype choices
POLICY_GAIN = 0.01
VALUE_GAIN = 1.0


def layer_init(layer: nn.Module, gain: float) -> nn.Module:
    """Orthogonal weights with ``gain``, zero bias (SB3's ``init_weights``)."""
    nn.init.orthogonal_(layer.weight, gain=gain)
    nn.init.zeros_(layer.bias)
    return layer


def has_mode_dependent_layers(model: nn.Module) -> bool:
    """True when train and eval mode compute different things (dropout, batch norm)."""
    return any(
        (isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0) or isinstance(m, nn.modules.batchnorm._BatchNorm)
        for m in model.modules()
    )


def _discrete_actions(action_space: gym.Space) -> int:
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ValueError(f"action space {action_space} is not supported: A2C here takes Discrete actions")
    return int(action_space.n)


class NatureCNN(nn.Module):
    """Mnih et al. (2015)'s network: 32x8x8/4, 64x4x4/2, 64x3x3/1, Linear 512, shared by both heads.

    ``dropout`` > 0 adds dropout after the 512 features: a model whose train and
    eval modes differ, for the ``missing_eval_mode`` bug and its control.

    ``conv_dtype="bfloat16"`` runs the three convolutions under ``torch.autocast`` to bfloat16 and
    everything after them in float32 (Pong trains about 1.2x faster with it on a CPU with AMX:
    results/throughput/). It changes every number the agent computes, so it is off by default
    (the default is SB3's float32 arithmetic). The 512 layer stays float32 on purpose: bfloat16
    convolutions give a sample the same output whatever its batch, a bfloat16 matrix product
    does not, and the exact checks compare passes over different batches (the acting pass's 16
    observations, the update's 80) at float32 rounding (tests/test_models.py).
    """

    takes_images_only = True  # convolutions need an image; probes skip their vector variants

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        dropout: float = 0.0,
        conv_dtype: str = "float32",
    ):
        super().__init__()
        if conv_dtype not in CONV_DTYPES:
            raise ValueError(f"conv_dtype={conv_dtype!r} is invalid: valid choices are {', '.join(CONV_DTYPES)}")
        self.conv_dtype = conv_dtype
        n_channels = observation_space.shape[0]
        self.body = nn.Sequential(
            layer_init(nn.Conv2d(n_channels, 32, 8, stride=4), BODY_GAIN),
            nn.ReLU(),
            layer_init(nn.Conv2d(32, 64, 4, stride=2), BODY_GAIN),
            nn.ReLU(),
            layer_init(nn.Conv2d(64, 64, 3, stride=1), BODY_GAIN),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.n_conv_layers = len(self.body)  # body[:n_conv_layers] is what conv_dtype applies to
        with torch.no_grad():
            n_flat = self.body(torch.zeros(1, *observation_space.shape)).shape[1]
        self.body.append(layer_init(nn.Linear(n_flat, 512), BODY_GAIN))
        self.body.append(nn.ReLU())
        if dropout > 0:
            self.body.append(nn.Dropout(dropout))
        self.policy_head = layer_init(nn.Linear(512, _discrete_actions(action_space)), POLICY_GAIN)
        self.value_head = layer_init(nn.Linear(512, 1), VALUE_GAIN)
        # Same numbers, faster CPU convolutions (about 13% on a training step, measured here).
        self.to(memory_format=torch.channels_last)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = obs.contiguous(memory_format=torch.channels_last)
        dtype = CONV_DTYPES[self.conv_dtype]
        with torch.autocast(x.device.type, dtype=dtype, enabled=dtype != torch.float32):
            for layer in islice(self.body, self.n_conv_layers):  # islice: no new Sequential per call
                x = layer(x)
        x = x.float()
        for layer in islice(self.body, self.n_conv_layers, None):
            x = layer(x)
        return self.policy_head(x), self.value_head(x).squeeze(-1)


class MlpActorCritic(nn.Module):
    """SB3's default ``MlpPolicy`` for A2C: separate 64-64 tanh networks for policy and value."""

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        hidden: tuple[int, ...] = (64, 64),
        dropout: float = 0.0,
    ):
        super().__init__()
        n_in = int(torch.tensor(observation_space.shape).prod())
        self.policy_body = self._body(n_in, hidden, dropout)
        self.value_body = self._body(n_in, hidden, dropout)
        self.policy_head = layer_init(nn.Linear(hidden[-1], _discrete_actions(action_space)), POLICY_GAIN)
        self.value_head = layer_init(nn.Linear(hidden[-1], 1), VALUE_GAIN)

    @staticmethod
    def _body(n_in: int, hidden: tuple[int, ...], dropout: float) -> nn.Sequential:
        layers: list[nn.Module] = [nn.Flatten()]
        for width in hidden:
            layers += [layer_init(nn.Linear(n_in, width), BODY_GAIN), nn.Tanh()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            n_in = width
        return nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.policy_head(self.policy_body(obs))
        return logits, self.value_head(self.value_body(obs)).squeeze(-1)
