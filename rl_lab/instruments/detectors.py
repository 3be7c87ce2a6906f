"""Detectors: small rules that turn the diagnostics into dated events.

Each watches the metrics at every log point and fires on the rising edge of
its condition (once when it becomes true; again only after it was false). A
firing is an :class:`Event` (step, detector, metric, value, threshold). Kinds:

``divergence``  the run is going or has gone numerically wrong: non-finite
                values, loss explosion, gradient-norm spikes, unbounded
                parameter-norm growth, value divergence. The first firing of
                one of these is the run's ``divergence_step``.
``learning``    the run is healthy numerically but not learning as it should:
                entropy collapse, plateau, oscillation, a critic that does not fit.
``consistency`` a number that a correct agent pins down is off: a KL that must be 0
                (the update trains the policy that acted), a loss term that differs
                from its recomputation, inputs far from order 1. Exact checks, so they
                fire at once and never on a correct agent.

Thresholds live in ``conf/diagnostics/default.yaml``, and the scales that depend on the
environment (its return range, how long its clean return may stay flat, when its critic must
fit, what return it must reach by when) in ``conf/env/*.yaml``; each class documents its rule
(``tests/test_detectors.py`` holds the synthetic pathologies each must catch and the healthy
series it must not). Every window and patience is counted in agent steps, never in log
points, so a detector means the same at any ``log_interval``: a window of W steps holds the
log points after ``step - W`` and the last one at or before it, and it is *full* once that
first point lies W steps back.

Writing your own: subclass :class:`Detector` (or :class:`_Windowed`), set ``kind`` and
``metric``, implement ``check(step, scalars)``, and name it by ``_target_`` in a diagnostics
config (README, "Your own detector").
"""

from __future__ import annotations

import functools
import math
import statistics
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

DIVERGENCE, LEARNING, CONSISTENCY = "divergence", "learning", "consistency"


@dataclass
class Event:
    step: int
    detector: str
    kind: str
    metric: str
    value: float
    threshold: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Detector:
    """Base class: ``check(step, scalars)`` returns ``(value, threshold, message)`` while the
    pathology holds, else None; ``observe`` turns its rising edge into an :class:`Event`.

    ``scalars`` is one log point of ``metrics.jsonl`` (a series missing from it was not logged
    then: give no verdict rather than read it as 0). State kept between log points must be
    plain attributes (numbers, lists, deques, dicts) so that ``state_dict`` can checkpoint it.
    """

    kind = DIVERGENCE
    metric = ""

    def __init__(self, name: str | None = None):
        self.name = name or type(self).__name__
        self.active = False

    def check(self, step: int, scalars: dict[str, float]) -> tuple[float, float, str] | None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, deque) else v for k, v in vars(self).items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            if not hasattr(self, key):
                continue  # a field an older version kept (a checkpoint written before it was dropped)
            current = getattr(self, key)
            setattr(self, key, deque(value, maxlen=current.maxlen) if isinstance(current, deque) else value)

    def observe(self, step: int, scalars: dict[str, float]) -> Event | None:
        hit = self.check(step, scalars)
        fired = hit is not None and not self.active
        self.active = hit is not None
        if not fired:
            return None
        value, threshold, message = hit
        return Event(step, self.name, self.kind, self.metric, float(value), float(threshold), message)


class _Held(Detector):
    """A detector whose condition must hold for ``patience_steps`` agent steps: from the first log
    point of its current streak to the present one (0: at once)."""

    def __init__(self, patience_steps: int = 0, name: str | None = None):
        super().__init__(name)
        self.patience_steps = patience_steps
        self.since: int | None = None

    def _held_for(self, step: int, holds: bool) -> int | None:
        """Agent steps the condition has held (0 at the first point of a streak); None when it does not."""
        if not holds:
            self.since = None
            return None
        self.since = step if self.since is None else self.since
        return step - self.since

    def _held(self, step: int, holds: bool) -> bool:
        held = self._held_for(step, holds)
        return held is not None and held >= self.patience_steps


