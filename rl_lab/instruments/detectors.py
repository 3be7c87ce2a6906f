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

Thresholds live in ``conf/diagnostics/default.yaml``; each class documents
its rule. They were set on clean CartPole and Pong runs (``tests/test_detectors.py``
holds the synthetic pathologies each must catch and the healthy series it must not).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

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
    """Base class: ``check`` returns ``(value, threshold, message)`` while the pathology holds, else None."""

    kind = DIVERGENCE
    metric = ""

    def __init__(self, name: str | None = None):
        self.name = name or type(self).__name__
        self.active = False

    def check(self, scalars: dict[str, float]) -> tuple[float, float, str] | None:
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
        hit = self.check(scalars)
        fired = hit is not None and not self.active
        self.active = hit is not None
        if not fired:
            return None
        value, threshold, message = hit
        return Event(step, self.name, self.kind, self.metric, float(value), float(threshold), message)


class _Windowed(Detector):
    """A detector over the recent history of one metric (missing or non-finite points are skipped)."""

    def __init__(self, metric: str, window: int, name: str | None = None):
        super().__init__(name)
        self.metric = metric
        self.history: deque[float] = deque(maxlen=window)

    def _push(self, scalars: dict[str, float]) -> float | None:
        value = scalars.get(self.metric)
        if value is None or not math.isfinite(value):
            return None
        self.history.append(value)
        return value


class NonFinite(Detector):
    """Any NaN or infinity in the losses, the gradient norm, or (counted) in parameters and values."""

    metric = "diagnostics/nonfinite_count"
    watched = ("losses/total", "losses/policy", "losses/value", "grads/global_norm")

    def check(self, scalars):
        bad = [k for k in self.watched if k in scalars and not math.isfinite(scalars[k])]
        count = scalars.get(self.metric, 0.0)
        if bad or count > 0:
            return count or float(len(bad)), 0.0, f"non-finite values in {', '.join(bad) or 'parameters/values'}"
        return None


class LossExplosion(Detector):
    """The critic's error blows up past the scale of what it predicts: value loss divided by
    (largest |return| + 1)^2 above ``factor`` for ``patience`` points in a row.

    Scale-free on purpose: a solved CartPole's value loss falls to 1e-6 and then jumps a
    million-fold at an episode end, so a ratio to its own running median means nothing;
    an MSE ten times the squared return scale means the values left the returns' range.
    """

    metric = "losses/value"

    def __init__(self, factor: float = 10.0, patience: int = 3, name: str | None = None):
        super().__init__(name)
        self.factor, self.patience = factor, patience
        self.above = 0

    def check(self, scalars):
        loss = scalars.get(self.metric)
        if loss is None or not math.isfinite(loss) or not {"value/returns_min", "value/returns_max"} <= set(scalars):
            return None  # no verdict without the returns' scale (the panel off logs the loss alone)
        scale = max(abs(scalars["value/returns_min"]), abs(scalars["value/returns_max"])) + 1.0
        ratio = loss / scale**2
        self.above = self.above + 1 if ratio > self.factor else 0
        if self.above >= self.patience:
            return ratio, self.factor, f"value loss {loss:.3g} = {ratio:.3g} x (|return| + 1)^2 for {self.above} points"
        return None


class GradSpikes(_Windowed):
    """Gradient-norm spikes come too often: within the last ``window`` points, at least
    ``min_spikes`` points lie above ``factor`` times the running median before them.

    Clean CartPole's gradient norm is heavy-tailed (measured: up to 57x its running median
    once the policy is nearly deterministic), hence the high factor and the count.
    """

    def __init__(
        self,
        metric: str = "grads/global_norm",
        factor: float = 100.0,
        window: int = 50,
        min_spikes: int = 3,
        min_points: int = 10,
        name: str | None = None,
    ):
        super().__init__(metric, window, name)
        self.factor, self.min_spikes, self.min_points = factor, min_spikes, min_points
        self.spikes: deque[bool] = deque(maxlen=window)

    def check(self, scalars):
        past = list(self.history)
        value = self._push(scalars)
        if value is None:
            return None
        self.spikes.append(len(past) >= self.min_points and value > self.factor * statistics.median(past))
        count = sum(self.spikes)
        if count >= self.min_spikes:
            return (
                float(count),
                float(self.min_spikes),
                (f"{count} gradient-norm spikes above {self.factor:g} x running median in {len(self.spikes)} points"),
            )
        return None


