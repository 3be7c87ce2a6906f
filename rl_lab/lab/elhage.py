"""Elhage's story, shown: off-by-one frames against the clean agent over several seeds
(the command: ``python -m rl_lab.elhage``).

Nelson Elhage's Pong agent learned, then went off the rails, "all of my parameters going to
infinity"; the cause was an off-by-one error in the frames fed to the training step. On
Catch the same bug (``bug=off_by_one_frames``, lag k) does the same within 100k steps: the
agent learns, then its gradient norm explodes and the return falls back to random play.

:func:`run_pairs` trains the bug and the clean agent on the same seeds
(:func:`rl_lab.lab.runs.train_missing`: two at a time, a finished run reused). :func:`story`
reads them back: per seed, the bug's peak and final return, the largest gradient and parameter norms,
the divergence step and each detector's first firing; across seeds, the first log point at
which a return-only test (Welch's, bug seeds against clean seeds) separates the two, for
comparison with the detectors. :func:`draw` puts return, gradient norm, parameter norm and
the detector timeline in one figure.
"""

from __future__ import annotations

import json
import math
import statistics
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from rl_lab.lab.runs import RunSpec, train_missing
from rl_lab.run.runlog import read_events, read_metrics

BUG = "off_by_one_frames"
ALPHA = 0.05  # the return test's level, one-sided (bug below clean), at each log point
PANELS = (
    ("charts/return_last100", "return (last 100 episodes)", "linear"),
    ("grads/global_norm", "gradient norm (before clipping)", "log"),
    ("params/global_norm", "parameter norm", "linear"),
)


@dataclass(frozen=True)
class Pair:
    env: str
    seed: int
    total_steps: int
    dose: int

    def run_dir(self, root: Path, arm: str) -> Path:
        return root / f"{self.env}_k{self.dose}_{self.total_steps}" / f"{arm}_seed{self.seed}"

    def overrides(self, arm: str) -> list[str]:
        bug = [f"bug={BUG}", f"bug.{BUG}.dose={self.dose}"] if arm == "bug" else []
        return [f"env={self.env}", f"seed={self.seed}", f"total_steps={self.total_steps}", *bug]


def run_pairs(pairs: list[Pair], root: Path, jobs: int = 2) -> int:
    """Train every pair's bug and clean runs not already finished under ``root``; how many were trained."""
    specs = [RunSpec(tuple(p.overrides(arm)), p.run_dir(root, arm)) for p in pairs for arm in ("bug", "clean")]
    return train_missing(specs, jobs)


