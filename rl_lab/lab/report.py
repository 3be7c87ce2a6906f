"""The atlas report of a sweep: how each bug moved each diagnostic against the clean control.

Renders, and only renders: the numbers come from the golden signatures
(:func:`rl_lab.lab.signatures.fit`). :func:`write_report` writes ``README.md`` (the report),
``plots/`` (PNG) and ``golden.json`` (the signatures ``rl_lab.check`` and ``rl_lab.diagnose``
compare against). For every bug, in each environment of the sweep: its diagnostics against
the clean control (median and min-max band over seeds), final return, divergence step, the
first firing of each detector; a bug x detector matrix with detection latency; dose-response
curves for the dosed sweeps.

A difference counts only when it passes a test across seeds: Welch's t-test of the per-seed
features against the clean control's seeds in the same environment and context, p < 0.05,
reported with Hedges' g (the difference in pooled standard deviations). Never one seed's eyeball.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rl_lab import bugs  # noqa: E402
from rl_lab.lab.atlas import benchmark_line, tier_of  # noqa: E402
from rl_lab.lab.diagnose import CHECK_SEAMS  # noqa: E402
from rl_lab.lab.signatures import (  # noqa: E402
    ALPHA,
    CLEAN,
    FEATURES,
    LOG_FLOOR,
    SHORT,
    Sweep,
    features,
    fit,
    quiet,
    significant,
    welch,
)
from rl_lab.lab.sweep import Job, load_sweep  # noqa: E402
from rl_lab.lab.timeline import EXACT, GENERIC, RETURN, Q, Timeline, series_group, timelines  # noqa: E402

Plots = list[tuple[Path, Callable[[Path], None]]]  # where each plot goes, and what draws it
PLOTTED = [  # (metric, title, log scale)
    ("charts/return_last100", "return (last 100 episodes)", False),
    ("value/explained_variance", "explained variance", False),
    ("policy/entropy_normalized", "entropy / log(n_actions)", False),
    ("grads/global_norm", "gradient norm", True),
    ("policy/approx_kl", "KL per update", True),
    ("losses/value", "value loss", True),
]
Plots = list[tuple[Path, Callable[[Path], None]]]  # where each plot goes, and what draws it


def _steps_grid(jobs: list[Job], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and a (seeds x steps) array of one metric, nan where a run has no point."""
    series = [dict(zip(*job.series(key), strict=True)) for job in jobs]
    steps = np.asarray(sorted(set().union(*series))) if series else np.zeros(0)
    grid = np.full((len(series), steps.size), np.nan)
    for i, points in enumerate(series):
        for j, step in enumerate(steps):
            grid[i, j] = points.get(step, np.nan)
    grid[~np.isfinite(grid)] = np.nan
    return steps, grid


def _band(ax, jobs: list[Job], key: str, label: str, color: str, log: bool) -> None:
    steps, grid = _steps_grid(jobs, key)
    if not steps.size or np.isnan(grid).all():
        return
    if log:
        grid = np.where(grid > 0, grid, np.nan)
    with np.errstate(all="ignore"), quiet():
        ax.plot(steps, np.nanmedian(grid, axis=0), color=color, label=label, lw=1.2)
        ax.fill_between(steps, np.nanmin(grid, axis=0), np.nanmax(grid, axis=0), color=color, alpha=0.2, lw=0)


def plot_bug(path: Path, title: str, bug_jobs: list[Job], clean_jobs: list[Job]) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(11, 5.5))
    for ax, (key, name, log) in zip(axes.flat, PLOTTED, strict=True):
        _band(ax, clean_jobs, key, f"clean ({len(clean_jobs)} seeds)", "tab:blue", log)
        _band(ax, bug_jobs, key, f"bug ({len(bug_jobs)} seeds)", "tab:red", log)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        if log:
            ax.set_yscale("log")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{title}: median and min-max over seeds", fontsize=10)
    fig.supxlabel("agent steps", fontsize=8)
    # fixed margins: tight_layout measured every tick label of six log axes, half of a plot's time
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.1, top=0.88, wspace=0.28, hspace=0.38)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    return f"{x:.3g}"


