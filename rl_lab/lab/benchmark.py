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


def paired_ratio(
    numerator: list[float], denominator: list[float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """The ratio of two contestants' speeds and its confidence interval, from the repeats as pairs
    (each repeat measures both, side by side): Student's t-interval of the mean log ratio
    (scipy), back-transformed. Returns (ratio, low, high); the interval is (nan, nan) below 2 pairs."""
    import numpy as np
    from scipy import stats

    logs = np.log(np.asarray(numerator)) - np.log(np.asarray(denominator))
    ratio = float(np.exp(logs.mean()))
    if len(logs) < 2:
        return ratio, float("nan"), float("nan")
    if np.all(logs == logs[0]):  # every pair gave the same ratio
        return ratio, ratio, ratio
    low, high = stats.t.interval(confidence, len(logs) - 1, loc=logs.mean(), scale=stats.sem(logs))
    return ratio, float(np.exp(low)), float(np.exp(high))


def compare(
    script: str,
    names: list[str],
    steps: int,
    repeats: int,
    child_env: Callable[[str], dict[str, str]] | None = None,
    ratio: tuple[str, str] | None = None,
    precision: float = 0.0,
    max_repeats: int = 0,
) -> dict[str, list[float]]:
    """Run every contestant in fresh processes, alternating the order each repeat; print each
    measurement, then the medians. At least ``repeats`` repeats; with ``ratio=(a, b)`` and
    ``precision`` > 0, more, up to ``max_repeats``, until the 95% interval of speed(a)/speed(b)
    (:func:`paired_ratio`) is within ``precision`` of the ratio on both sides. Returns every
    measurement by contestant."""
    from rl_lab.run.hardware import describe_cpu

    # a speed ratio holds for the CPU it was measured on: bfloat16 is native on some, emulated on others
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(describe_cpu())
    results: dict[str, list[float]] = {name: [] for name in names}
    repeat = 0
    while True:
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
        repeat += 1
        if repeat < repeats:
            continue
        if ratio is None or precision <= 0 or repeat >= max(max_repeats, repeats):
            break
        value, low, high = paired_ratio(results[ratio[0]], results[ratio[1]])
        if high / value - 1 <= precision and 1 - low / value <= precision:
            break
    print(f"\nmedian steps/s over {repeat} repeats:")
    for name, values in results.items():
        print(f"  {name:18s} {statistics.median(values):7.0f}")
    return results


def print_ratio(
    label: str, results: dict[str, list[float]], numerator: str, denominator: str
) -> tuple[float, float, float]:
    """Print speed(numerator)/speed(denominator) with its 95% interval over the repeats; return them."""
    value, low, high = paired_ratio(results[numerator], results[denominator])
    print(f"{label}: {value:.3f} [95% CI {low:.3f}, {high:.3f}] over {len(results[numerator])} paired repeats")
    return value, low, high
