"""Golden signatures: what each bug does to a sweep's runs, fitted from the runs alone.

The golden signatures are the lab's regression oracle: ``rl_lab.check`` tests a later sweep
against them and ``rl_lab.diagnose`` compares a single run with them. :func:`fit` computes
them from a sweep; ``rl_lab.report`` writes them beside the report it renders, but nothing
here draws or formats. Per environment they hold the clean control's per-seed features, and
per bug: the detectors that fired in at least two thirds of its seeds (must fire) with a step
budget, each detector's share of seeds and median step, the per-seed features and a Welch
test of each feature against the clean control of the same environment and context.

A feature is one number per run: a diagnostic's median over the second half of the run (the
return: where it ended), log10 for positive, heavy-tailed scales.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from rl_lab.lab.sweep import CLEAN, Job

ALPHA = 0.05  # a feature differs from the clean control when Welch's p is below this
MUST_FIRE_FRACTION = 2 / 3  # a detector belongs to a bug's golden signature if it fired in this share of seeds

# metric -> how it is compared: "log" for positive, heavy-tailed scales (compared as log10)
FEATURES: dict[str, str] = {
    "charts/return_last100": "linear",
    "value/explained_variance": "linear",
    "policy/entropy_normalized": "linear",
    "policy/entropy": "linear",
    "grads/global_norm": "log",
    "policy/approx_kl": "log",
    "policy/act_train_kl": "log",
    "policy/act_eval_kl": "log",
    "policy/logits_range": "log",
    "losses/value": "log",
    "params/global_norm": "log",
    "value/values_mean": "linear",
}
LOG_FLOOR = 1e-12


def late_median(job: Job, key: str, until: int | None = None) -> float:
    """The median of a metric over the log points in the second half of the run's steps, up to step
    ``until`` (all of them by default; nan if never logged).

    A diverged run is read up to where it stopped; non-finite points are skipped.
    """
    steps, values = job.series(key)
    if until is not None:
        steps, values = steps[steps <= until], values[steps <= until]
    steps, values = steps[np.isfinite(values)], values[np.isfinite(values)]
    if key == "charts/return_last100":  # the return is a running mean already: take where it ended
        return float(values[-1]) if values.size else math.nan
    # by steps, not log points: a run may log densely early (log_every_update_until)
    return float(np.median(values[steps >= steps[-1] / 2])) if values.size else math.nan


def transform(key: str, value: float) -> float:
    return math.log10(max(value, LOG_FLOOR)) if FEATURES.get(key) == "log" and math.isfinite(value) else value


def features(job: Job, until: int | None = None) -> dict[str, float]:
    """The run's signature numbers up to step ``until``: each feature's late median, log10 for the
    heavy-tailed ones. A run compared with signatures is read up to their horizon, so that a
    longer run is compared at the same step."""
    return {key: transform(key, late_median(job, key, until)) for key in FEATURES}


SHORT = {
    "charts/return_last100": "return",
    "value/explained_variance": "expl. var.",
    "policy/entropy_normalized": "entropy",
    "policy/entropy": "loss entropy",
    "grads/global_norm": "grad norm",
    "policy/approx_kl": "KL/update",
    "policy/act_train_kl": "KL act-train",
    "policy/act_eval_kl": "KL act-eval",
    "policy/logits_range": "logits range",
    "losses/value": "value loss",
    "params/global_norm": "param norm",
    "value/values_mean": "value mean",
}


@contextmanager
def quiet():
    """Silence numpy's and scipy's warnings on nan slices and near-identical samples (a diverged run ends early)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def welch(bug: list[float], clean: list[float]) -> dict[str, float]:
    """Welch's t-test of two samples, with Hedges' g; nan where a side has < 2 finite values."""
    a = np.asarray([x for x in bug if math.isfinite(x)])
    b = np.asarray([x for x in clean if math.isfinite(x)])
    out = {
        "bug": float(np.median(a)) if a.size else math.nan,
        "clean": float(np.median(b)) if b.size else math.nan,
        "g": math.nan,
        "p": math.nan,
        "n_bug": int(a.size),
        "n_clean": int(b.size),
    }
    if a.size < 2 or b.size < 2:
        return out
    pooled = math.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    correction = 1 - 3 / (4 * (a.size + b.size) - 9)
    if pooled == 0:
        same = a.mean() == b.mean()
        out.update(g=0.0 if same else math.copysign(math.inf, a.mean() - b.mean()), p=1.0 if same else 0.0)
        return out
    out["g"] = float((a.mean() - b.mean()) / pooled * correction)
    with quiet():  # scipy warns when the samples are nearly identical; the p-value is still right
        out["p"] = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return out


def significant(test: dict[str, float]) -> bool:
    return math.isfinite(test["p"]) and test["p"] < ALPHA