def _shown(key: str, x: float) -> str:
    """A feature value as the diagnostic reads (log-compared features back from log10; the floor is 0)."""
    if FEATURES.get(key) == "log" and math.isfinite(x):
        return "0" if x <= math.log10(LOG_FLOOR) else _fmt(10**x)
    return _fmt(x)


def _context(context: tuple[str, ...]) -> str:
    return f" ({', '.join(context)})" if context else ""


def detector_table(sweep: Sweep, env: str, detectors: list[str]) -> list[str]:
    """Bug x detector: median first-firing step and the share of seeds it fired in."""
    rows = ["| run | " + " | ".join(detectors) + " |", "|---|" + "---|" * len(detectors)]
    for bug, dose, context in [(CLEAN, 0.0, c) for c in sweep.clean_contexts(env)] + sweep.bugs(env):
        jobs = sweep.groups[(env, bug, dose, context)]
        cells = []
        for name in detectors:
            steps = [j.summary["detectors"][name] for j in jobs if name in j.summary["detectors"]]
            cells.append(f"{statistics.median(steps):,.0f} ({len(steps)}/{len(jobs)})" if steps else "·")
        rows.append(f"| {bug}{_context(context)} | " + " | ".join(cells) + " |")
    return rows


def _unfired(job: Job) -> str:
    """Why a job's own-seam check never fired, where the run says: it ended before it was measured."""
    divergence = job.summary["divergence_step"]
    if job.summary["status"] == "diverged" and divergence is not None and divergence <= job.metrics[0]["step"]:
        return f"never (diverged at {divergence:,}, before the panel's first full log point)"
    return "never"


def _exact_fired(jobs: list[Job]) -> str:
    """Which exact checks (any seam's) fired in these runs: for a bug no check watches, the measured
    fact that the data path stayed silent, or what fired instead."""
    fired = sorted({name for j in jobs for name in j.summary["detectors"] if name in CHECK_SEAMS})
    return f"exact checks that fired in its runs: {', '.join(fired)}" if fired else "no exact check fired in its runs"


def own_seam_table(sweep: Sweep, env: str) -> list[str]:
    """Per bug at its default dose: the exact checks of its own seam (CHECK_SEAMS), the step each
    seed's first of them fired at, and whether that was the run's first log point; then the bugs
    for which it was not, each with the condition its module gives (``EXACT_WHILE``) under which
    its seam still computes the clean numbers."""
    registry = bugs.registry()
    rows = [
        "| bug | seam | its checks | first firing per seed | at the first log point |",
        "|---|---|---|---|---|",
    ]
    late: list[str] = []
    for bug, _, context in sweep.bugs(env):
        jobs = sweep.groups[(env, bug, float(registry[bug].DOSE), context)]
        seams = bugs.seams_of(registry[bug])
        checks = sorted(name for name, seam in CHECK_SEAMS.items() if seam in seams)
        firsts = [
            min((j.summary["detectors"][c] for c in checks if c in j.summary["detectors"]), default=None) for j in jobs
        ]
        at_first = sum(f is not None and f == j.metrics[0]["step"] for f, j in zip(firsts, jobs, strict=True))
        cells = ", ".join("·" if f is None else f"{f:,}" for f in firsts)
        rows.append(
            f"| {bug}{_context(context)} | {', '.join(seams)} | {', '.join(checks) or 'none'} | {cells} "
            f"| {at_first}/{len(jobs)} |"
        )
        if at_first < len(jobs):
            seeds = "; ".join(
                f"seed {j.seed}: " + (f"at {f:,}" if f is not None else _unfired(j))
                for f, j in zip(firsts, jobs, strict=True)
                if f is None or f != j.metrics[0]["step"]
            )
            ended = all(
                f is None and _unfired(j) != "never"
                for f, j in zip(firsts, jobs, strict=True)
                if f != j.metrics[0]["step"]
            )
            why = getattr(registry[bug], "EXACT_WHILE", None)
            late.append(
                f"- `{bug}`{_context(context)} ({seeds}): "
                + (
                    "the run ended before the panel measured it."
                    if ended
                    else f"its seam computes the clean numbers while {why}."
                    if why
                    else "its module does not say why."
                )
                + ("" if checks else f" No exact check watches its seam; {_exact_fired(jobs)}.")
            )
    return rows + (
        [
            "",
            "Not caught at the first log point by the check of its own seam in every seed:",
            "",
            *late,
        ]
        if late
        else ["", "Every bug was caught at the first log point by the check of its own seam."]
    )


