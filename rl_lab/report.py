"""Render the atlas report of a sweep and fit its golden signatures.

usage: python -m rl_lab.report SWEEP_DIR [out=DIR]

    python -m rl_lab.report multirun/atlas/fast                # -> multirun/atlas/fast/report/
    python -m rl_lab.report multirun/atlas/fast out=results/atlas/fast   # refit the committed report

settings:
    sweep   the sweep directory (or the bare word), e.g. multirun/atlas/fast
    out     where to write (default: SWEEP_DIR/report; nothing is written under results/
            unless out= names it)

Writes README.md (how each bug moved each diagnostic against the clean control, with
Welch's t-test across seeds), plots/ and golden.json (the signatures that rl_lab.check
and rl_lab.diagnose compare against).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from rl_lab.cli import fail, parse


@dataclass
class ReportSettings:
    sweep: str = MISSING
    out: str | None = None


def main(argv: list[str] | None = None) -> int:
    args = parse(ReportSettings, sys.argv[1:] if argv is None else argv, __doc__, "rl_lab.report", ("sweep",))
    from rl_lab.lab.report import write_report  # matplotlib: only once the arguments are good

    try:
        out = write_report(Path(args.sweep), args.out)
    except (FileNotFoundError, ValueError) as error:
        fail("rl_lab.report", str(error))
    print(f"report: {out / 'README.md'}\ngolden signatures: {out / 'golden.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