def _series(run_dir: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    points = [(p["step"], p[key]) for p in read_metrics(run_dir) if key in p]
    steps, values = zip(*points, strict=True) if points else ((), ())
    return np.asarray(steps, dtype=int), np.asarray(values, dtype=float)


def story(pairs: list[Pair], root: Path) -> dict[str, Any]:
    """What happened, per seed and across seeds (see the module doc)."""
    seeds = []
    for pair in pairs:
        row: dict[str, Any] = {"seed": pair.seed}
        for arm in ("bug", "clean"):
            run_dir = pair.run_dir(root, arm)
            summary = json.loads((run_dir / "summary.json").read_text())
            steps, returns = _series(run_dir, "charts/return_last100")
            peak = int(np.nanargmax(returns)) if returns.size else None
            grads = _series(run_dir, "grads/global_norm")[1]
            params = _series(run_dir, "params/global_norm")[1]
            first: dict[str, int] = {}
            for event in read_events(run_dir):
                first.setdefault(event["detector"], event["step"])
            row[arm] = {
                "peak_return": float(returns[peak]) if peak is not None else math.nan,
                "peak_step": int(steps[peak]) if peak is not None else None,
                "final_return": summary["final_return"],
                "max_grad_norm": float(np.nanmax(grads)) if grads.size else math.nan,
                "max_param_norm": float(np.nanmax(params)) if params.size else math.nan,
                "divergence_step": summary["divergence_step"],
                "first_firings": first,
            }
        seeds.append(row)
    return {"seeds": seeds, "return_test_step": return_test_step(pairs, root), "alpha": ALPHA}


def return_test_step(pairs: list[Pair], root: Path) -> int | None:
    """The first log point at which the bug's returns (one per seed) are below the clean ones by a
    one-sided Welch test at ``ALPHA``; None if never (or fewer than two seeds)."""
    if len(pairs) < 2:
        return None
    curves = {
        arm: [dict(zip(*_series(p.run_dir(root, arm), "charts/return_last100"), strict=True)) for p in pairs]
        for arm in ("bug", "clean")
    }
    common = sorted(set.intersection(*(set(c) for arm in curves.values() for c in arm)))
    for step in common:
        bug, clean = ([c[step] for c in curves[arm]] for arm in ("bug", "clean"))
        if np.std(bug) + np.std(clean) == 0:
            continue  # no spread: the test is undefined
        with warnings.catch_warnings():  # near-identical samples (Catch's returns saturate at +1)
            warnings.simplefilter("ignore", RuntimeWarning)
            p = stats.ttest_ind(bug, clean, equal_var=False, alternative="less").pvalue
        if p < ALPHA:
            return int(step)
    return None


def markdown(result: dict[str, Any], pairs: list[Pair], command: str) -> str:
    pair = pairs[0]
    lines = [
        f"# Elhage's bug on {pair.env}: `bug={BUG}` (k = {pair.dose}) against the clean agent",
        "",
        f"Command: `{command}` ({len(pairs)} seeds, {pair.total_steps:,} agent steps per run).",
        "",
        "| seed | bug: peak return (step) | bug: final | clean: final | max grad norm: bug / clean "
        "| max param norm: bug / clean | bug: divergence step | bug: first firings |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["seeds"]:
        bug, clean = row["bug"], row["clean"]
        firings = ", ".join(
            f"{name} {step:,}" for name, step in sorted(bug["first_firings"].items(), key=lambda x: x[1])
        )
        lines.append(
            f"| {row['seed']} | {bug['peak_return']:.2f} ({bug['peak_step']:,}) | {bug['final_return']:.2f} "
            f"| {clean['final_return']:.2f} | {bug['max_grad_norm']:.3g} / {clean['max_grad_norm']:.3g} "
            f"| {bug['max_param_norm']:.3g} / {clean['max_param_norm']:.3g} "
            f"| {bug['divergence_step'] if bug['divergence_step'] is not None else '-'} | {firings or '-'} |"
        )
    clean_alarms = {
        row["seed"]: row["clean"]["first_firings"] for row in result["seeds"] if row["clean"]["first_firings"]
    }
    divergence = [r["bug"]["divergence_step"] for r in result["seeds"] if r["bug"]["divergence_step"] is not None]
    firsts = [min(r["bug"]["first_firings"].values()) for r in result["seeds"] if r["bug"]["first_firings"]]
    test = result["return_test_step"]
    lines += [
        "",
        f"Clean runs' detector firings: {clean_alarms or 'none'}.",
        f"The bug's runs diverged (a divergence-class detector fired) in {len(divergence)} of {len(pairs)} seeds"
        + (f", median step {statistics.median(divergence):,.0f}." if divergence else "."),
        f"First detector firing per bug run: median step {statistics.median(firsts):,.0f}."
        if firsts
        else "No detector fired on the bug's runs.",
        f"A return-only test (one-sided Welch, bug seeds below clean seeds, p < {result['alpha']}) first separates "
        f"them at step {test:,}."
        if test is not None
        else "A return-only test never separates them in this horizon.",
        "",
        "Figure: `elhage.png` (return, gradient norm, parameter norm, detector timeline; bug red, clean blue).",
    ]
    return "\n".join(lines) + "\n"


def draw(pairs: list[Pair], root: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 1, figsize=(8, 9), sharex=True, height_ratios=(3, 2, 2, 2))
    colors = {"bug": "tab:red", "clean": "tab:blue"}
    for ax, (key, label, scale) in zip(axes, PANELS, strict=False):
        for pair in pairs:
            for arm in ("clean", "bug"):
                steps, values = _series(pair.run_dir(root, arm), key)
                ax.plot(steps, values, color=colors[arm], alpha=0.6, lw=1)
        ax.set_yscale(scale)
        ax.set_ylabel(label, fontsize=8)
    axes[0].plot([], [], color="tab:red", label=f"bug={BUG} (k = {pairs[0].dose})")
    axes[0].plot([], [], color="tab:blue", label="clean")
    axes[0].legend(fontsize=8, loc="lower left")
    names: list[str] = []
    kinds = {"divergence": "x", "learning": "o", "consistency": "s"}
    for i, pair in enumerate(pairs):
        for arm in ("bug", "clean"):
            seen: set[str] = set()
            for event in read_events(pair.run_dir(root, arm)):
                if event["detector"] in seen:
                    continue
                seen.add(event["detector"])
                if event["detector"] not in names:
                    names.append(event["detector"])
                y = names.index(event["detector"]) + (i - len(pairs) / 2) * 0.06
                axes[3].plot(event["step"], y, kinds.get(event["kind"], "."), color=colors[arm], ms=5)
    axes[3].set_yticks(range(len(names)), names, fontsize=7)
    axes[3].set_ylim(-0.7, max(len(names), 1) - 0.3)
    axes[3].set_ylabel("first firings\n(x divergence, o learning,\n[] consistency)", fontsize=8)
    axes[3].set_xlabel("agent steps")
    axes[0].set_title(f"Elhage's off-by-one frames on {pairs[0].env}: {len(pairs)} seeds, bug against clean")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
