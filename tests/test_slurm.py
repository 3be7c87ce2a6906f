"""A sweep on a real SLURM cluster: the CI tier of the atlas through Hydra's submitit_slurm
launcher on a one-node cluster started here (tests/local_slurm.py), checked against the same
golden signatures as the joblib run, with the same numbers in every run.

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

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


def _numbers(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in point.items() if k != "charts/sps"} for point in read_metrics(run_dir)]


def test_the_ci_tier_on_a_real_slurm_cluster_matches_the_joblib_run(ci_sweep, tmp_path):
    out = tmp_path / "ci_slurm"
    with local_slurm() as env:
        done = subprocess.run(
            [sys.executable, "-m", "rl_lab.atlas", "tier=ci", f"out={out}", LAUNCHER],
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
    assert "true-positive rate 10/10" in check.stdout and "false-positive rate 0/4" in check.stdout
    on_slurm, on_joblib = load_sweep(out), load_sweep(ci_sweep)
    assert [j.path.name for j in on_slurm] == [j.path.name for j in on_joblib]
    for slurm_job, joblib_job in zip(on_slurm, on_joblib, strict=True):
        assert slurm_job.summary["status"] == joblib_job.summary["status"]
        assert _numbers(slurm_job.path) == _numbers(joblib_job.path), slurm_job.path.name
