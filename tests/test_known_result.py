"""scripts/known_result.py: rl-lab against SB3, learning curve for learning curve (reduced budget)."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "known_result.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("known_result", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "seeds=3", "steps=30000", f"out={tmp_path}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_curve_is_the_mean_of_the_last_window_episodes_ended_by_each_step():
    known_result = _load_script()
    episodes = [(10 * (i + 1), float(i)) for i in range(150)]  # episode i ends at step 10(i+1), return i
    values = known_result.curve(episodes, np.array([5, 10, 500, 1500]))
    assert np.isnan(values[0])
    assert values[1] == 0.0
    assert values[2] == pytest.approx(np.mean(range(50)))
    assert values[3] == pytest.approx(np.mean(range(50, 150)))  # the last 100 of 150


def test_compare_finds_a_clear_difference_and_not_a_null_one():
    known_result = _load_script()
    rng = np.random.default_rng(0)
    same = known_result.compare(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.5, 3.5, 2.0]), rng)
    apart = known_result.compare(np.array([100.0, 101.0, 99.0]), np.array([10.0, 11.0, 9.0]), rng)
    assert same["p"] > 0.05 and same["ci_low"] < 0 < same["ci_high"]
    assert apart["p"] < 0.001 and apart["ci_low"] > 80
    # every seed at CartPole's cap on both sides: no spread, no Welch, but plainly the same
    capped = known_result.compare(np.full(5, 500.0), np.full(5, 500.0), rng)
    assert capped["p"] == 1.0 and capped["ci_low"] == capped["ci_high"] == 0.0
    assert np.isnan(known_result.compare(np.array([np.nan, 1.0]), np.array([1.0, 2.0]), rng)["p"])


@pytest.mark.slow  # 3 seeds x 30k steps on each side
def test_clean_agent_matches_sb3_on_a_short_cartpole_budget(tmp_path):
    done = _run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = (tmp_path / "verdict.md").read_text()
    assert "no significant difference" in verdict and "stable-baselines3 2." in verdict
    rows = list(csv.reader(open(tmp_path / "curves.csv")))
    assert rows[0] == ["step", *[f"{side}_seed{s}" for side in ("rl-lab", "sb3") for s in range(3)]]
    assert len(rows) == 51 and (tmp_path / "curves.png").stat().st_size > 10_000


@pytest.mark.slow
def test_a_bug_on_the_rl_lab_side_is_a_significant_difference(tmp_path):
    done = _run(tmp_path, "bug=sign_flip")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the curves differ significantly (Welch p < 0.05) in final return, area under the curve" in done.stdout


def test_unknown_bug_is_refused_with_the_choices(tmp_path):
    done = _run(tmp_path, "bug=sign_flp")
    assert done.returncode != 0 and "bug='sign_flp' is invalid: valid choices are none" in done.stderr


def test_unknown_algo_is_refused_with_the_choices(tmp_path):
    done = _run(tmp_path, "algo=sarsa")
    assert done.returncode != 0 and "algo='sarsa' is invalid: valid choices are a2c, ppo" in done.stderr
