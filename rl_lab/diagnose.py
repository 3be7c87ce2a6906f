"""Diagnose a run: which known bug (or seam) its diagnostics and probes look like.

usage: python -m rl_lab.diagnose RUN_DIR [golden=PATH] [probes=probes.json] [top=5]

    python -m rl_lab.diagnose runs/cartpole/<run>
    python -m rl_lab.diagnose runs/cartpole/<run> probes=runs/probes/cartpole/<run>/probes.json
    python -m rl_lab.diagnose runs/cartpole/<run> golden=results/atlas/fast/golden.json top=3

settings:
    run      a run directory of rl_lab.train (or the bare word)
    golden   golden signatures (default: the committed ones of the run's algorithm, which ship
             with the package: results/atlas/fast/golden.json for A2C, results/atlas/ppo_fast/
             golden.json for PPO; the probe matrices of that algorithm are read from beside them)
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
    from rl_lab.lab.atlas import DIAGNOSIS_TIERS, shipped_golden
    from rl_lab.lab.diagnose import env_signatures, load_run, rank, read_probe_matrix, report

    for option, path in (("golden", args.golden), ("probes", args.probes)):
        if path is not None and not Path(path).is_file():
            fail("rl_lab.diagnose", f"{option}={path} does not exist: give {option}=PATH")
    try:
        job = load_run(Path(args.run))
        golden_path = Path(args.golden) if args.golden else shipped_golden(DIAGNOSIS_TIERS[job.algorithm])
        golden = json.loads(golden_path.read_text())
        env_golden = env_signatures(golden, job, golden_path)
        probes_path = args.probes or (job.path / "probes.json" if (job.path / "probes.json").exists() else None)
        probes = json.loads(Path(probes_path).read_text()) if probes_path else None
        matrix = read_probe_matrix(golden_path, golden, env_golden)
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
