"""Checkpoints: everything a run needs to continue as if never stopped.

A checkpoint holds plain tensors and Python primitives only, so it loads with
``torch.load(weights_only=True)``: model and optimizer state, step counters,
torch's random state, the loop's current observation and running episode
statistics, the run log's episode record, and (where the environment allows,
see :func:`rl_lab.envs.env_state`) the environments' own state. It is written
to a temporary file and renamed, so ``last.pt`` is always a whole checkpoint.

A trained agent travels without its training state as an *exported agent*: a directory with
the run's ``config.yaml`` and ``weights.pt`` (the network's state_dict and its step, a few MB
for NatureCNN), written by :func:`export_weights`. ``rl_lab.evaluate`` reads either.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from rl_lab.run.config import ConfigError

CHECKPOINT_NAME = "last.pt"
WEIGHTS_NAME = "weights.pt"


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


def export_weights(run_dir: Path | str, out_dir: Path | str) -> Path:
    """Write the run's network (its last checkpoint's) and config as an exported agent in ``out_dir``."""
    checkpoint = load_checkpoint(run_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(run_dir) / "config.yaml", out_dir / "config.yaml")
    path = out_dir / WEIGHTS_NAME
    torch.save({"model": checkpoint["model"], "step": checkpoint["step"]}, path.with_suffix(".tmp"))
    os.replace(path.with_suffix(".tmp"), path)
    return path


def has_weights(run_dir: Path | str) -> bool:
    """A run directory with a checkpoint, or an exported agent."""
    return (Path(run_dir) / WEIGHTS_NAME).is_file() or checkpoint_path(run_dir).is_file()


def load_weights(run_dir: Path | str) -> dict[str, Any]:
    """``{"model": state_dict, "step": int}`` of an exported agent, else of the run's last checkpoint."""
    path = Path(run_dir) / WEIGHTS_NAME
    if path.is_file():
        return torch.load(path, weights_only=True)
    checkpoint = load_checkpoint(run_dir)
    return {"model": checkpoint["model"], "step": checkpoint["step"]}
