"""Reveal what a mystery run (bug=mystery) had planted.

usage: python -m rl_lab.reveal RUN_DIR|SWEEP_DIR

    python -m rl_lab.reveal runs/cartpole/<run>        # one run
    python -m rl_lab.reveal multirun/<sweep>           # every run of a sweep

settings:
    path    a run directory (one with config.yaml) or a sweep directory (or the bare word)

Prints the planted bug, its dose and its card's first paragraph
(python -m rl_lab.bugs show NAME has the whole card).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from rl_lab.cli import fail, parse
from rl_lab.lab.reveal import describe


@dataclass
class RevealSettings:
    path: str = MISSING


def main(argv: list[str] | None = None) -> int:
    args = parse(RevealSettings, sys.argv[1:] if argv is None else argv, __doc__, "rl_lab.reveal", ("path",))
    root = Path(args.path)
    runs = [root] if (root / "config.yaml").exists() else sorted(p.parent for p in root.glob("*/config.yaml"))
    if not runs:
        fail("rl_lab.reveal", f"path={args.path!r} is invalid: no run (a directory with config.yaml) there")
    for run in runs:
        print(describe(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
