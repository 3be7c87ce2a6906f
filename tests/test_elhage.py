"""python -m rl_lab.elhage: the bug against the clean agent over seeds, one figure and a table."""

from __future__ import annotations

import subprocess
import sys

from tests.test_train import REPO


def _elhage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rl_lab.elhage", *args], cwd=REPO, capture_output=True, text=True)


def test_elhage_trains_both_arms_per_seed_then_reuses_them(tmp_path):
    args = ("seeds=2", "total_steps=3000", f"runs={tmp_path / 'runs'}", f"out={tmp_path / 'out'}")
    first = _elhage(*args)
    assert first.returncode == 0, first.stderr
    assert "4 runs trained, 0 reused" in first.stdout
    # one line per run, naming it; the runs' own console output kept in their directories
    for arm in ("bug", "clean"):
        for seed in (0, 1):
            run = tmp_path / "runs" / "catch_k1_3000" / f"{arm}_seed{seed}"
            assert sum(line.startswith(f"{run}: finished, ") for line in first.stdout.splitlines()) == 1
            assert (run / "console.log").exists()
    assert first.stderr == "", first.stderr
    assert (tmp_path / "out" / "elhage.png").stat().st_size > 0
    table = (tmp_path / "out" / "elhage.md").read_text()
    assert "| 0 |" in table and "| 1 |" in table and "act_train_consistency 1,040" in table
    again = _elhage(*args)
    assert again.returncode == 0 and "0 runs trained, 4 reused" in again.stdout
    assert (tmp_path / "out" / "elhage.md").read_text() == table


def test_elhage_refuses_a_bad_setting_in_one_line(tmp_path):
    done = _elhage("env=pong", f"runs={tmp_path}")
    assert done.returncode == 2 and "env='pong' is invalid: valid choices are cartpole, catch" in done.stderr
    assert not any(tmp_path.iterdir())
