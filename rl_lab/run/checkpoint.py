"""Checkpoints: everything a run needs to continue as if never stopped.

A checkpoint holds plain tensors and Python primitives only, so it loads with
``torch.load(weights_only=True)``: model and optimizer state, step counters,
torch's random state, the loop's current observation and running episode
statistics, the run log's episode record, and (where the environment allows,
see :func:`rl_lab.envs.env_state`) the environments' own state. It is written
to a temporary file and renamed, so ``last.pt`` is always a whole checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from rl_lab.run.config import ConfigError

CHECKPOINT_NAME = "last.pt"


def checkpoint_path(run_dir: Path | str) -> Path:
    return Path(run_dir) / "checkpoints" / CHECKPOINT_NAME


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> Path:
    path = checkpoint_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(run_dir: Path | str) -> dict[str, Any]:
    """The run's last checkpoint; :class:`ConfigError` if it is missing or unreadable (e.g. truncated)."""
    path = checkpoint_path(run_dir)
    if not path.is_file():
        raise ConfigError(f"resume={str(run_dir)!r} is invalid: the run has no checkpoint ({path})")
    try:
        return torch.load(path, weights_only=True)
    except Exception as error:  # torch raises several kinds for a damaged file
        raise ConfigError(
            f"resume={str(run_dir)!r} is invalid: its checkpoint {path} is unreadable "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no detail'})"
        ) from None
