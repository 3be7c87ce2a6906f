"""Detection in two columns (generic detectors; with the consistency checks) and per-run detector
latency against a return-only rank test, for one sweep (``rl_lab.lab.detection``).

    python -m rl_lab.atlas tier=fast_evaluation
    python scripts/detection_report.py multirun/atlas/fast_evaluation   # results/detectors/detection_<tier>.md
    python scripts/detection_report.py runs/elhage/catch_k1_100000 out=/tmp/elhage_detection.md

Writes the table to ``out`` (default ``results/detectors/detection_<tier>.md``) and prints it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rl_lab.lab.atlas import tier_of
from rl_lab.lab.detection import detection, markdown
from rl_lab.lab.runs import result_path, run_script, write_result
from rl_lab.lab.sweep import load_sweep

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    bare = [a for a in argv if not a.startswith("out=")]
    if len(bare) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    sweep = Path(bare[0])
    given = next((a[4:] for a in argv if a.startswith("out=")), None)
    out = result_path(ROOT / "results" / "detectors" / f"detection_{tier_of(sweep)}.md", given)
    pairs, alarms = detection(load_sweep(sweep))
    text = markdown(pairs, alarms, f"`{sweep}`").replace(
        "\n\n", f"\n\nCommand: `python scripts/detection_report.py {' '.join(argv)}`\n\n", 1
    )
    write_result(out, text)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, sys.argv[1:]))
