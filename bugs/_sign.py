"""Shared by the sign-flip bugs: a loss term multiplied by (1 - 2 * dose)."""

from __future__ import annotations

from collections.abc import Callable

import torch


def flip_sign(term: Callable[..., torch.Tensor], dose: float) -> Callable[..., torch.Tensor]:
    """``term`` with its sign flipped by ``dose``: 0 keeps it, 0.5 zeroes it, 1 negates it."""
    scale = 1.0 - 2.0 * dose
    return lambda *args: scale * term(*args)
