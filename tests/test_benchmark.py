"""The side-by-side benchmark harness (rl_lab/lab/benchmark.py) that scripts/bench_*.py use."""

from __future__ import annotations

import math

import pytest

from rl_lab.lab.benchmark import compare, paired_ratio

# a contestant script: its speed is a fixed function of its name and how often it has run
FAKE = """
import json, sys
from pathlib import Path
name = sys.argv[1].split("=")[1]
count = Path(sys.argv[0]).with_suffix("." + name)
runs = int(count.read_text()) if count.exists() else 0
count.write_text(str(runs + 1))
speeds = {"fast": [200.0, 190.0, 210.0, 200.0, 205.0, 195.0, 200.0, 200.0], "slow": [100.0] * 8}
print(json.dumps({"sps": speeds[name][runs]}))
"""


def test_paired_ratio_is_the_geometric_mean_of_the_pairs_with_a_t_interval():
    ratio, low, high = paired_ratio([200.0, 220.0, 180.0], [100.0, 100.0, 100.0])
    assert ratio == pytest.approx(math.exp((math.log(2.0) + math.log(2.2) + math.log(1.8)) / 3))
    assert low < 1.8 < ratio < 2.2 < high  # three pairs: a wide interval
    assert paired_ratio([2.0, 2.0], [1.0, 1.0]) == (2.0, 2.0, 2.0)
    assert math.isnan(paired_ratio([2.0], [1.0])[1])


def test_compare_alternates_and_repeats_until_the_ratio_is_precise(tmp_path, capsys):
    script = tmp_path / "fake.py"
    script.write_text(FAKE)
    loose = compare(str(script), ["fast", "slow"], 10, repeats=2, ratio=("fast", "slow"), precision=0.5, max_repeats=8)
    assert len(loose["fast"]) == 2  # the interval after two repeats is within 50%
    out = capsys.readouterr().out
    # a speed ratio holds for its CPU: the measurement says which, and whether bfloat16 is native there
    assert out.splitlines()[1].startswith("cpu: ") and "bfloat16 " in out.splitlines()[1]
    assert out.index("repeat 0: fast") < out.index("repeat 0: slow") and out.index("repeat 1: slow") < out.index(
        "repeat 1: fast"
    )
    for leftover in tmp_path.glob("fake.*[a-z]"):
        if leftover.suffix != ".py":
            leftover.unlink()
    tight = compare(str(script), ["fast", "slow"], 10, repeats=2, ratio=("fast", "slow"), precision=0.02, max_repeats=8)
    assert 2 < len(tight["fast"]) <= 8
    ratio, low, high = paired_ratio(tight["fast"], tight["slow"])
    assert (high / ratio - 1 <= 0.02 and 1 - low / ratio <= 0.02) or len(tight["fast"]) == 8