def build(
    sweep: Sweep, golden: dict[str, Any], when: list[Timeline], sweep_dir: Path, out: Path
) -> tuple[list[str], Plots]:
    """The report's markdown lines and the plots to draw, from a sweep, its fitted signatures and
    its bugs' timelines (:func:`rl_lab.lab.timeline.timelines`)."""
    tier = golden["tier"]
    plots: Plots = []
    steps_by_env = {env: max(j.total_steps for j in sweep.jobs if j.env == env) for env in sweep.envs}
    lines = [
        f"# Bug atlas: tier `{tier}`",
        "",
        f"Command: `python -m rl_lab.atlas tier={tier}` then `python -m rl_lab.report {sweep_dir} out={out}`",
        "",
        f"{len(sweep.jobs)} runs of `algo={golden['algo']}`; "
        + ", ".join(f"{env}: {steps_by_env[env]:,} agent steps per run" for env in sweep.envs)
        + ". Statuses: "
        + ", ".join(
            f"{s} {n}"
            for s, n in sorted(
                {
                    s: sum(j.summary["status"] == s for j in sweep.jobs)
                    for s in {j.summary["status"] for j in sweep.jobs}
                }.items()
            )
        )
        + ".",
        "",
    ]
    benchmark = sweep_dir / "benchmark.json"
    if benchmark.exists():
        lines += [f"Benchmark: {benchmark_line(json.loads(benchmark.read_text()))}.", ""]
    lines += [
        "A difference is marked when Welch's t-test of the per-seed values against the clean control's seeds "
        f"(same env and context) gives p < {ALPHA}; g is Hedges' g. Per-seed values: the median over the second "
        "half of the run (the return: where it ended), log10 for scales (gradient norm, KLs, logits range, value "
        "loss, parameter norm). Arrows: the bug's median is above (↑) or below (↓) the clean one.",
        "",
    ]
    for env in sweep.envs:
        clean_contexts = sweep.clean_contexts(env)
        env_golden = golden["envs"][env]
        lines += [f"## {env}", "", "### Clean control", ""]
        for context in clean_contexts:
            jobs = sweep.control(env, context)
            alarms = [j for j in jobs if j.summary["detectors"]]
            returns = [features(j)["charts/return_last100"] for j in jobs]
            fired = "; ".join(f"seed {j.seed}: {', '.join(sorted(j.summary['detectors']))}" for j in alarms)
            lines.append(
                f"- {len(jobs)} seeds{_context(context)}: final return median {_fmt(statistics.median(returns))} "
                f"[{_fmt(min(returns))}, {_fmt(max(returns))}]; runs with a detector firing: {len(alarms)}"
                + (f" ({fired})" if alarms else "")
            )
        lines += [
            "",
            "### Per bug (default dose)",
            "",
            "| bug | status | final return: bug vs clean (p) | divergence step | detectors: first firing (seeds) "
            "| significant changes |",
            "|---|---|---|---|---|---|",
        ]
        for bug, dose, context in sweep.bugs(env):
            bug_jobs, clean_jobs = sweep.groups[(env, bug, dose, context)], sweep.control(env, context)
            sig = env_golden["bugs"][bug]
            statuses = ", ".join(
                f"{s} {n}"
                for s, n in sorted(
                    {
                        s: sum(j.summary["status"] == s for j in bug_jobs)
                        for s in {j.summary["status"] for j in bug_jobs}
                    }.items()
                )
            )
            ret = sig["tests"]["charts/return_last100"]
            div = [j.summary["divergence_step"] for j in bug_jobs if j.summary["divergence_step"] is not None]
            divergence = f"{statistics.median(div):,.0f} ({len(div)}/{len(bug_jobs)})" if div else "-"
            fired = (
                "; ".join(
                    f"{n} {d['median_step']:,.0f} ({round(d['fraction'] * len(bug_jobs))}/{len(bug_jobs)})"
                    for n, d in sig["detectors"].items()
                )
                or "none"
            )
            changes = (
                ", ".join(
                    f"{SHORT[k]} {'↑' if t['bug'] > t['clean'] else '↓'} (g={t['g']:.2g}, p={t['p']:.2g})"
                    for k, t in sig["tests"].items()
                    if significant(t)
                )
                or "none"
            )
            lines.append(
                f"| [{bug}](#{env}-{bug}){_context(context)} | {statuses} | {_fmt(ret['bug'])} vs {_fmt(ret['clean'])} "
                f"({_fmt(ret['p'])}) | {divergence} | {fired} | {changes} |"
            )
            plots.append(
                (
                    Path("plots") / env / f"{bug}.png",
                    partial(
                        plot_bug,
                        title=f"{env}: {bug} (dose {dose:g}){_context(context)}",
                        bug_jobs=bug_jobs,
                        clean_jobs=clean_jobs,
                    ),
                )
            )
        detectors = sorted({n for j in sweep.jobs if j.env == env for n in j.summary["detectors"]})
        lines += [
            "",
            "### Detection latency: bug x detector",
            "",
            "Median agent step of the first firing over the seeds it fired in (fired/seeds); · never fired.",
            "",
        ]
        lines += detector_table(sweep, env, detectors) if detectors else ["No detector fired."]
        lines += [
            "",
            "### Caught at its own seam",
            "",
            "Each bug against the exact checks that recompute its own seam (the diagnoser looks at a fired "
            "check's seam first): the agent step of the first firing in each seed (· never), and in how many "
            "seeds that was the run's first log point.",
            "",
        ]
        lines += own_seam_table(sweep, env)
        lines += when_table(env, [t for t in when if t.env == env], plots)
        lines += [
            "",
            "### Every diagnostic against the clean control",
            "",
            "Cell: bug median (clean median), marked when significant. "
            + ", ".join(f"{SHORT[k]}: `{k}`" for k in FEATURES)
            + ".",
            "",
            "| bug | " + " | ".join(SHORT[k] for k in FEATURES) + " |",
            "|---|" + "---|" * len(FEATURES),
        ]
        for bug in env_golden["bugs"]:
            tests = env_golden["bugs"][bug]["tests"]
            cells = [
                (("**↑** " if t["bug"] > t["clean"] else "**↓** ") if significant(t) else "")
                + f"{_shown(k, t['bug'])} ({_shown(k, t['clean'])})"
                for k, t in tests.items()
            ]
            lines.append(f"| {bug} | " + " | ".join(cells) + " |")
        lines += _dose_response(sweep, env, plots)
        lines += ["", "### Plots", ""]
        timelined = {t.bug for t in when if t.env == env and t.testable}
        lines += [
            f'<a id="{env}-{b}"></a>**{b}**: ![{b}](plots/{env}/{b}.png)'
            + (f" ![{b}: when](plots/{env}/{b}_when.png)" if b in timelined else "")
            for b in env_golden["bugs"]
        ]
        lines.append("")
    return lines, plots


