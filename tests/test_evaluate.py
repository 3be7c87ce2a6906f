"""python -m rl_lab.evaluate: whole episodes from a run's last checkpoint, in both modes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from rl_lab.run.config import CONFIG_DIR
from rl_lab.run.evaluation import evaluate
from rl_lab.run.training import prepare_run, train
from tests.test_train import REPO


def _short_run(tmp_path: Path) -> Path:
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["progress=false", "total_steps=4000"])
    run_dir = tmp_path / "run"
    train(prepare_run(cfg, run_dir), run_dir)
    return run_dir


def test_evaluate_plays_one_episode_per_env_in_each_mode_and_is_reproducible(tmp_path):
    run_dir = _short_run(tmp_path)
    first = evaluate(run_dir, episodes=4, seed=3)
    assert first["step"] == 4000
    for mode in ("stochastic", "deterministic"):
        returns = first[mode]["returns"]
        assert len(returns) == 4 and all(1 <= r <= 500 for r in returns)
        assert first[mode]["mean"] == sum(returns) / 4
    assert json.loads((run_dir / "eval.json").read_text()) == first
    assert evaluate(run_dir, episodes=4, seed=3) == first


def test_evaluate_cli_refuses_a_directory_without_a_run(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "rl_lab.evaluate", f"run={tmp_path}"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 2 and f"run='{tmp_path}' is invalid" in done.stderr


def test_evaluate_cli_prints_both_modes(tmp_path):
    run_dir = _short_run(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "rl_lab.evaluate", f"run={run_dir}", "episodes=2"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "stochastic" in done.stdout and "deterministic" in done.stdout and "over 2 episodes (step 4000)" in done.stdout
    )
