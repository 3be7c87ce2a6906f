"""What a mystery run (``bug=mystery``) had planted, read from its ``config.yaml``
(the command: ``python -m rl_lab.reveal``)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from rl_lab import bugs
from rl_lab.bugs.mystery import CLEAN, pick
from rl_lab.run.config import algorithm_name


def planted(run_dir: Path) -> tuple[str, float] | None:
    """``(bug, dose)`` a mystery run planted; None for a run that is not a mystery."""
    config = OmegaConf.load(Path(run_dir) / "config.yaml")
    mystery = (OmegaConf.to_container(config.bug) or {}).get("mystery")
    return None if mystery is None else pick(mystery["dose"], algorithm_name(config))


def describe(run_dir: Path) -> str:
    found = planted(run_dir)
    if found is None:
        return f"{run_dir}: not a mystery run (bug={dict(OmegaConf.load(Path(run_dir) / 'config.yaml').bug) or 'none'})"
    name, dose = found
    if name == CLEAN:
        return f"{run_dir}: no bug: this was the clean agent"
    card = " ".join(bugs.registry()[name].__doc__.strip().split("\n\n")[0].split())
    return f"{run_dir}: {name} (dose {dose:g}): {card}"