def _first(found: tuple[str, int] | None) -> str:
    return f"{SHORT.get(found[0], found[0])} at {found[1]:,}" if found else "-"


def when_table(env: str, when: list[Timeline], plots: Plots) -> list[str]:
    """Per bug: the first series to separate from clean (any, then generic only), the return's
    separation and the divergence; each bug's timeline is drawn."""
    if not when:
        return []
    lines = [
        "",
        "### When: the first separation from clean",
        "",
        "At every log point, a Mann-Whitney test of the bug's seeds against the clean control's (exact "
        "permutation p-value), Benjamini-Hochberg over each bug's series x log points at "
        f"{Q} (`rl_lab/lab/timeline.py`). First: the earliest log point at which a series separates; "
        "the exact checks are this agent's recomputations, generic is every other diagnostic. Diverged: "
        "runs that stopped or raised a divergence event, and the median step.",
        "",
    ]
    if testable := [t for t in when if t.testable]:
        t = testable[0]
        smallest = 1 / math.comb(t.n_bug + t.n_clean, t.n_bug)
        needed = math.ceil(len(t.series) * smallest / Q - 1e-9)  # Q * s / S >= smallest
        lines += [
            f"Power: {t.n_bug} bug seeds against {t.n_clean} clean ones make the smallest p-value "
            f"1/C({t.n_bug + t.n_clean}, {t.n_bug}) = {smallest:.2g} (one-sided): roughly, a bug separates only "
            f"where it moves at least {needed} of the {len(t.series)} series at once "
            "(Benjamini-Hochberg, untested constant series aside); more clean seeds lower that bar.",
            "",
        ]
        lines += [
            "| bug | runs: bug / clean | first, with exact checks | first, generic | return | diverged "
            "| series separated |",
            "|---|---|---|---|---|---|---|",
        ]
    for t in testable:
        ret = t.first(RETURN)
        steps = [s for s in t.divergence_steps if s is not None]
        diverged = f"{len(steps)}/{t.n_bug} at {statistics.median(steps):,.0f}" if steps else "-"
        separated = sum(t.first(k) is not None for k in t.series)
        lines.append(
            f"| {t.bug}{_context(t.context)} | {t.n_bug} / {t.n_clean} | {_first(t.panel(EXACT))} "
            f"| {_first(t.panel(GENERIC))} | {f'{ret:,}' if ret else '-'} | {diverged} | {separated}/{len(t.series)} |"
        )
        plots.append((Path("plots") / env / f"{t.bug}_when.png", partial(plot_when, timeline=t)))
    if untestable := [t for t in when if not t.testable]:
        lines += [
            "",
            "Too few seeds to test: "
            + ", ".join(f"{t.bug} ({t.n_bug} against {t.n_clean} clean)" for t in untestable)
            + f"; no split of so few runs reaches p <= {Q}.",
        ]
    return lines