class ParamNormGrowth(_Windowed):
    """Unbounded parameter-norm growth: the norm is above ``factor`` times its first value and
    rose at every one of the last ``rising`` points."""

    def __init__(
        self, metric: str = "params/global_norm", factor: float = 3.0, rising: int = 10, name: str | None = None
    ):
        super().__init__(metric, rising + 1, name)
        self.factor = factor
        self.first: float | None = None

    def check(self, scalars):
        value = self._push(scalars)
        if value is None:
            return None
        if self.first is None:
            self.first = value
        h = list(self.history)
        rising = len(h) == self.history.maxlen and all(b > a for a, b in zip(h, h[1:], strict=False))
        threshold = self.factor * self.first
        if rising and value > threshold:
            return value, threshold, f"parameter norm {value:.3g} > {self.factor:g} x initial and still rising"
        return None


class ValueDivergence(_Windowed):
    """The critic diverges: the median explained variance of the last ``window`` points is
    below ``ev_floor``, or the largest |value| exceeds ``scale_factor`` times (largest |return| + 1).

    A median, because one batch whose returns barely vary gives a meaninglessly negative
    explained variance (clean CartPole: single points down to -7, 10-point medians not below -0.5).
    """

    def __init__(self, ev_floor: float = -2.0, window: int = 10, scale_factor: float = 10.0, name: str | None = None):
        super().__init__("value/explained_variance", window, name)
        self.ev_floor, self.scale_factor = ev_floor, scale_factor

    def check(self, scalars):
        self._push(scalars)
        if len(self.history) == self.history.maxlen:
            median = statistics.median(self.history)
            if median < self.ev_floor:
                return (
                    median,
                    self.ev_floor,
                    (f"median explained variance {median:.3g} over {len(self.history)} points"),
                )
        needed = {"value/values_min", "value/values_max", "value/returns_min", "value/returns_max"}
        if not needed <= set(scalars):
            return None  # no verdict on the scales without them (the panel off logs none)
        values = max(abs(scalars["value/values_min"]), abs(scalars["value/values_max"]))
        returns = max(abs(scalars["value/returns_min"]), abs(scalars["value/returns_max"]))
        threshold = self.scale_factor * (returns + 1.0)
        if values > threshold:
            return values, threshold, f"|value| {values:.3g} > {self.scale_factor:g} x (|return| + 1)"
        return None


class EntropyCollapse(Detector):
    """The policy became (near) deterministic: entropy / log(n_actions) below ``fraction`` for
    ``patience`` points in a row."""

    kind = LEARNING
    metric = "policy/entropy_normalized"

    def __init__(self, fraction: float = 0.02, patience: int = 5, name: str | None = None):
        super().__init__(name)
        self.fraction, self.patience = fraction, patience
        self.below = 0

    def check(self, scalars):
        h = scalars.get(self.metric)
        if h is None:
            return None
        self.below = self.below + 1 if h < self.fraction else 0
        if self.below >= self.patience:
            return h, self.fraction, f"normalized entropy {h:.3g} < {self.fraction:g} for {self.below} points"
        return None


