"""Diagnose a run: which known bug (or seam) its diagnostics and probes look like.

usage: python -m rl_lab.diagnose RUN_DIR [golden=PATH] [probes=probes.json] [top=5]

    python -m rl_lab.diagnose runs/cartpole/<run>
    python -m rl_lab.diagnose runs/cartpole/<run> probes=runs/probes/cartpole/<run>/probes.json
    python -m rl_lab.diagnose runs/cartpole/<run> golden=results/atlas/fast/golden.json top=3

settings:
    run      a run directory of rl_lab.train (or the bare word)
    golden   golden signatures (default: the committed results/atlas/fast/golden.json, which
             ships with the package; the probe matrices are read from beside it)
    probes   a probes.json written by rl_lab.probe for the same agent (default: the run's own
             probes.json, if any)
    top      how many candidates to print

Places each diagnostic of the run against the clean control's seeds, scores every candidate
(each bug, and "no bug") by how far the run lies from that candidate's runs, plus a penalty
for each detector and probe that disagrees; prints the ranked candidates with their
evidence, the seam each bug patches and the advice for the symptoms it sees.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from rl_lab.cli import fail, parse
from rl_lab.run.config import ConfigError


@dataclass
class DiagnoseSettings:
    run: str = MISSING
    golden: str | None = None
    probes: str | None = None
    top: int = 5

    def __post_init__(self) -> None:
        if self.top < 1:
            raise ConfigError(f"top={self.top!r} is invalid: must be an integer >= 1")


def main(argv: list[str] | None = None) -> int:
    args = parse(DiagnoseSettings, sys.argv[1:] if argv is None else argv, __doc__, "rl_lab.diagnose", ("run",))
    from rl_lab.lab.atlas import shipped_golden
    from rl_lab.lab.diagnose import env_signatures, load_run, rank, report

    golden_path = Path(args.golden) if args.golden else shipped_golden("fast")
    for option, path in (("golden", golden_path), ("probes", args.probes)):
        if path is not None and not Path(path).is_file():
            fail("rl_lab.diagnose", f"{option}={path} does not exist: give {option}=PATH")
    try:
        job = load_run(Path(args.run))
        golden = json.loads(golden_path.read_text())
        env_golden = env_signatures(golden, job)
        probes_path = args.probes or (job.path / "probes.json" if (job.path / "probes.json").exists() else None)
        probes = json.loads(Path(probes_path).read_text()) if probes_path else None
        matrix_path = golden_path.parent.parent / "probes" / f"{env_golden.get('env_name', '')}.json"
        matrix = json.loads(matrix_path.read_text()) if matrix_path.exists() else None
    except (FileNotFoundError, ValueError) as error:
        fail("rl_lab.diagnose", str(error))
    notes = []
    if probes is not None and probes.get("env") != job.env:
        notes.append(
            f"WARNING: the probe results ({probes_path}) are of env {probes.get('env', 'unknown')!r}, the run of "
            f"{job.env!r}: they are compared with the {job.env} probe matrix all the same; run "
            f"python -m rl_lab.probe env={job.env} for this run's agent"
        )
    candidates, z_run = rank(job, env_golden, probes, matrix)
    print(report(job, candidates, z_run, args.top, env_golden["total_steps"], notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