SHOWN_SERIES = 16  # the earliest-separating series drawn in a timeline


def plot_when(path: Path, timeline: Timeline) -> None:
    """Which series separate from clean, and when: one row per series (the return first), filled at
    the log points where it is separated."""
    order = sorted(
        (k for k in timeline.series if k != RETURN and timeline.first(k) is not None), key=lambda k: timeline.first(k)
    )
    rows = [RETURN, *order[:SHOWN_SERIES]]
    fig, ax = plt.subplots(figsize=(8, 1.0 + 0.22 * len(rows)))
    colors = {"return": "black", "exact": "tab:purple", "generic": "tab:orange"}
    for y, key in enumerate(rows):
        hit = timeline.adjusted[timeline.series.index(key)] <= Q if key in timeline.series else []
        ax.scatter(timeline.steps[hit], [y] * int(np.sum(hit)), s=9, marker="s", color=colors[series_group(key)])
    if (ret := timeline.first(RETURN)) is not None:
        ax.axvline(ret, color="black", ls="--", lw=0.8, label=f"return separates ({ret:,})")
    diverged = [s for s in timeline.divergence_steps if s is not None]
    if diverged:
        ax.axvline(statistics.median(diverged), color="tab:red", lw=0.8, label="median divergence")
    ax.set_yticks(range(len(rows)), [SHORT.get(k, k) for k in rows], fontsize=6)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(timeline.steps[0] * 0.8, timeline.steps[-1] * 1.2)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("agent steps (log)", fontsize=7)
    more = len(order) - SHOWN_SERIES
    ax.set_title(
        f"{timeline.env}: {timeline.bug}: separated from clean (purple: exact check, orange: generic)"
        + (f"\n{more} more series separate later" if more > 0 else ""),
        fontsize=8,
    )
    if ret is not None or diverged:
        ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)


