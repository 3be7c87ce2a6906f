"""Sweeps (Hydra multirun): checked before launch, finished jobs skipped, a failed job kept apart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rl_lab.lab.sweep import _is_context, sweep_jobs
from tests.test_train import REPO

CRASH_BUG = '''"""A bug whose policy loss raises: one failed job must not end a sweep."""
import dataclasses
SEAM = "policy_loss"
DOSE = 1.0
SYMPTOM = "the run fails with an exception"
def inject(seams, dose):
    def policy_loss(log_probs, advantages):
        raise RuntimeError("crash_bug: deliberate failure")
    return dataclasses.replace(seams, policy_loss=policy_loss)
'''


def _sweep(sweep_dir: Path, *overrides: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "rl_lab.train",
            "-m",
            "total_steps=400",
            "progress=false",
            f"hydra.sweep.dir={sweep_dir}",
            *overrides,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def _status(job_dir: Path) -> str:
    return json.loads((job_dir / "summary.json").read_text())["status"]


def test_sweep_jobs_expand_the_cartesian_product():
    jobs = sweep_jobs(["bug=sign_flip,none", "seed=0,1,2"])
    assert len(jobs) == 6 and ["bug=none", "seed=2"] in jobs


def test_a_bad_dose_in_any_job_fails_the_sweep_before_any_job_runs(tmp_path):
    done = _sweep(tmp_path / "sweep", "bug=off_by_one_frames", "bug.off_by_one_frames.dose=0,1,9999")
    assert done.returncode != 0
    assert "bug.off_by_one_frames.dose=9999 is invalid: must lie in [0, 1000]; no job was launched" in done.stderr
    assert not (tmp_path / "sweep").exists()


def test_an_unknown_bug_fails_the_sweep_with_the_choices(tmp_path):
    done = _sweep(tmp_path / "sweep", "bug=none,sign_flp")
    assert done.returncode != 0 and "sign_flip" in done.stderr
    assert not list((tmp_path / "sweep").glob("*/summary.json"))


def test_a_glob_sweep_is_expanded_and_checked_before_any_job_runs(tmp_path):
    # glob needs Hydra's config loader to list the group's options; without it the check was skipped
    done = _sweep(tmp_path / "sweep", "bug=glob(*,exclude=mystery)")
    assert done.returncode != 0
    # the first job that cannot run: a PPO bug (the glob holds every algorithm's) in an A2C sweep
    assert "bug=advantage_norm_precedence is invalid with algo=a2c" in done.stderr
    assert "no job was launched" in done.stderr
    assert not (tmp_path / "sweep").exists()


def test_rerunning_a_sweep_skips_finished_jobs_and_continues_interrupted_ones(tmp_path):
    sweep = tmp_path / "sweep"
    assert _sweep(sweep, "seed=0,1").returncode == 0
    jobs = sorted(sweep.glob("seed=*"))
    assert [_status(j) for j in jobs] == ["finished", "finished"]
    interrupted = jobs[1] / "summary.json"
    interrupted.write_text(interrupted.read_text().replace('"finished"', '"interrupted"'))
    logged = (jobs[1] / "metrics.jsonl").read_text()
    done = _sweep(sweep, "seed=0,1,2")
    assert done.returncode == 0, done.stderr
    assert f"{jobs[0]}: already finished, skipped" in done.stdout
    assert f"{jobs[1]}: already" not in done.stdout
    assert [_status(j) for j in sorted(sweep.glob("seed=*"))] == ["finished"] * 3
    # continued from its checkpoint (at its last step: nothing left to train), not restarted
    assert (jobs[1] / "metrics.jsonl").read_text() == logged


def test_a_sweep_is_continued_by_resume_with_its_directory(tmp_path):
    """The directory a sweep prints at its start is all `-m resume=` needs: the same jobs, there,
    finished ones skipped (the same command line again would start a new timestamped sweep)."""

    def train(*argv: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "rl_lab.train", "-m", *argv]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    first = train("seed=0,1", "total_steps=200", "progress=false")
    assert first.returncode == 0, first.stderr
    (sweep,) = (tmp_path / "multirun").iterdir()
    assert f"continue it, finished jobs skipped: python -m rl_lab.train -m resume=multirun/{sweep.name}" in first.stdout
    logged = {job: (job / "metrics.jsonl").read_text() for job in sweep.glob("seed=*")}
    assert len(logged) == 2
    again = train(f"resume=multirun/{sweep.name}")
    assert again.returncode == 0, again.stderr
    assert [p.name for p in (tmp_path / "multirun").iterdir()] == [sweep.name]
    for job, metrics in logged.items():
        assert f"{job.relative_to(tmp_path)}: already finished, skipped" in again.stdout
        assert (job / "metrics.jsonl").read_text() == metrics
    refused = train(f"resume=multirun/{sweep.name}", "seed=3")
    assert refused.returncode != 0 and refused.stderr.strip().splitlines() == [
        f"config error: seed=3 is invalid with -m resume=multirun/{sweep.name}: the sweep continues with the jobs "
        "it was started with; only progress= and hydra settings (a launcher) may be given"
    ]
    not_a_sweep = train(f"resume={tmp_path}")
    assert "is invalid with -m: not a sweep directory (no multirun.yaml in it)" in not_a_sweep.stderr


def test_a_stopped_sweep_stops_and_its_next_job_never_starts(tmp_path):
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "rl_lab.train", "-m", "seed=0,1", "total_steps=1000000", "progress=false"]
    running = subprocess.Popen([*command, f"hydra.sweep.dir={sweep}"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    first = sweep / "seed=0,total_steps=1000000"
    deadline = time.monotonic() + 120
    while not (first / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    running.send_signal(signal.SIGTERM)  # as a scheduler or `kill` stops it (the basic launcher: jobs in turn)
    out, _ = running.communicate(timeout=120)
    assert running.returncode != 0
    assert _status(first) == "interrupted"
    assert not (sweep / "seed=1,total_steps=1000000").exists(), out


def test_one_failed_job_does_not_stop_the_sweep(tmp_path):
    (tmp_path / "bugs").mkdir()
    (tmp_path / "bugs" / "crash_bug.py").write_text(CRASH_BUG)
    sweep = tmp_path / "sweep"
    done = _sweep(sweep, "bug=crash_bug,none", env={"RL_LAB_BUG_PATH": str(tmp_path / "bugs")})
    assert done.returncode == 0, done.stderr
    failed, clean = sweep / "bug=crash_bug,total_steps=400", sweep / "bug=none,total_steps=400"
    assert _status(failed) == "failed" and _status(clean) == "finished"
    assert "crash_bug: deliberate failure" in (failed / "error.txt").read_text()
    # the multirun ends with its table, one row per job, the failures counted last
    table = (sweep / "sweep_summary.md").read_text()
    assert "| total_steps=400 bug=crash_bug | failed | 0 | - | - | bug=crash_bug,total_steps=400 |" in table
    assert "| total_steps=400 bug=none | finished | 400 |" in table
    assert table.strip().endswith("2 jobs in " + str(sweep) + ", 1 failed")
    assert done.stdout.strip().splitlines()[-2:] == [
        table.strip().splitlines()[-1],
        f"written: {sweep / 'sweep_summary.md'}",
    ]


def test_joblib_launcher_runs_jobs_in_parallel_processes(tmp_path):
    sweep = tmp_path / "sweep"
    done = _sweep(sweep, "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert done.returncode == 0, done.stderr
    assert [_status(j) for j in sorted(sweep.glob("seed=*"))] == ["finished", "finished"]


def test_submitit_local_launcher_runs_a_sweep_as_the_cluster_launcher_would(tmp_path):
    sweep = tmp_path / "sweep"
    done = _sweep(sweep, "seed=0,1", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5")
    assert done.returncode == 0, done.stderr
    jobs = sorted(p for p in sweep.iterdir() if p.name.startswith("seed="))
    assert [_status(j) for j in jobs] == ["finished", "finished"]
    assert (sweep / ".submitit").is_dir()  # submitit's own job records, as on SLURM


@pytest.mark.parametrize(
    ("override", "is_context"),
    [
        ("env=cartpole", False),
        ("env.max_episode_steps=100", True),  # a setting of the env the run needed: its context
        ("bug.off_by_one_frames.dose=2", False),  # the job's dose
        ("agent.model.dropout=0.2", True),
        ("seed=3", False),
        ("+agent.ent_coef=0.01", True),
        ("log_every_update_until=2000", False),  # how the run is logged: the same numbers
        ("checkpoint_interval=20000", False),
    ],
)
def test_a_runs_context_is_what_it_needed_beyond_its_job_keys(override, is_context):
    assert _is_context(override) is is_context
