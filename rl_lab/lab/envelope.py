"""An environment's clean envelope, and the patience that keeps a fresh clean seed inside it.

The envelope of a metric is, at each log point, the lowest value any clean calibration run had
there (as the detector reads it: a median over ``smooth_steps``); buckets of ``bucket`` log
points keep their lowest. A fresh clean seed will still dip below it now and then, so the
patience (how long a run must stay below before :class:`rl_lab.instruments.detectors.BelowEnvelope`
fires) is set by leaving each calibration run out in turn: the envelope of the other runs, and
the longest stretch the left-out run spent below it. The patience is ``margin`` times the longest
such stretch, at least one bucket: the left-out runs play the fresh seeds, on calibration seeds
only. ``scripts/calibrate_envelope.py`` writes the result; ``scripts/false_alarms.py`` measures it
on the evaluation seeds.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from rl_lab.instruments.detectors import _Windowed

Series = tuple[np.ndarray, np.ndarray]  # steps, values


def smoothed(points: list[dict], metric: str, smooth_steps: int) -> Series:
    """The metric's median over the last ``smooth_steps`` at each log point, read exactly as the
    detector reads it (its window: :class:`rl_lab.instruments.detectors._Windowed`)."""
    window = _Windowed(metric, smooth_steps)
    steps, values = [], []
    for point in points:
        if window._push(point["step"], point) is not None:
            steps.append(point["step"])
            values.append(statistics.median(window._values()))
    return np.asarray(steps), np.asarray(values, dtype=float)


def lowest(series: list[Series], bucket: int) -> Series:
    """The envelope: at each log point all runs share, the lowest value; then the lowest of each
    ``bucket`` consecutive points, placed at the bucket's first step."""
    grid = np.asarray(sorted(set.intersection(*(set(steps.tolist()) for steps, _ in series))))
    lows = np.min([np.interp(grid, steps, values) for steps, values in series], axis=0)
    starts = range(0, len(grid), bucket)
    return grid[list(starts)], np.asarray([lows[i : i + bucket].min() for i in starts])


def longest_below(run: Series, envelope: Series) -> int:
    """The most agent steps ``run`` stays below ``envelope`` without coming back above it, counted
    as the detector counts them (from the first point of a stretch to its last)."""
    env_steps, env_low = envelope
    longest, since = 0, None
    for step, value in zip(*run, strict=True):
        if step < env_steps[0]:
            continue
        since = (step if since is None else since) if value < np.interp(step, env_steps, env_low) else None
        longest = max(longest, 0 if since is None else int(step - since))
    return longest


@dataclass
class Envelope:
    steps: list[int]
    low: list[float]
    patience_steps: int
    left_out_stretches: list[int]  # per calibration run: its longest stretch below the others' envelope


def calibrate(series: list[Series], bucket: int, margin: float) -> Envelope:
    steps, low = lowest(series, bucket)
    stretches = [longest_below(run, lowest(series[:i] + series[i + 1 :], bucket)) for i, run in enumerate(series)]
    spacing = int(steps[1] - steps[0]) if len(steps) > 1 else 0
    patience = max(spacing, math.ceil(margin * max(stretches) / 1_000) * 1_000)
    return Envelope([int(s) for s in steps], [round(float(v), 6) for v in low], patience, stretches)