def _dose_response(sweep: Sweep, env: str, plots: Plots) -> list[str]:
    dosed = sorted(
        {b for (e, b, d, c), jobs in sweep.groups.items() if e == env and b != CLEAN and not jobs[0].default_dose}
    )
    if not dosed:
        return []
    lines = ["", "### Dose-response", ""]
    for bug in dosed:
        keys = sorted((d, c) for (e, b, d, c) in sweep.groups if e == env and b == bug)
        context = keys[0][1]
        clean = sweep.control(env, context)
        rows = [(0.0, clean)] + [(d, sweep.groups[(env, bug, d, c)]) for d, c in keys]
        lines += [
            f"**{bug}** (dose 0 is the clean control; p: Welch against it)",
            "",
            "| dose | seeds | final return | p | expl. var. | p | KL act-train | KL/update |",
            "|---|---|---|---|---|---|---|---|",
        ]
        clean_features = [features(j) for j in clean]
        for dose, jobs in rows:
            fs = [features(j) for j in jobs]
            ret = welch([f["charts/return_last100"] for f in fs], [f["charts/return_last100"] for f in clean_features])
            ev = welch(
                [f["value/explained_variance"] for f in fs], [f["value/explained_variance"] for f in clean_features]
            )
            kl = _shown("policy/act_train_kl", statistics.median(f["policy/act_train_kl"] for f in fs))
            upd = _shown("policy/approx_kl", statistics.median(f["policy/approx_kl"] for f in fs))
            same = dose == 0.0
            lines.append(
                f"| {dose:g} | {len(jobs)} | {_fmt(ret['bug'])} | {'-' if same else _fmt(ret['p'])} | "
                f"{_fmt(ev['bug'])} | {'-' if same else _fmt(ev['p'])} | {kl} | {upd} |"
            )
        lines += ["", f"![{bug} dose-response](plots/{env}/dose_{bug}.png)", ""]
        plots.append((Path("plots") / env / f"dose_{bug}.png", partial(plot_dose, bug=bug, rows=rows)))
    return lines


def plot_dose(path: Path, bug: str, rows: list[tuple[float, list[Job]]]) -> None:
    keys = [
        ("charts/return_last100", "final return", False),
        ("value/explained_variance", "explained variance", False),
        ("policy/act_train_kl", "KL acting vs training", True),
        ("policy/approx_kl", "KL per update", True),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(12, 2.8))
    for ax, (key, name, log) in zip(axes, keys, strict=True):
        for dose, jobs in rows:
            values = [features(j)[key] for j in jobs]
            values = [10**v for v in values] if log else values
            ax.scatter([dose] * len(values), values, s=10, color="tab:gray")
        medians = [statistics.median([features(j)[key] for j in jobs]) for _, jobs in rows]
        ax.plot([d for d, _ in rows], [10**m for m in medians] if log else medians, color="tab:red", marker="o")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("dose", fontsize=8)
        ax.tick_params(labelsize=7)
        if log:
            ax.set_yscale("log")
    fig.suptitle(f"{bug}: per-seed values (late median) and their median", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)


def write_report(sweep_dir: Path, out: Path | None = None) -> Path:
    """Fit the golden signatures of a sweep and render its report into ``out`` (default
    ``<sweep_dir>/report``: the committed ones in results/ change only when asked to)."""
    sweep_dir = Path(sweep_dir)
    tier = tier_of(sweep_dir)
    out = Path(out) if out else sweep_dir / "report"
    sweep = Sweep(load_sweep(sweep_dir))
    golden = fit(sweep, tier)
    lines, plots = build(sweep, golden, timelines(sweep.jobs), sweep_dir, out)
    out.mkdir(parents=True, exist_ok=True)
    for path, draw in plots:
        draw(out / path)
    (out / "README.md").write_text("\n".join(lines) + "\n")
    (out / "golden.json").write_text(json.dumps(golden, indent=1, allow_nan=True) + "\n")
    return out