class _Windowed(Detector):
    """A detector over one metric in the last ``window_steps`` agent steps (missing or non-finite
    points are skipped). ``points`` holds ``[step, value]`` pairs: those after ``step - window_steps``
    and the last one at or before it."""

    def __init__(self, metric: str, window_steps: int, name: str | None = None):
        super().__init__(name)
        self.metric = metric
        self.window_steps = window_steps
        self.points: deque[list[float]] = deque()

    def _push(self, step: int, scalars: dict[str, float]) -> float | None:
        value = scalars.get(self.metric)
        if value is None or not math.isfinite(value):
            return None
        self.points.append([step, value])
        while len(self.points) >= 2 and self.points[1][0] <= step - self.window_steps:
            self.points.popleft()
        return value

    def _full(self) -> bool:
        """The points reach back a whole window."""
        return bool(self.points) and self.points[0][0] <= self.points[-1][0] - self.window_steps

    def _values(self) -> list[float]:
        return [value for _, value in self.points]


class NonFinite(Detector):
    """Any NaN or infinity in the losses, the gradient norm, or (counted) in parameters and values."""

    metric = "diagnostics/nonfinite_count"
    watched = ("losses/total", "losses/policy", "losses/value", "grads/global_norm")

    def check(self, step, scalars):
        bad = [k for k in self.watched if k in scalars and not math.isfinite(scalars[k])]
        count = scalars.get(self.metric, 0.0)
        if bad or count > 0:
            return count or float(len(bad)), 0.0, f"non-finite values in {', '.join(bad) or 'parameters/values'}"
        return None


class LossExplosion(_Held):
    """The critic's error blows up past the scale of what it predicts: value loss divided by
    (largest |return| + 1)^2 above ``factor`` for ``patience_steps`` agent steps.

    Scale-free on purpose: a solved CartPole's value loss falls to 1e-6 and then jumps a
    million-fold at an episode end, so a ratio to its own running median means nothing;
    an MSE ten times the squared return scale means the values left the returns' range.
    """

    metric = "losses/value"

    def __init__(self, factor: float = 10.0, patience_steps: int = 2_000, name: str | None = None):
        super().__init__(patience_steps, name)
        self.factor = factor

    def check(self, step, scalars):
        loss = scalars.get(self.metric)
        if loss is None or not math.isfinite(loss) or not {"value/returns_min", "value/returns_max"} <= set(scalars):
            return None  # no verdict without the returns' scale (the panel off logs the loss alone)
        scale = max(abs(scalars["value/returns_min"]), abs(scalars["value/returns_max"])) + 1.0
        ratio = loss / scale**2
        held = self._held_for(step, ratio > self.factor)
        if held is not None and held >= self.patience_steps:
            return ratio, self.factor, f"value loss {loss:.3g} = {ratio:.3g} x (|return| + 1)^2 for {held:,} steps"
        return None


class GradSpikes(_Windowed):
    """Gradient-norm spikes come too often: within the last ``window_steps`` agent steps, at least
    ``min_spikes`` log points lie above ``factor`` times the gradient norm's level: the median of
    the window before them, or the median over the first ``min_history_steps`` (the start of
    training) if that is higher. A point counts only once the detector has watched for
    ``min_history_steps``.

    Why the floor at the starting level: once clean CartPole is solved, every episode runs to
    its time limit, the advantages vanish and the running median of the gradient norm falls to
    ~0.01; an occasional failed episode is then 10^3-10^6 x that median (calibration seeds
    100-109, 500k steps: 3 of 10 fired without it), but never more than 46x the starting level.
    A diverging run's gradient norm leaves its starting level by orders of magnitude (Elhage's
    off-by-one on Catch: 10^4 x).
    """

    def __init__(
        self,
        metric: str = "grads/global_norm",
        factor: float = 100.0,
        window_steps: int = 50_000,
        min_spikes: int = 3,
        min_history_steps: int = 10_000,
        name: str | None = None,
    ):
        super().__init__(metric, window_steps, name)
        self.factor, self.min_spikes, self.min_history_steps = factor, min_spikes, min_history_steps
        self.first_step: int | None = None
        self.start_values: list[float] = []  # the first min_history_steps: the starting level
        self.spike_steps: deque[int] = deque()

    def check(self, step, scalars):
        past = self._values()
        value = self._push(step, scalars)
        if value is None:
            return None
        self.first_step = step if self.first_step is None else self.first_step
        if step - self.first_step < self.min_history_steps:
            self.start_values.append(value)
        elif past:
            start = (
                statistics.median(self.start_values) if self.start_values else 0.0
            )  # none: a checkpoint from before it
            level = max(statistics.median(past), start)
            if value > self.factor * level:
                self.spike_steps.append(step)
        while self.spike_steps and self.spike_steps[0] <= step - self.window_steps:
            self.spike_steps.popleft()
        count = len(self.spike_steps)
        if count >= self.min_spikes:
            return (
                float(count),
                float(self.min_spikes),
                f"{count} gradient-norm spikes above {self.factor:g} x their level in {self.window_steps:,} steps",
            )
        return None


