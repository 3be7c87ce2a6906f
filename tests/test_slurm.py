"""A sweep on a real SLURM cluster: part of the CI tier of the atlas (two bugs at different seams,
one clean seed) through Hydra's submitit_slurm launcher on a one-node cluster started here
(tests/local_slurm.py), checked against the same golden signatures as the joblib run of the whole
tier, with the same numbers in every run. (The launcher is under test, not the zoo: the joblib
tier checks every bug.)

It installs Debian's slurm-wlm and munge when they are absent (about a minute) and needs
root; elsewhere it skips with the reason. CI runs as root on Debian, so there it runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rl_lab.lab.sweep import load_sweep
from rl_lab.run.runlog import read_metrics
from tests.local_slurm import PARTITION, local_slurm, unavailable

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_CI = ROOT / "results" / "atlas" / "ci" / "golden.json"
# what a real cluster needs besides the launcher: the partition, a time limit, CPUs per job
LAUNCHER = (
    f"launcher=[hydra/launcher=submitit_slurm,hydra.launcher.partition={PARTITION},"
    "hydra.launcher.timeout_min=20,hydra.launcher.cpus_per_task=1]"
)
PART = ("bugs=[off_by_one_frames,terminal_bootstrapped]", "clean_seeds=[0]")  # 3 of the tier's 14 jobs

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


def _numbers(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in point.items() if k != "charts/sps"} for point in read_metrics(run_dir)]


def test_part_of_the_ci_tier_on_a_real_slurm_cluster_matches_the_joblib_run(ci_sweep, tmp_path):
    out = tmp_path / "ci_slurm"
    with local_slurm() as env:
        done = subprocess.run(
            [sys.executable, "-m", "rl_lab.atlas", "tier=ci", *PART, f"out={out}", LAUNCHER],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=900,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # the jobs went through sbatch: submitit keeps each job's submission script
    scripts = list((out / ".submitit").rglob("*_submission.sh"))
    assert scripts and f"#SBATCH --partition={PARTITION}" in scripts[0].read_text()
    check = subprocess.run(
        [sys.executable, "-m", "rl_lab.check", str(out), f"golden={GOLDEN_CI}"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout
    assert "true-positive rate 2/2" in check.stdout and "false-positive rate 0/1" in check.stdout
    on_slurm = load_sweep(out)
    on_joblib = {job.path.name: job for job in load_sweep(ci_sweep)}
    assert len(on_slurm) == 3
    for slurm_job in on_slurm:
        joblib_job = on_joblib[slurm_job.path.name]
        assert slurm_job.summary["status"] == joblib_job.summary["status"]
        assert _numbers(slurm_job.path) == _numbers(joblib_job.path), slurm_job.path.name