class Plateau(_Windowed):
    """Learning stalled short of the goal: over the last ``window`` points the return moved by
    less than ``min_change`` (absolute) and stayed below ``target`` (the env's solved level)."""

    kind = LEARNING

    def __init__(
        self,
        metric: str = "charts/return_last100",
        window: int = 100,
        min_change: float = 5.0,
        target: float | None = None,
        name: str | None = None,
    ):
        super().__init__(metric, window, name)
        self.min_change, self.target = min_change, math.inf if target is None else target

    def check(self, scalars):
        value = self._push(scalars)
        if value is None or len(self.history) < self.history.maxlen:
            return None
        change = max(self.history) - min(self.history)
        if change < self.min_change and value < self.target:
            return change, self.min_change, f"return moved {change:.3g} over {len(self.history)} points"
        return None


class Oscillation(_Windowed):
    """The return swings up and down instead of improving: within the last ``window`` points it
    went from below ``mean - min_amplitude / 2`` to above ``mean + min_amplitude / 2`` (or back)
    at least ``min_swings`` times. The band makes noise around a trend count for nothing."""

    kind = LEARNING

    def __init__(
        self,
        metric: str = "charts/return_last100",
        window: int = 60,
        min_swings: int = 6,
        min_amplitude: float = 50.0,
        name: str | None = None,
    ):
        super().__init__(metric, window, name)
        self.min_swings, self.min_amplitude = min_swings, min_amplitude

    def check(self, scalars):
        if self._push(scalars) is None or len(self.history) < self.history.maxlen:
            return None
        h = list(self.history)
        mean, band = sum(h) / len(h), self.min_amplitude / 2
        sides = [1 if x > mean + band else -1 for x in h if abs(x - mean) > band]
        swings = sum(a != b for a, b in zip(sides, sides[1:], strict=False))
        if swings >= self.min_swings:
            return (
                float(swings),
                float(self.min_swings),
                (f"return swung {swings} times across its mean +- {band:g} in {len(h)} points"),
            )
        return None


class CriticFit(_Windowed):
    """The critic did not learn: the median explained variance of the first ``window`` points
    after ``after`` agent steps is below ``floor``. Judged once, on that window, and not at all
    when ``after`` is None.

    Explained variance is only meaningful once the returns vary and the critic had time: clean
    CartPole's stays near 0 for its first ~50k steps (bootstrapped 5-step returns barely vary),
    and a nearly deterministic policy makes any batch's returns almost constant, so a rolling
    check would misfire late. Hence one window, placed per environment (``env.critic_fit_after``).
    """

    kind = LEARNING

    def __init__(self, floor: float = 0.1, window: int = 10, after: int | None = None, name: str | None = None):
        super().__init__("value/explained_variance", window, name)
        self.floor, self.after = floor, after
        self.verdict: tuple[float, float, str] | None = None
        self.judged = False

    def observe(self, step: int, scalars: dict[str, float]) -> Event | None:
        if self.after is not None and step >= self.after and not self.judged:
            self._push(scalars)
            if len(self.history) == self.history.maxlen:
                self.judged = True
                median = statistics.median(self.history)
                if median < self.floor:
                    message = f"median explained variance {median:.3g} over {len(self.history)} points"
                    self.verdict = (median, self.floor, f"{message} from step {self.after:,}")
        return super().observe(step, scalars)

    def check(self, scalars):
        return self.verdict


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

    def check(self, scalars):
        return self.verdict


class RangeCheck(Detector):
    """A number outside the range a correct agent keeps it in, for ``patience`` points in a row.

    Configured per metric (``conf/diagnostics/default.yaml``): the acting/training and
    acting/eval-mode KLs and the loss's entropy and log-probability gaps must be 0, the
    network's inputs of order 1.
    """

    kind = CONSISTENCY

    def __init__(
        self, metric: str, low: float = -math.inf, high: float = math.inf, patience: int = 1, name: str | None = None
    ):
        super().__init__(name)
        self.metric, self.low, self.high, self.patience = metric, low, high, patience
        self.outside = 0

    def check(self, scalars):
        value = scalars.get(self.metric)
        if value is None or not math.isfinite(value):
            return None
        self.outside = self.outside + 1 if not self.low <= value <= self.high else 0
        if self.outside >= self.patience:
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
