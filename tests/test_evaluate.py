"""python -m rl_lab.evaluate: whole episodes from a run's last checkpoint, in both modes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

from rl_lab.run.checkpoint import export_weights
from rl_lab.run.config import CONFIG_DIR
from rl_lab.run.evaluation import evaluate, record
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


def test_an_exported_agent_evaluates_as_its_run(tmp_path):
    run_dir = _short_run(tmp_path)
    weights = export_weights(run_dir, tmp_path / "agent")
    assert sorted(p.name for p in weights.parent.iterdir()) == ["config.yaml", "weights.pt"]
    assert set(torch.load(weights, weights_only=True)) == {"model", "step"}
    assert evaluate(tmp_path / "agent", episodes=3, seed=5) == evaluate(run_dir, episodes=3, seed=5)


def test_evaluate_writes_a_gif_of_an_image_agent_and_refuses_one_without_images(tmp_path):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["progress=false", "env=catch", "total_steps=2000"])
    catch_run = tmp_path / "catch"
    train(prepare_run(cfg, catch_run), catch_run)
    gif = tmp_path / "clip" / "catch.gif"
    done = subprocess.run(
        [sys.executable, "-m", "rl_lab.evaluate", str(catch_run), "episodes=0", f"gif={gif}", "gif_steps=25"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    with Image.open(gif) as image:
        assert image.n_frames == 25
    cartpole_run = _short_run(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "rl_lab.evaluate", str(cartpole_run), f"gif={tmp_path / 'no.gif'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "gif=" in done.stderr and "not images" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_evaluate_never_overwrites_a_committed_result(tmp_path):
    committed = REPO / "results" / "known_result" / "pong" / "agent"
    before = (committed / "eval.json").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "rl_lab.evaluate", str(committed), "episodes=2"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "eval.json is a committed result and would be overwritten: write elsewhere with out=PATH" in done.stderr
    assert (committed / "eval.json").read_bytes() == before
    run_dir = _short_run(tmp_path)  # an untracked run: beside it by default, or where out= says
    out = tmp_path / "elsewhere" / "cartpole.json"
    done = subprocess.run(
        [sys.executable, "-m", "rl_lab.evaluate", str(run_dir), "episodes=1", f"out={out}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and f"written: {out}" in done.stdout, done.stderr
    assert json.loads(out.read_text())["episodes"] == 1 and not (run_dir / "eval.json").exists()


def test_a_pong_clip_shows_the_game_in_colour_beside_the_networks_view(tmp_path):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["progress=false", "env=pong", "total_steps=160"])
    pong_run = tmp_path / "pong"
    train(prepare_run(cfg, pong_run), pong_run)
    clip = record(pong_run, tmp_path / "pong.gif", steps=12)
    assert clip["steps"] == 12 and clip["step"] == 160
    with Image.open(tmp_path / "pong.gif") as gif:
        assert 1 < gif.n_frames <= 12  # Pillow merges a frame identical to the one before (a still serve)
        assert gif.size == (2 * 160 + 8 + 2 * 84, 18 + 2 * 210)  # ALE's screen 2x, a gap, the 84x84 view 2x
        frame = np.asarray(gif.convert("RGB"))
    screen, view = frame[18:, : 2 * 160], frame[18 : 18 + 168, -168:]
    assert (screen[..., 0] != screen[..., 1]).any()  # colour: Pong's orange and green
    assert (view[..., 0] == view[..., 1]).all()  # the network's gray frame


def test_evaluate_refuses_nothing_to_do(tmp_path):
    run_dir = _short_run(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "rl_lab.evaluate", str(run_dir), "episodes=0"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 2 and "episodes=0 is invalid" in done.stderr