class ParamNormGrowth(_Windowed):
    """Unbounded parameter-norm growth: the norm is above ``factor`` times its first value and
    rose at every log point of the last ``rising_steps`` agent steps."""

    def __init__(
        self,
        metric: str = "params/global_norm",
        factor: float = 3.0,
        rising_steps: int = 10_000,
        name: str | None = None,
    ):
        super().__init__(metric, rising_steps, name)
        self.factor = factor
        self.first: float | None = None

    def check(self, step, scalars):
        value = self._push(step, scalars)
        if value is None:
            return None
        self.first = value if self.first is None else self.first
        h = self._values()
        rising = self._full() and all(b > a for a, b in zip(h, h[1:], strict=False))
        threshold = self.factor * self.first
        if rising and value > threshold:
            return value, threshold, f"parameter norm {value:.3g} > {self.factor:g} x initial and still rising"
        return None


class ValueDivergence(_Windowed):
    """The critic diverges: the median explained variance over the last ``window_steps`` agent
    steps is below ``ev_floor``, or the largest |value| exceeds ``scale_factor`` times
    (largest |return| + 1).

    Explained variance is read only from batches whose returns vary (standard deviation at least
    ``min_return_spread`` x (largest |return| + 1)): it divides by that variance, so a batch
    whose returns are all alike gives a meaninglessly negative number however well the critic
    fits. Solved clean CartPole is all alike (every return 100.0 to 3 digits, relative spread
    below 1e-4, explained variance down to -8 with a perfect critic: calibration seeds 100-109,
    500k steps). A median over the window, because single batches are noisy.
    """

    def __init__(
        self,
        ev_floor: float = -2.0,
        window_steps: int = 10_000,
        scale_factor: float = 10.0,
        min_return_spread: float = 0.05,
        name: str | None = None,
    ):
        super().__init__("value/explained_variance", window_steps, name)
        self.ev_floor, self.scale_factor, self.min_return_spread = ev_floor, scale_factor, min_return_spread

    def check(self, step, scalars):
        needed = {"value/values_min", "value/values_max", "value/returns_min", "value/returns_max", "value/returns_std"}
        if not needed <= set(scalars):
            return None  # no verdict without the scales and the spread (the panel off logs none)
        returns = max(abs(scalars["value/returns_min"]), abs(scalars["value/returns_max"]))
        if scalars["value/returns_std"] >= self.min_return_spread * (returns + 1.0):
            self._push(step, scalars)
        if self._full():
            median = statistics.median(self._values())
            if median < self.ev_floor:
                return median, self.ev_floor, f"median explained variance {median:.3g} over {self.window_steps:,} steps"
        values = max(abs(scalars["value/values_min"]), abs(scalars["value/values_max"]))
        threshold = self.scale_factor * (returns + 1.0)
        if values > threshold:
            return values, threshold, f"|value| {values:.3g} > {self.scale_factor:g} x (|return| + 1)"
        return None


