"""Reveal what a mystery run (``bug=mystery``) had planted.

    python -m rl_lab.reveal runs/cartpole/<run>        # one run
    python -m rl_lab.reveal multirun/<sweep>           # every run of a sweep

Reads the run's ``config.yaml``; prints the planted bug, its dose and its card's first
paragraph (``python -m rl_lab.bugs show NAME`` has the whole card).
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

from bugs.mystery import CLEAN, pick
from rl_lab import bugs


def planted(run_dir: Path) -> tuple[str, float] | None:
    """``(bug, dose)`` a mystery run planted; None for a run that is not a mystery."""
    config = OmegaConf.load(Path(run_dir) / "config.yaml")
    mystery = (OmegaConf.to_container(config.bug) or {}).get("mystery")
    return None if mystery is None else pick(mystery["dose"])


def describe(run_dir: Path) -> str:
    found = planted(run_dir)
    if found is None:
        return f"{run_dir}: not a mystery run (bug={dict(OmegaConf.load(Path(run_dir) / 'config.yaml').bug) or 'none'})"
    name, dose = found
    if name == CLEAN:
        return f"{run_dir}: no bug: this was the clean agent"
    card = " ".join(bugs.registry()[name].__doc__.strip().split("\n\n")[0].split())
    return f"{run_dir}: {name} (dose {dose:g}): {card}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m rl_lab.reveal RUN_DIR|SWEEP_DIR", file=sys.stderr)
        return 2
    root = Path(argv[0])
    runs = [root] if (root / "config.yaml").exists() else sorted(p.parent for p in root.glob("*/config.yaml"))
    if not runs:
        print(f"error: no run (a directory with config.yaml) at {root}", file=sys.stderr)
        return 2
    for run in runs:
        print(describe(run))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
