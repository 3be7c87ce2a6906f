"""Which symptom each bug shows on Pong, against its symptom on Catch, from two golden signatures.

    python -m rl_lab.atlas tier=pong && python -m rl_lab.report multirun/atlas/pong out=results/atlas/pong
    python scripts/pong_vs_catch.py     # results/atlas/pong/symptoms.md

Reads the Pong tier's golden signatures (``pong=``, default ``results/atlas/pong/golden.json``)
and the fast tier's (``catch=``, default ``results/atlas/fast/golden.json``). Per bug that ran on
both: the detectors that fired (median first firing over seeds) and how the bug moved the
signature's features. On Catch a feature moved when Welch's test across seeds says so (p < 0.05,
as the atlas report marks it); the Pong tier has one seed per bug, so there a feature is marked
only when the bug's value lies outside the range of every clean seed (a range, not a test: a
further clean seed would land outside n clean seeds' range with probability 2/(n + 1)).
A default ``out`` that is a committed result is refused before any work: pass ``out=`` to replace it.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rl_lab.lab.runs import result_path, run_script, write_result
from rl_lab.lab.signatures import SHORT, significant

ROOT = Path(__file__).resolve().parent.parent


def detectors_fired(signature: dict[str, Any]) -> str:
    """Every detector that fired, by median first firing, with the share of seeds where not all."""
    fired = sorted(signature["detectors"].items(), key=lambda item: (item[1]["median_step"], item[0]))
    seeds = len(signature["seeds"])
    cells = [
        f"{name} {d['median_step']:,.0f}" + (f" ({round(d['fraction'] * seeds)}/{seeds})" if d["fraction"] < 1 else "")
        for name, d in fired
    ]
    return ", ".join(cells) or "none"


def outside_clean_range(signature: dict[str, Any], clean: dict[str, Any]) -> str:
    """Features whose (single-seed) value lies outside every clean seed's, with the direction."""
    moved = []
    for key, values in signature["features"].items():
        reference = [v for v in clean["features"][key] if math.isfinite(v)]
        value = values[0] if values else math.nan
        if not reference or not math.isfinite(value):
            continue
        if value > max(reference) or value < min(reference):
            moved.append(f"{SHORT[key]} {'↑' if value > max(reference) else '↓'}")
    return ", ".join(moved) or "none"


def significant_changes(signature: dict[str, Any]) -> str:
    moved = [
        f"{SHORT[key]} {'↑' if test['bug'] > test['clean'] else '↓'}"
        for key, test in signature["tests"].items()
        if significant(test)
    ]
    return ", ".join(moved) or "none"


def main() -> int:
    args = OmegaConf.merge(
        OmegaConf.create(
            {
                "pong": "results/atlas/pong/golden.json",
                "catch": "results/atlas/fast/golden.json",
                "out": None,
            }
        ),
        OmegaConf.from_cli(),
    )
    out = result_path(ROOT / "results" / "atlas" / "pong" / "symptoms.md", args.out)
    pong = json.loads((ROOT / args.pong).read_text())["envs"]["pong"]  # relative to the repository
    catch = json.loads((ROOT / args.catch).read_text())["envs"]["catch"]
    lines = [
        "# Symptoms on Pong against symptoms on Catch",
        "",
        f"Command: `python scripts/pong_vs_catch.py{''.join(' ' + a for a in sys.argv[1:])}`. Pong: "
        f"`{args.pong}` ({pong['total_steps']:,} steps, one seed per bug); Catch: `{args.catch}` "
        f"({catch['total_steps']:,} steps, {len(next(iter(catch['bugs'].values()))['seeds'])} seeds per bug). "
        "Detectors: every one that fired, by median first firing (in how many seeds, where not all). "
        "Moved: on Pong, outside the range of every clean seed "
        f"(one bug seed: a range, not a test; with {len(next(iter(pong['clean'].values()))['seeds'])} clean seeds a "
        "further clean seed lands outside their range by chance with probability 2/(n+1), so one mark alone is weak "
        "evidence); on Catch, Welch's test across seeds, p < 0.05.",
        "",
        "| bug | Pong: detectors | Pong: moved | Catch: detectors | Catch: moved |",
        "|---|---|---|---|---|",
    ]
    for bug, signature in sorted(pong["bugs"].items()):
        clean = pong["clean"][" ".join(signature["context"])]
        there = catch["bugs"].get(bug)
        lines.append(
            f"| {bug} | {detectors_fired(signature)} | {outside_clean_range(signature, clean)} "
            f"| {detectors_fired(there) if there else 'not in the Catch tier'} "
            f"| {significant_changes(there) if there else '-'} |"
        )
    write_result(out, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