class EntropyCollapse(_Held):
    """The policy became (near) deterministic: entropy / log(n_actions) below ``fraction`` for
    ``patience_steps`` agent steps."""

    kind = LEARNING
    metric = "policy/entropy_normalized"

    def __init__(self, fraction: float = 0.02, patience_steps: int = 4_000, name: str | None = None):
        super().__init__(patience_steps, name)
        self.fraction = fraction

    def check(self, step, scalars):
        h = scalars.get(self.metric)
        if h is None:
            return None
        held = self._held_for(step, h < self.fraction)
        if held is not None and held >= self.patience_steps:
            return h, self.fraction, f"normalized entropy {h:.3g} < {self.fraction:g} for {held:,} steps"
        return None


def _span(return_range: Sequence[float] | None) -> float | None:
    """The width of an environment's return range (``env.return_range``), None if not configured."""
    return None if return_range is None else float(return_range[1]) - float(return_range[0])


class Plateau(_Windowed):
    """Learning stalled short of the goal: over the last ``window_steps`` agent steps the return
    moved by less than ``min_change`` times the width of the env's return range, and it is
    below ``target`` (the env's solved level). No verdict without ``return_range``.

    Both scales are per environment (``env.return_range``, ``env.plateau_window``): a clean
    Pong return stays within 1.1 points (of 42) for 3M steps before it takes off.
    """

    kind = LEARNING

    def __init__(
        self,
        metric: str = "charts/return_last100",
        window_steps: int = 100_000,
        min_change: float = 0.01,
        target: float | None = None,
        return_range: Sequence[float] | None = None,
        name: str | None = None,
    ):
        super().__init__(metric, window_steps, name)
        self.min_change, self.target = min_change, math.inf if target is None else target
        self.span = _span(return_range)

    def check(self, step, scalars):
        value = self._push(step, scalars)
        if value is None or self.span is None or not self._full():
            return None
        change, threshold = max(self._values()) - min(self._values()), self.min_change * self.span
        if change < threshold and value < self.target:
            return change, threshold, f"return moved {change:.3g} over {self.window_steps:,} steps"
        return None


class Oscillation(_Windowed):
    """The return swings up and down instead of improving: within the last ``window_steps`` agent
    steps it went from below ``mean - band`` to above ``mean + band`` (or back) at least
    ``min_swings`` times, where the band is ``min_amplitude / 2`` times the width of the env's
    return range. The band makes noise around a trend count for nothing. No verdict without
    ``return_range``."""

    kind = LEARNING

    def __init__(
        self,
        metric: str = "charts/return_last100",
        window_steps: int = 60_000,
        min_swings: int = 6,
        min_amplitude: float = 0.3,
        return_range: Sequence[float] | None = None,
        name: str | None = None,
    ):
        super().__init__(metric, window_steps, name)
        self.min_swings, self.min_amplitude = min_swings, min_amplitude
        self.span = _span(return_range)

    def check(self, step, scalars):
        if self._push(step, scalars) is None or self.span is None or not self._full():
            return None
        h = self._values()
        mean, band = sum(h) / len(h), self.min_amplitude * self.span / 2
        sides = [1 if x > mean + band else -1 for x in h if abs(x - mean) > band]
        swings = sum(a != b for a, b in zip(sides, sides[1:], strict=False))
        if swings >= self.min_swings:
            return (
                float(swings),
                float(self.min_swings),
                f"return swung {swings} times across its mean +- {band:.3g} in {self.window_steps:,} steps",
            )
        return None


class CriticFit(_Windowed):
    """The critic did not learn: the median explained variance of the log points from ``after`` to
    ``after + window_steps`` agent steps is below ``floor``. Judged once, at the first log point at
    or after the window's end, and not at all when ``after`` is None.

    Explained variance is only meaningful once the returns vary and the critic had time: clean
    CartPole's stays near 0 for its first ~50k steps (bootstrapped 5-step returns barely vary),
    and a nearly deterministic policy makes any batch's returns almost constant, so a rolling
    check would misfire late. Hence one window, placed per environment (``env.critic_fit_after``).
    """

    kind = LEARNING

    def __init__(
        self, floor: float = 0.1, window_steps: int = 10_000, after: int | None = None, name: str | None = None
    ):
        super().__init__("value/explained_variance", window_steps, name)
        self.floor, self.after = floor, after
        self.verdict: tuple[float, float, str] | None = None
        self.judged = False

    def observe(self, step: int, scalars: dict[str, float]) -> Event | None:
        if self.after is not None and step >= self.after and not self.judged:
            value = scalars.get(self.metric)
            if value is not None and math.isfinite(value):
                self.points.append([step, value])  # every point of the one window, none dropped
            if step >= self.after + self.window_steps and self.points:
                self.judged = True
                median = statistics.median(self._values())
                if median < self.floor:
                    message = f"median explained variance {median:.3g} over steps {self.after:,}-{step:,}"
                    self.verdict = (median, self.floor, message)
        return super().observe(step, scalars)

    def check(self, step, scalars):
        return self.verdict


