"""The Hydra app: config validation, what a run writes, checkpoint and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf

from rl_lab.run.checkpoint import checkpoint_path
from rl_lab.run.config import CONFIG_DIR, ConfigError, to_settings
from rl_lab.run.runlog import read_metrics
from rl_lab.run.training import prepare_run, train

REPO = Path(__file__).resolve().parent.parent


def settings_for(*overrides: str):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return to_settings(compose("config", overrides=["progress=false", *overrides]))


def _without_wall_clock(points: list[dict]) -> list[dict]:
    return [{k: v for k, v in p.items() if k != "charts/sps"} for p in points]


@pytest.mark.parametrize(
    ("override", "field", "hint"),
    [
        ("agent.n_envs=0", "agent.n_envs=0", ">= 1"),
        ("agent.lr=-0.001", "agent.lr=-0.001", "> 0"),
        ("agent.gamma=1.5", "agent.gamma=1.5", "[0, 1]"),
        ("total_steps=0", "total_steps=0", ">= 1"),
        ("device=tpu", "device='tpu'", "cpu, cuda"),
    ],
)
def test_out_of_range_values_name_the_field_and_the_valid_range(override, field, hint):
    with pytest.raises(ConfigError) as error:
        settings_for(override)
    assert field in str(error.value) and hint in str(error.value)


def test_unknown_env_lists_the_valid_choices():
    with pytest.raises(MissingConfigException) as error:
        settings_for("env=atlantis")
    message = str(error.value)
    assert "env/atlantis" in message and "cartpole" in message and "pong" in message


def test_misspelled_or_mistyped_fields_fail_at_composition():
    with pytest.raises(ConfigCompositionException, match="lrr"):
        settings_for("agent.lrr=0.1")
    with pytest.raises(ConfigCompositionException, match="agent.lr"):
        settings_for("agent.lr=fast")


def test_pong_defaults_are_the_zoo_atari_hyperparameters():
    hp = settings_for("env=pong").agent
    assert (hp.n_envs, hp.n_steps, hp.gamma, hp.gae_lambda) == (16, 5, 0.99, 1.0)
    assert (hp.ent_coef, hp.vf_coef, hp.max_grad_norm, hp.lr) == (0.01, 0.25, 0.5, 7e-4)
    assert hp.optimizer["_target_"].endswith("RMSpropTFLike") and hp.optimizer["eps"] == 1e-5
    assert hp.model["_target_"].endswith("NatureCNN")


def test_a_run_writes_tensorboard_metrics_and_summary(tmp_path):
    summary = train(settings_for("total_steps=2000", "log_interval=400"), tmp_path)
    assert summary["status"] == "finished" and summary["steps"] == 2000
    assert summary["episodes"] > 0 and summary["final_return"] > 0
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    points = read_metrics(tmp_path)
    assert [p["step"] for p in points] == [400, 800, 1200, 1600, 2000]
    for key in (
        "losses/policy",
        "losses/value",
        "losses/entropy",
        "policy/entropy",
        "value/explained_variance",
        "charts/sps",
        "charts/return_last100",
    ):
        assert key in points[-1], key
    # the mean of the episodes that ended since the last log point, where any did
    assert sum("charts/episode_return" in p and "charts/episode_length" in p for p in points) >= 3
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "finished"


def test_same_config_and_seed_give_the_same_numbers(tmp_path):
    first = train(settings_for("total_steps=1200", "log_interval=400", "seed=7"), tmp_path / "a")
    second = train(settings_for("total_steps=1200", "log_interval=400", "seed=7"), tmp_path / "b")
    other = train(settings_for("total_steps=1200", "log_interval=400", "seed=8"), tmp_path / "c")
    assert _without_wall_clock(read_metrics(tmp_path / "a")) == _without_wall_clock(read_metrics(tmp_path / "b"))
    assert _without_wall_clock(read_metrics(tmp_path / "a")) != _without_wall_clock(read_metrics(tmp_path / "c"))
    assert first["final_return"] == second["final_return"] != other["final_return"]


def test_every_update_is_a_log_point_early_and_the_run_is_unchanged(tmp_path):
    dense = train(settings_for("total_steps=1200", "log_interval=400", "log_every_update_until=200"), tmp_path / "a")
    sparse = train(settings_for("total_steps=1200", "log_interval=400"), tmp_path / "b")
    steps = [p["step"] for p in read_metrics(tmp_path / "a")]
    assert steps == [40, 80, 120, 160, 200, 400, 800, 1200]  # 8 envs x 5 steps per update on CartPole
    assert dense["final_return"] == sparse["final_return"]
    per_point = ("charts/sps", "charts/episode_return", "charts/episode_length")  # since the last log point

    def same_run(points: list[dict]) -> list[dict]:
        return [{k: v for k, v in p.items() if k not in per_point} for p in points]

    at = {p["step"]: p for p in same_run(read_metrics(tmp_path / "a"))}
    assert [at[p["step"]] for p in same_run(read_metrics(tmp_path / "b"))] == same_run(read_metrics(tmp_path / "b"))


@pytest.mark.parametrize("log_every_update_until", [0, 400])
def test_episode_return_is_the_mean_of_the_episodes_ended_since_the_last_log_point(tmp_path, log_every_update_until):
    overrides = ("total_steps=1200", "log_interval=400", f"log_every_update_until={log_every_update_until}")
    summary = train(settings_for(*overrides), tmp_path)
    points, total, counted = read_metrics(tmp_path), 0.0, 0
    for point in points:
        ended = point["charts/episodes"] - counted
        total += point.get("charts/episode_return", 0.0) * ended
        counted = point["charts/episodes"]
    assert 0 < counted == summary["episodes"] <= 100  # so the final return is the mean of all of them
    assert total / counted == pytest.approx(summary["final_return"], rel=1e-9)


def test_checkpoint_loads_with_weights_only(tmp_path):
    train(settings_for("total_steps=400", "log_interval=400"), tmp_path)
    state = torch.load(checkpoint_path(tmp_path), weights_only=True)
    assert state["step"] == 400 and "model" in state and "optimizer" in state


def test_killed_run_resumes_to_the_same_numbers_as_an_uninterrupted_one(tmp_path):
    common = ["total_steps=8000", "log_interval=400", "checkpoint_interval=2000", "seed=3"]
    reference = tmp_path / "uninterrupted"
    train(settings_for(*common), reference)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rl_lab.train", *common, "progress=false", f"hydra.run.dir={killed}"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:  # kill -9 once the first periodic checkpoint is on disk
        if checkpoint_path(killed).exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved_at = torch.load(checkpoint_path(killed), weights_only=True)["step"]
    assert 0 < saved_at < 8000, "the run must be killed mid-way"
    assert json.loads((killed / "summary.json").read_text())["status"] == "running"

    cfg = OmegaConf.load(killed / "config.yaml")
    cfg.resume = str(killed)
    summary = train(prepare_run(cfg, killed), killed)
    assert summary["status"] == "finished" and summary["steps"] == 8000
    assert _without_wall_clock(read_metrics(killed)) == _without_wall_clock(read_metrics(reference))
    assert summary["final_return"] == json.loads((reference / "summary.json").read_text())["final_return"]


def test_command_line_run_prints_where_its_logs_are(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "rl_lab.train", "total_steps=400", "progress=false", f"hydra.run.dir={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HYDRA_FULL_ERROR": "1"},
    ).stdout
    assert f"tensorboard --logdir {tmp_path / 'tb'}" in out
    assert "finished: 400 steps" in out


def test_command_line_config_error_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "rl_lab.train", "agent.n_envs=0", f"hydra.run.dir={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "config error: agent.n_envs=0 is invalid: must be an integer >= 1" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has CUDA: device=cuda is valid here")
def test_device_cuda_without_cuda_is_one_line_before_any_work_and_leaves_no_directory(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "rl_lab.train", "device=cuda", f"hydra.run.dir={run_dir}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        f"config error: device='cuda' is invalid: this torch ({torch.__version__}) sees no CUDA GPU "
        "(a CPU build, or no GPU); valid choices here are cpu"
    ]
    assert not run_dir.exists() and proc.stdout == ""


def test_a_run_shorter_than_one_episode_says_no_episode_has_ended(tmp_path):
    # 8 CartPole envs x 5 steps: no episode of CartPole ends within 5 steps
    out = subprocess.run(
        [sys.executable, "-m", "rl_lab.train", "total_steps=40", "progress=false", f"hydra.run.dir={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "finished: 40 steps in" in out and "no episode has ended yet" in out
    assert "nan" not in out
