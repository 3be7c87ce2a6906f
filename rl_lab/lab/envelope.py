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

The return's area so far (for :class:`rl_lab.instruments.detectors.BelowCleanArea`) is judged
against the calibration runs' distribution instead: at each log point their median and spread
(:func:`area_reference`), and a depth in spreads below the median: at each step, ``margin`` times
the deepest any calibration run was there against the others' median and spread when left out
(:func:`calibrate_area`). A depth per step, not one for the whole run: a clean seed that starts
late (Catch seed 104: 7 spreads below at 37k steps, 5.7 at 100k) sets the depth where it is deep.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
from scipy import stats

from rl_lab.instruments.detectors import AreaSoFar, _Windowed

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


def area_so_far(points: list[dict], metric: str) -> Series:
    """The metric's area so far at each log point, read exactly as the detector reads it."""
    area = AreaSoFar()
    pairs = [(p["step"], a) for p in points if (a := area.push(p["step"], p.get(metric))) is not None]
    return np.asarray([s for s, _ in pairs]), np.asarray([a for _, a in pairs], dtype=float)


def area_reference(series: list[Series]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At every log point all runs share: the runs' median and spread (interquartile range scaled
    to a normal standard deviation, scipy's ``iqr(scale="normal")``; floored at 1e-6 x (1 + |median|)
    so that identical runs do not divide by 0)."""
    grid = np.asarray(sorted(set.intersection(*(set(steps.tolist()) for steps, _ in series))))
    values = np.asarray([np.interp(grid, steps, area) for steps, area in series])
    median = np.median(values, axis=0)
    spread = np.maximum(stats.iqr(values, axis=0, scale="normal"), 1e-6 * (1 + np.abs(median)))
    return grid, median, spread


def depths_below(run: Series, reference: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """How far ``run`` is below the reference's median at each of its steps, in spreads."""
    grid, median, spread = reference
    area = np.interp(grid, *run)
    return (median - area) / spread


@dataclass
class AreaReference:
    steps: list[int]
    median: list[float]
    spread: list[float]
    depth: list[float]  # at each step: margin x the deepest any left-out calibration run was there, in spreads
    left_out_depths: list[float]  # per calibration run: its deepest below the others' median at any step
    time_limit: int | None = None  # the env's max_episode_steps in the calibration runs (None: the env's own)
    side: str = "below"  # "above": calibrated on the negated metric (rl_lab.instruments.detectors.AboveCleanArea)
    clip: list[float] | None = None  # the range the metric is clipped to before its area is taken


def side_series(points: list[dict], metric: str, side: str = "below", clip: list[float] | None = None) -> Series:
    """The area so far that a detector of ``side`` judges: of the metric clipped to ``clip``, negated
    for ``above``, at each log point (as :class:`~rl_lab.instruments.detectors.BelowCleanArea` reads it)."""
    sign = -1.0 if side == "above" else 1.0
    read = [
        {"step": p["step"], metric: sign * (float(np.clip(p[metric], *clip)) if clip else p[metric])}
        for p in points
        if p.get(metric) is not None and math.isfinite(p[metric])
    ]
    return area_so_far(read, metric)


def calibrate_area(
    series: list[Series],
    bucket: int,
    margin: float,
    time_limit: int | None = None,
    start: int = 0,
    side: str = "below",
    clip: list[float] | None = None,
) -> AreaReference:
    """The reference kept at every ``bucket``-th shared log point from ``start`` on (no verdict
    before it); each one's depth covers the deepest left-out run at any point of its bucket."""
    grid, median, spread = area_reference(series)
    depths = np.asarray(
        [depths_below(run, area_reference(series[:i] + series[i + 1 :])) for i, run in enumerate(series)]
    )
    kept = grid >= start
    grid, median, spread, depths = grid[kept], median[kept], spread[kept], depths[:, kept]
    deepest = np.maximum.reduceat(depths.max(axis=0), np.arange(0, len(grid), bucket))
    return AreaReference(
        [int(s) for s in grid[::bucket]],
        [round(float(v), 6) for v in median[::bucket]],
        [round(float(v), 6) for v in spread[::bucket]],
        [round(float(v), 3) for v in margin * deepest],
        [round(float(d), 3) for d in depths.max(axis=1)],
        time_limit,
        side,
        None if clip is None else [float(c) for c in clip],
    )


# metric -> (side, clip): numbers an actor-critic logs that a corrupted environment could move,
# each read on the side a faulty env pushes it to (explained variance clipped to [-1, 1], so one
# rollout whose returns barely vary does not swamp the area)
AREA_CANDIDATES: dict[str, tuple[str, tuple[float, float] | None]] = {
    "charts/return_last100": ("below", None),
    "value/explained_variance": ("below", (-1.0, 1.0)),
    "value/advantages_std": ("above", None),
    "value/advantages_max": ("above", None),
    "losses/value": ("above", None),
    "policy/entropy": ("above", None),
    "grads/global_norm": ("above", None),
}


def first_below(series: Series, reference: AreaReference) -> int | None:
    """The first step at which an area so far (``series``, on the reference's side) lies beyond
    the reference's depth, as ``BelowCleanArea`` judges it; None if it never does."""
    for step, area in zip(*series, strict=True):
        if step < reference.steps[0]:
            continue
        median = np.interp(step, reference.steps, reference.median)
        floor = median - np.interp(step, reference.steps, reference.depth) * np.interp(
            step, reference.steps, reference.spread
        )
        if area < floor:
            return int(step)
    return None


def split_half_alarms(series: list[Series], margin: float, start: int, side: str, clip) -> int:
    """The clean runs an area would raise an alarm on unseen: the runs split by position into two
    halves, each half calibrating (:func:`calibrate_area`, every log point) and the other judged,
    both ways. A candidate that fires on a clean run it did not see would fire on fresh seeds."""
    halves = (list(range(0, len(series), 2)), list(range(1, len(series), 2)))
    alarms = 0
    for fit, judged in (halves, halves[::-1]):
        reference = calibrate_area([series[i] for i in fit], 1, margin, start=start, side=side, clip=clip)
        alarms += sum(first_below(series[i], reference) is not None for i in judged)
    return alarms
