"""Side-by-side speed measurements: each contestant in a fresh process, alternating order.

Used by ``scripts/bench_*.py``. A contestant is a name and a command-line override
list; the child process runs one measurement and prints ``{"sps": ...}``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

WARMUP_STEPS = 1600


def rl_lab_sps(overrides: list[str], steps: int) -> float:
    """Agent steps per second of ``rl_lab.train`` over ``steps`` steps after a warm-up.

    ``wall_time_s`` covers the training loop only (environment and model are built
    before it), warm-up included: if anything, that biases the number down.
    """
    from rl_lab.run.training import compose_settings, train

    settings = compose_settings(
        [f"total_steps={steps + WARMUP_STEPS}", f"checkpoint_interval={10**9}", "progress=false", *overrides]
    )
    with tempfile.TemporaryDirectory() as run_dir:
        summary = train(settings, Path(run_dir))
    return (steps + WARMUP_STEPS) / summary["wall_time_s"]


def compare(
    script: str, names: list[str], steps: int, repeats: int, child_env: Callable[[str], dict[str, str]] | None = None
) -> dict[str, float]:
    """Run every contestant ``repeats`` times in fresh processes, alternating the order; print
    each measurement and the medians; return the medians."""
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    results: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else list(reversed(names)):
            env = child_env(name) if child_env else dict(os.environ)
            out = subprocess.run(
                [sys.executable, script, f"only={name}", f"steps={steps}"],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout
            sps = json.loads(out.strip().splitlines()[-1])["sps"]
            results[name].append(sps)
            print(f"repeat {repeat}: {name:18s} {sps:7.0f} steps/s", flush=True)
    medians = {name: statistics.median(values) for name, values in results.items()}
    print("\nmedian steps/s over repeats:")
    for name, value in medians.items():
        print(f"  {name:18s} {value:7.0f}")
    return medians