class Sweep:
    """A sweep's jobs grouped by (env, bug, dose, context), with each group's clean control."""

    def __init__(self, jobs: list[Job]):
        self.jobs = jobs
        self.groups: dict[tuple[str, str, float, tuple[str, ...]], list[Job]] = defaultdict(list)
        for job in jobs:
            self.groups[(job.env, job.bug, job.dose, job.context)].append(job)
        self.envs = sorted({job.env for job in jobs})

    def control(self, env: str, context: tuple[str, ...]) -> list[Job]:
        return self.groups.get((env, CLEAN, 0.0, context), [])

    def bugs(self, env: str, default_dose_only: bool = True) -> list[tuple[str, float, tuple[str, ...]]]:
        keys = [
            (b, d, c)
            for (e, b, d, c), jobs in self.groups.items()
            if e == env and b != CLEAN and (jobs[0].default_dose or not default_dose_only)
        ]
        return sorted(keys, key=lambda k: (k[0], k[1], k[2]))

    def clean_contexts(self, env: str) -> list[tuple[str, ...]]:
        return sorted(c for (e, b, _, c) in self.groups if e == env and b == CLEAN)


def signature(bug_jobs: list[Job], clean_jobs: list[Job]) -> dict[str, Any]:
    """A bug's golden signature from its runs: which detectors fire (and when), how it moves each feature."""
    fired: dict[str, list[int]] = defaultdict(list)
    for job in bug_jobs:
        for name, step in job.summary["detectors"].items():
            fired[name].append(int(step))
    must = {name: steps for name, steps in fired.items() if len(steps) >= MUST_FIRE_FRACTION * len(bug_jobs)}
    total = bug_jobs[0].total_steps
    bug_features = [features(j) for j in bug_jobs]
    clean_features = [features(j) for j in clean_jobs]
    return {
        "seeds": sorted(j.seed for j in bug_jobs),
        "must_fire": sorted(must),
        # a regression: none of them fires by this step (twice the slowest seen, within the run)
        "budget_steps": min(total, 2 * max(max(s) for s in must.values())) if must else None,
        "detectors": {
            name: {"fraction": len(s) / len(bug_jobs), "median_step": statistics.median(s)}
            for name, s in sorted(fired.items())
        },
        "features": {k: [f[k] for f in bug_features] for k in FEATURES},
        "tests": {k: welch([f[k] for f in bug_features], [f[k] for f in clean_features]) for k in FEATURES},
    }


def golden_algorithm(golden: dict[str, Any]) -> str:
    """The algorithm whose runs golden signatures were fitted on (``a2c`` for those fitted before PPO)."""
    return golden.get("algo", "a2c")


def require_algorithm(golden: dict[str, Any], source: Path | str, jobs: list[Job]) -> None:
    """Raise ValueError (one line) when runs of another algorithm are read against ``golden``: a bug's
    signature, and a clean run's, are one algorithm's."""
    theirs = golden_algorithm(golden)
    other = sorted({j.algorithm for j in jobs} - {theirs})
    if other:
        raise ValueError(
            f"the golden signatures {source} are of algo={theirs}, the runs of algo={', '.join(other)}: "
            "give golden=PATH with signatures of the runs' algorithm (results/atlas/<tier>/golden.json)"
        )


def fit(sweep: Sweep, tier: str) -> dict[str, Any]:
    """The golden signatures of a sweep, of one algorithm's runs: per environment, the clean control
    and every bug at its default dose."""
    algorithms = sorted({j.algorithm for j in sweep.jobs})
    if len(algorithms) > 1:
        raise ValueError(f"the sweep mixes algo={', '.join(algorithms)}: golden signatures are one algorithm's")
    golden: dict[str, Any] = {"tier": tier, "algo": algorithms[0], "alpha": ALPHA, "features": FEATURES, "envs": {}}
    for env in sweep.envs:
        env_golden: dict[str, Any] = {
            "env_name": env,
            "env_id": next(j.summary["env"] for j in sweep.jobs if j.env == env),
            "total_steps": max(j.total_steps for j in sweep.jobs if j.env == env),
            "clean": {},
            "bugs": {},
        }
        for context in sweep.clean_contexts(env):
            jobs = sweep.control(env, context)
            env_golden["clean"][" ".join(context)] = {
                "seeds": sorted(j.seed for j in jobs),
                "alarms": sum(bool(j.summary["detectors"]) for j in jobs),
                "features": {k: [features(j)[k] for j in jobs] for k in FEATURES},
            }
        for bug, dose, context in sweep.bugs(env):
            sig = signature(sweep.groups[(env, bug, dose, context)], sweep.control(env, context))
            env_golden["bugs"][bug] = {"dose": dose, "context": list(context), **sig}
        golden["envs"][env] = env_golden
    return golden