def load_envelope(env: str | None, metric: str, section: str = "metrics") -> dict[str, Any] | None:
    """The clean reference of ``metric`` for ``env`` in ``section`` of ``conf/envelopes/<env>.yaml``
    (written by ``scripts/calibrate_envelope.py``: ``metrics``, the envelopes; ``area``, the
    return's area so far), or None where none was calibrated. Shared, not copied: read only."""
    from rl_lab.run.config import CONFIG_DIR

    path = CONFIG_DIR / "envelopes" / f"{env}.yaml"
    if env is None or not path.exists():
        return None
    return _envelope_file(path, path.stat().st_mtime_ns).get(section, {}).get(metric)


@functools.lru_cache(maxsize=8)
def _envelope_file(path: Path, mtime_ns: int) -> dict[str, Any]:
    """An envelope file, parsed once per version (several detectors read it; it is thousands of lines)."""
    import yaml

    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


class BelowEnvelope(_Windowed):
    """Learning slower than the clean agent ever does: the metric, as a median over the last
    ``smooth_steps``, stays below the env's clean envelope (the lowest any clean calibration
    run was at that step) for ``patience_steps`` agent steps.

    The envelope, its smoothing and its patience come from clean runs on the calibration seeds
    (``conf/envelopes/<env>.yaml``, ``scripts/calibrate_envelope.py``, :mod:`rl_lab.lab.envelope`:
    the patience outlasts every calibration run's stretch below the envelope of the others);
    no envelope, no verdict.
    Past the envelope's last step its last level holds. This is the detector for the bug that
    only slows learning: the run learns, just never as fast as a clean one.
    """

    kind = LEARNING

    def __init__(self, metric: str = "charts/return_last100", envelope: str | None = None, name: str | None = None):
        found = load_envelope(envelope, metric) or {"steps": [], "low": [], "smooth_steps": 0, "patience_steps": 0}
        super().__init__(metric, found["smooth_steps"], name)
        self.steps, self.low = list(found["steps"]), list(found["low"])
        self.patience_steps = found["patience_steps"]
        self.since: int | None = None

    def check(self, step, scalars):
        if self._push(step, scalars) is None or not self.steps or step < self.steps[0]:
            return None
        level = statistics.median(self._values())
        low = float(np.interp(step, self.steps, self.low))
        self.since = (self.since if self.since is not None else step) if level < low else None
        if self.since is not None and step - self.since >= self.patience_steps:
            return (
                level,
                low,
                f"{self.metric} {level:.3g} below the clean envelope {low:.3g} for {step - self.since:,} steps",
            )
        return None


class AreaSoFar:
    """A metric's area so far: its mean over the agent steps since its first finite value, each log
    point's value counted for the steps since the previous one (so the figure does not depend on
    how densely a run logs)."""

    def __init__(self):
        self.first: int | None = None
        self.last: int | None = None
        self.total = 0.0

    def push(self, step: int, value: float | None) -> float | None:
        """Add one log point; the area so far, or None before a value has spanned any steps."""
        if value is None or not math.isfinite(value):
            return None
        if self.first is None:
            self.first = self.last = step
        self.total += value * (step - self.last)
        self.last = step
        return self.total / (step - self.first) if step > self.first else None


