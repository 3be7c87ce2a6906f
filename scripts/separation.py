"""When the panel separates a bug from clean, against when the return does, by the same test on
both sides; and the A/A check of that test (``rl_lab.lab.timeline``).

    python -m rl_lab.atlas tier=fast_evaluation
    python scripts/separation.py sweep=multirun/atlas/fast_evaluation   # results/timeline/separation_fast_evaluation.md
    python scripts/separation.py sweep=multirun/atlas/fast splits=20 out=/tmp/separation_fast.md

For every bug x env pair of the sweep (default dose): the first log point at which any series of
the panel separates from the clean control, in two columns (the generic diagnostics only; with
the exact checks), the return's first separation, and the lead = return step / panel step. The
median lead over the pairs where both separate comes with its distribution-free 95% interval.
The A/A check runs the same procedure on ``splits`` random splits of each env's clean control
(as many pseudo-bug runs as the sweep's bugs have, against the other clean runs) and counts the
comparisons in which anything separates, with its 95% Clopper-Pearson interval; beside it, the
same splits tested in one family with the sweep's bugs (the sweep-wide alternative).

A default ``out`` that is a committed result is refused before any work: pass ``out=`` to replace it.
"""

from __future__ import annotations

import statistics
import sys
from collections import Counter
from pathlib import Path

from omegaconf import OmegaConf

from rl_lab.lab.atlas import tier_of
from rl_lab.lab.detection import interval
from rl_lab.lab.runs import result_path, run_script, write_result
from rl_lab.lab.sweep import load_sweep
from rl_lab.lab.timeline import (
    EXACT,
    GENERIC,
    RETURN,
    Q,
    Timeline,
    aa_check,
    median_with_interval,
    sweep_wide,
    timelines,
)

ROOT = Path(__file__).resolve().parent.parent


def _step(found: tuple[str, int] | None) -> str:
    return f"`{found[0]}` at {found[1]:,}" if found else "-"


def _diverged(t: Timeline) -> str:
    steps = [s for s in t.divergence_steps if s is not None]
    return f"{len(steps)}/{t.n_bug} (median {statistics.median(steps):,.0f})" if steps else "-"


def lead_lines(pairs: list[Timeline]) -> list[str]:
    lines = [
        "| env | bug | runs: bug / clean | first to separate, generic | first to separate, with exact checks "
        "| return separates | lead, generic | lead, with exact checks | diverged |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in pairs:
        ret = t.first(RETURN)
        leads = [f"{lead:.3g}x" if (lead := t.lead(c)) is not None else "-" for c in (GENERIC, EXACT)]
        lines.append(
            f"| {t.env} | {t.bug}{' (' + ' '.join(t.context) + ')' if t.context else ''} | {t.n_bug} / {t.n_clean} "
            f"| {_step(t.panel(GENERIC))} | {_step(t.panel(EXACT))} | {f'{ret:,}' if ret else '-'} "
            f"| {leads[0]} | {leads[1]} | {_diverged(t)} |"
        )
    lines += ["", "| | generic | with exact checks |", "|---|---|---|"]
    rows: dict[str, list[str]] = {}
    for column in (GENERIC, EXACT):
        leads = [lead for t in pairs if (lead := t.lead(column)) is not None]
        median = "-"
        if leads:
            m, low, high = median_with_interval(leads)
            median = f"{m:.3g}x [{low:.3g}, {high:.3g}] over {len(leads)} pairs"
        panel_only = sum(t.panel(column) is not None and t.first(RETURN) is None for t in pairs)
        return_only = sum(t.panel(column) is None and t.first(RETURN) is not None for t in pairs)
        rows.setdefault("median lead over the pairs where both separate (95% CI)", []).append(median)
        rows.setdefault("panel first / same log point / return first", []).append(
            f"{sum(x > 1 for x in leads)} / {sum(x == 1 for x in leads)} / {sum(x < 1 for x in leads)}"
        )
        rows.setdefault("the panel separates, the return never", []).append(str(panel_only))
        rows.setdefault("the return separates, the panel never", []).append(str(return_only))
        rows.setdefault("neither separates", []).append(
            str(sum(t.panel(column) is None and t.first(RETURN) is None for t in pairs))
        )
    lines += [f"| {name} | {cells[0]} | {cells[1]} |" for name, cells in rows.items()]
    return lines


def aa_lines(jobs: list, pairs: list[Timeline], splits: int, seed: int) -> tuple[list[str], list[int]]:
    lines = [
        "| env | comparisons (pseudo-bug runs / clean runs) | anything separates (95% CI) "
        "| the same splits in one family with the sweep's bugs | what separated |",
        "|---|---|---|---|---|",
    ]
    totals = [0, 0]
    for env in sorted({t.env for t in pairs}):
        n_bug = Counter(t.n_bug for t in pairs if t.env == env).most_common(1)[0][0]
        check = aa_check(jobs, env, n_bug, splits, seed)
        wide = sum(sweep_wide(c, [t for t in pairs if t.env == env]) for c in check.comparisons)
        what = Counter(hit[0] for c in check.comparisons if (hit := c.first_of(("generic", "exact", "return"))))
        totals[0] += check.separated
        totals[1] += len(check.comparisons)
        lines.append(
            f"| {env} | {len(check.comparisons)} ({check.n_pseudo_bug} / {check.n_control}) "
            f"| {interval(check.separated, len(check.comparisons))} | {interval(wide, len(check.comparisons))} "
            f"| {', '.join(f'`{k}` ({n})' for k, n in what.most_common()) or '-'} |"
        )
    return lines, totals


def main() -> int:
    args = OmegaConf.merge(
        OmegaConf.create({"sweep": None, "splits": 100, "seed": 0, "out": None}), OmegaConf.from_cli()
    )
    if not args.sweep:
        print(__doc__, file=sys.stderr)
        return 2
    sweep = Path(args.sweep)
    out = result_path(ROOT / "results" / "timeline" / f"separation_{tier_of(sweep)}.md", args.out)
    jobs = load_sweep(sweep)
    pairs = timelines(jobs)
    aa, (separated, comparisons) = aa_lines(jobs, pairs, args.splits, args.seed)
    command = "python scripts/separation.py " + " ".join(sys.argv[1:])
    lines = [
        f"# When the panel separates a bug from clean, and when the return does: `{sweep}`",
        "",
        f"Command: `{command}`. Test (`rl_lab/lab/timeline.py`): at every log point of the clean control, "
        "Mann-Whitney U of the bug's per-seed values against the clean seeds' (exact permutation p-value; "
        "two-sided, one-sided for the exact checks), Benjamini-Hochberg over each comparison's series x log "
        f"points at {Q}. The same test and family for the panel and for the return (`{RETURN}`). "
        "Lead = the return's first separation step / the panel's; above 1 the panel separated first.",
        "",
        "## A/A: clean against clean",
        "",
        f"{splits_text(args.splits, args.seed)} Goal: anything separates in at most 5% of comparisons. "
        f"All envs: {interval(separated, comparisons)}.",
        "",
        *aa,
        "",
        "## The panel's lead over the return",
        "",
        *lead_lines(pairs),
        "",
    ]
    write_result(out, "\n".join(lines))
    return 0


def splits_text(splits: int, seed: int) -> str:
    return (
        f"{splits} random splits per env (seed {seed}): as many clean runs as a bug has, drawn at random, "
        "against the env's other clean runs (disjoint), each compared exactly as a bug is."
    )


if __name__ == "__main__":
    sys.exit(run_script(main))
