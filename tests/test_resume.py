"""Resume that cannot lie: a resumed run equals the uninterrupted one (bugs' own state included),
refuses overrides that would change it, and a bad resume is a one-line error before any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rl_lab.lab.sweep import read_job
from rl_lab.run.checkpoint import checkpoint_path
from rl_lab.run.config import CONFIG_DIR, ConfigError
from rl_lab.run.runlog import read_metrics
from rl_lab.run.training import prepare_run, train

REPO = Path(__file__).resolve().parent.parent


def _compose(*overrides: str):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=["progress=false", *overrides])


def _start(run_dir: Path, *overrides: str) -> dict:
    return train(prepare_run(_compose(*overrides), run_dir, ["progress=false", *overrides]), run_dir)


def _resume(run_dir: Path, *overrides: str) -> dict:
    resume = f"resume='{run_dir}'"  # quoted: a sweep job's directory name holds = and ,
    return train(prepare_run(_compose(resume, *overrides), run_dir, [resume, *overrides]), run_dir)


def _numbers(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in p.items() if k != "charts/sps"} for p in read_metrics(run_dir)]


@pytest.mark.parametrize(
    "bug",
    [
        "off_by_one_frames",
        "shuffled_labels",
        "reward_one_step_late",
        "greedy_acting",
        "obs_not_reset",
        "previous_step_policy",
        # env-side bugs: the wrapper's own state (last action, last observation, step counter)
        "sticky_actions",
        "observation_repeated",
        "time_limit_twice bug.time_limit_twice.dose=30",
    ],
)
def test_a_resumed_buggy_run_equals_the_uninterrupted_one(tmp_path, bug):
    name, *dose = bug.split()
    common = (f"bug={name}", *dose, "log_interval=400", "seed=5")
    _start(tmp_path / "whole", *common, "total_steps=4000")
    _start(tmp_path / "split", *common, "total_steps=2000")
    summary = _resume(tmp_path / "split", "total_steps=4000")
    assert summary["steps"] == 4000
    assert _numbers(tmp_path / "split") == _numbers(tmp_path / "whole")


def test_a_resume_says_that_it_resumed_and_from_which_step(tmp_path, capsys):
    _start(tmp_path / "run", "total_steps=800")
    capsys.readouterr()
    _resume(tmp_path / "run", "total_steps=1200")
    assert f"resumed {tmp_path / 'run'} at step 800 of 1,200 (from " in capsys.readouterr().out


def test_a_resumed_run_with_sb3s_rmsprop_tf_like_equals_the_uninterrupted_one(tmp_path):
    # Pong's optimizer. torch's load_state_dict adds `differentiable` to an optimizer's defaults,
    # which RMSpropTFLike's constructor does not take: the step check's replay once failed there
    common = ("agent/optimizer=rmsprop_tf_like", "log_interval=400", "seed=5")
    _start(tmp_path / "whole", *common, "total_steps=2000")
    _start(tmp_path / "split", *common, "total_steps=800")
    summary = _resume(tmp_path / "split", "total_steps=2000")
    assert summary["status"] == "finished" and summary["steps"] == 2000
    assert _numbers(tmp_path / "split") == _numbers(tmp_path / "whole")
    assert all(p["params/step_gap"] == 0.0 for p in read_metrics(tmp_path / "split") if "params/step_gap" in p)


def test_a_resume_that_restarts_the_episodes_raises_no_data_path_alarm(tmp_path):
    # Catch and Pong keep no env state: a resumed run resets its envs, and the observation its
    # next action is chosen from is the reset's, which is what the env returned last
    _start(tmp_path / "run", "env=catch", "log_interval=400", "total_steps=800")
    summary = _resume(tmp_path / "run", "total_steps=2000")
    assert summary["status"] == "finished" and "fresh episodes" in summary["notes"][0]
    assert summary["detectors"] == {}
    assert [p["data/next_obs_gap"] for p in read_metrics(tmp_path / "run") if p["step"] > 800] == [0.0] * 3


def test_resume_refuses_an_override_that_would_change_the_run(tmp_path):
    _start(tmp_path, "total_steps=400")
    with pytest.raises(ConfigError, match=r"agent\.lr=0\.1 is invalid with resume.*total_steps="):
        prepare_run(_compose(f"resume={tmp_path}", "agent.lr=0.1"), tmp_path, [f"resume={tmp_path}", "agent.lr=0.1"])
    with pytest.raises(ConfigError, match="env=catch is invalid with resume"):
        prepare_run(_compose(f"resume={tmp_path}", "env=catch"), tmp_path, [f"resume={tmp_path}", "env=catch"])
    # the same value as the run's own (a sweep job resumed with its overrides) is not a change
    same = [f"resume={tmp_path}", "agent.lr=7e-4", "total_steps=800"]
    prepare_run(_compose(*same), tmp_path, same)


def test_resume_of_a_missing_or_empty_directory_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a run directory"):
        prepare_run(_compose(f"resume={tmp_path / 'nowhere'}"), tmp_path / "nowhere", [])
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("seed: 0\n")
    with pytest.raises(ConfigError, match="has no checkpoint"):
        prepare_run(_compose(f"resume={tmp_path / 'run'}"), tmp_path / "run", [])


def test_a_resume_whose_budget_is_not_above_the_run_is_refused(tmp_path):
    _start(tmp_path, "total_steps=400")
    for budget in ("total_steps=400", "total_steps=200"):
        with pytest.raises(ConfigError, match=f"{budget} is invalid with resume: the run is already at step 400"):
            prepare_run(_compose(f"resume={tmp_path}", budget), tmp_path, [f"resume={tmp_path}", budget])
    with pytest.raises(ConfigError, match="total_steps=400 is invalid with resume"):  # a finished run, no new budget
        prepare_run(_compose(f"resume={tmp_path}"), tmp_path, [f"resume={tmp_path}"])


def test_a_truncated_checkpoint_is_a_config_error_naming_the_file(tmp_path):
    _start(tmp_path, "total_steps=400")
    path = checkpoint_path(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ConfigError, match="checkpoint .* is unreadable"):
        prepare_run(_compose(f"resume={tmp_path}"), tmp_path, [])


def test_a_resumed_sweep_job_is_read_back_from_its_own_files(tmp_path):
    run = tmp_path / "env=catch,seed=2"
    _start(run, "env=catch", "seed=2", "total_steps=400")
    _resume(run, "total_steps=800")  # resumed by hand: the command line no longer says env=catch
    job = read_job(run)
    assert (job.env, job.seed, job.bug, job.context) == ("catch", 2, "none", ())
    assert OmegaConf.load(run / "overrides.yaml") == ["progress=false", "env=catch", "seed=2", "total_steps=400"]


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bug=off_by_one_frames", "bug.off_by_one_frames.dose=1.5"), "dose=1.5 is invalid: must be a whole number"),
        (("resume=RUNS/nowhere/deep",), "not a run directory"),
        (("bug=shuffled_labels", "bug.shuffled_labels.dose=2"), "must lie in [0, 1]"),
        # Hydra's own refusals, one line each (rl_lab/run/command_line.py)
        (("total_step=5000",), "total_step=5000 is invalid: no such setting (did you mean total_steps?)"),
        (("+total_step=5000",), "+total_step=5000 is invalid: TrainConfig has no setting 'total_step'"),
        (("env=cartpol",), "env=cartpol is invalid: valid choices are cartpole, catch, pong, pong_sb3"),
        (("bug=off_by_one_frame",), "(did you mean off_by_one_frames?)"),
        (("seed=abc",), "seed=abc is invalid: Value 'abc' of type 'str' could not be converted to Integer"),
        (("-m", "seed=0,abc"), "seed=abc is invalid"),
    ],
)
def test_a_bad_run_is_one_line_before_any_work_and_leaves_no_directory(tmp_path, args, message):
    args = tuple(a.replace("RUNS", str(tmp_path / "runs")) for a in args)
    done = _cli("rl_lab.train", *args, "progress=false", cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("config error:"), done.stderr
    assert not (tmp_path / "runs").exists(), list(tmp_path.rglob("*"))