class BelowCleanArea(Detector):
    """Learning worse than clean: a metric's area so far (:class:`AreaSoFar`: for the return, how
    much the run has learned, on average, up to now) lies more than a depth of clean spreads below
    the median of the clean calibration runs' areas at the same step.

    The median, the spread (the interquartile range, scaled to a normal standard deviation) and
    ``depth`` come from the clean runs on the calibration seeds (``area`` in
    ``conf/envelopes/<env>.yaml``, ``scripts/calibrate_envelope.py``, :mod:`rl_lab.lab.envelope`):
    the depth at each step is a margin times the deepest any calibration run was there against the
    others' median. The reference may clip the metric first (``clip``: explained variance to
    [-1, 1], so one rollout whose returns barely vary does not swamp the area) and start late
    (its first step: before it the area of a few log points says little).
    The area integrates the whole curve, so a run that learns steadily, just less, drifts below
    without a patience to wait out; a run far from random still shows. No reference for this
    metric and side, no verdict; none either for a run whose env has another time limit
    (``time_limit``, the env's ``max_episode_steps``) than the calibration runs': its returns are
    on another scale. Past the reference's last step its last level holds.
    """

    kind = LEARNING
    SIDE, SIGN = "below", 1.0

    def __init__(
        self,
        metric: str = "charts/return_last100",
        reference: str | None = None,
        time_limit: int | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        self.metric = metric
        found = load_envelope(reference, metric, section="area")
        if found is None or found.get("time_limit") != time_limit or found.get("side", "below") != self.SIDE:
            found = {"steps": [], "median": [], "spread": [], "depth": []}
        self.steps, self.median, self.spread = list(found["steps"]), list(found["median"]), list(found["spread"])
        self.depth = list(found["depth"])
        self.clip = found.get("clip")
        self.area = AreaSoFar()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "area": vars(self.area).copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        vars(self.area).update(state.get("area", {}))
        super().load_state_dict({k: v for k, v in state.items() if k != "area"})

    def check(self, step, scalars):
        value = scalars.get(self.metric)
        if value is not None and self.clip is not None:
            value = float(np.clip(value, *self.clip))
        # the reference of an "above" side is calibrated on the negated metric: one rule for both
        area = self.area.push(step, None if value is None else self.SIGN * value)
        if area is None or not self.steps or step < self.steps[0]:
            return None
        median = float(np.interp(step, self.steps, self.median))
        depth = float(np.interp(step, self.steps, self.depth))
        floor = median - depth * float(np.interp(step, self.steps, self.spread))
        if area < floor:
            message = f"{self.metric}'s area so far {self.SIGN * area:.3g}: more than {depth:.3g} clean spreads"
            median_text = f"{self.SIDE} the clean median {self.SIGN * median:.3g}"
            return self.SIGN * area, self.SIGN * floor, f"{message} {median_text}"
        return None


class AboveCleanArea(BelowCleanArea):
    """A metric's area so far more than a depth of clean spreads *above* the clean calibration runs'
    median: :class:`BelowCleanArea` on the other side (its reference, ``side: above``, is calibrated
    on the negated metric). For numbers a worse run has more of: the critic's errors, the policy's
    entropy."""

    SIDE, SIGN = "above", -1.0


class NoLearning(Detector):
    """Not learning at all: at ``by_step`` agent steps the return (last 100 episodes) is still below
    ``min_return``, a level every clean seed passes by then (per environment: ``env.learning_check``;
    None turns it off). Judged once, at the first log point at or after ``by_step``: a later dip of
    a run that had learned is not this detector's to judge. No return logged then: no verdict."""

    kind = LEARNING
    metric = "charts/return_last100"

    def __init__(self, by_step: int | None = None, min_return: float | None = None, name: str | None = None):
        super().__init__(name)
        self.by_step, self.min_return = by_step, min_return
        self.judged = False
        self.verdict: tuple[float, float, str] | None = None

    def observe(self, step: int, scalars: dict[str, float]) -> Event | None:
        if self.by_step is not None and step >= self.by_step and not self.judged:
            self.judged = True
            value = scalars.get(self.metric)
            if value is not None and math.isfinite(value) and value < self.min_return:
                self.verdict = (value, self.min_return, f"return {value:.3g} < {self.min_return:g} at step {step:,}")
        return super().observe(step, scalars)

    def check(self, step, scalars):
        return self.verdict


class RangeCheck(_Held):
    """A number outside the range a correct agent keeps it in, for ``patience_steps`` agent steps
    (0: at the first log point).

    Configured per metric (``conf/diagnostics/default.yaml``): the acting/training and
    acting/eval-mode KLs and the loss's entropy and log-probability gaps must be 0, the
    network's inputs of order 1. Each recomputes one seam of the loop, so a firing points there
    even for a bug no signature knows (``rl_lab.lab.diagnose.CHECK_SEAMS``).
    """

    kind = CONSISTENCY

    def __init__(
        self,
        metric: str,
        low: float = -math.inf,
        high: float = math.inf,
        patience_steps: int = 0,
        name: str | None = None,
    ):
        super().__init__(patience_steps, name)
        self.metric, self.low, self.high = metric, low, high

    def check(self, step, scalars):
        value = scalars.get(self.metric)
        if value is None or not math.isfinite(value):
            return None
        if self._held(step, not self.low <= value <= self.high):
            bound = self.low if value < self.low else self.high
            return value, bound, f"{self.metric} = {value:.3g} outside [{self.low:g}, {self.high:g}]"
        return None


class DetectorBank:
    """All configured detectors; remembers each one's first firing and the divergence step."""

    def __init__(self, detectors: dict[str, Detector]):
        self.detectors = detectors
        for name, detector in detectors.items():
            detector.name = name
        self.first_firing: dict[str, int] = {}
        self.divergence_step: int | None = None

    def observe(self, step: int, scalars: dict[str, float]) -> list[Event]:
        events = [e for d in self.detectors.values() if (e := d.observe(step, scalars)) is not None]
        for e in events:
            self.first_firing.setdefault(e.detector, e.step)
            if e.kind == DIVERGENCE and self.divergence_step is None:
                self.divergence_step = e.step
        return events

    def state_dict(self) -> dict[str, Any]:
        return {
            "detectors": {name: d.state_dict() for name, d in self.detectors.items()},
            "first_firing": dict(self.first_firing),
            "divergence_step": self.divergence_step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, detector_state in state["detectors"].items():
            self.detectors[name].load_state_dict(detector_state)
        self.first_firing = dict(state["first_firing"])
        self.divergence_step = state["divergence_step"]


def replay(points: Iterable[dict[str, float]], bank: DetectorBank) -> list[Event]:
    """Feed a run's log points (``metrics.jsonl``, oldest first) through ``bank``: the events it
    would have raised live, exactly, since a detector reads nothing but the logged scalars. So a
    new or changed detector can be judged on runs that already exist, without training them again."""
    return [event for point in points for event in bank.observe(int(point["step"]), point)]


class SamplingCheck(Detector):
    """Actions that are not drawn from the acting policy: the taken actions' log-probability
    lies above what sampling gives, summed over every log point so far, by more than ``z_max``
    standard errors (one-sided: greedy or sharpened acting).

    Reads ``policy/action_logp_excess`` and ``policy/action_logp_variance``
    (:mod:`rl_lab.instruments.diagnostics`). Under correct sampling the running z is nearly
    standard normal at every log point; its upper tail at 6 is 1e-9, and the running sum grows
    no faster than the law of the iterated logarithm allows over a run's log points. Only the
    upper side is read: a rare action of a near-deterministic policy makes the lower side
    heavy-tailed. A statistical check, so it needs some log points where one rollout is too
    little (a near-uniform policy acts almost as greedily as it samples).
    """

    kind = CONSISTENCY
    metric = "policy/action_logp_excess"

    def __init__(self, z_max: float = 6.0, name: str | None = None):
        super().__init__(name)
        self.z_max = z_max
        self.excess, self.variance = 0.0, 0.0

    def check(self, step, scalars):
        excess, variance = scalars.get(self.metric), scalars.get("policy/action_logp_variance")
        if excess is None or variance is None or not (math.isfinite(excess) and math.isfinite(variance)):
            return None
        self.excess, self.variance = self.excess + excess, self.variance + variance
        z = self.excess / math.sqrt(self.variance) if self.variance > 0 else 0.0
        if z > self.z_max:
            return z, self.z_max, f"taken actions {z:.1f} standard errors more probable than sampling gives"
        return None
