"""Train a set of runs that may already exist: the lab's scripts keep their runs and reuse them,
and write what they measured to ``results/`` (:func:`write_result`).

A run is named by its ``rl_lab.train`` overrides and its directory. :func:`train_missing` trains
those not finished yet, ``jobs`` at a time (one torch thread each), and leaves finished ones
alone, so a script can be interrupted and run again, and a later analysis (a detector replayed,
a threshold changed) needs no training at all.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunSpec:
    overrides: tuple[str, ...]  # rl_lab.train overrides, total_steps= among them
    run_dir: Path


def finished(run_dir: Path, total_steps: int) -> bool:
    summary = Path(run_dir) / "summary.json"
    return summary.exists() and json.loads(summary.read_text()).get("steps", 0) >= total_steps


def _total_steps(spec: RunSpec) -> int:
    return next(int(o.split("=", 1)[1]) for o in spec.overrides if o.startswith("total_steps="))


def _train(spec: RunSpec) -> None:
    from rl_lab.run.training import compose_config, prepare_run, train

    overrides = [*spec.overrides, "progress=false", "torch_threads=1"]
    train(prepare_run(compose_config(overrides), spec.run_dir, overrides), spec.run_dir)


def train_missing(specs: list[RunSpec], jobs: int = 2) -> int:
    """Train every run of ``specs`` not finished in its directory (an unfinished one starts over);
    returns how many were trained."""
    todo = [spec for spec in specs if not finished(spec.run_dir, _total_steps(spec))]
    for spec in todo:
        shutil.rmtree(spec.run_dir, ignore_errors=True)
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(_train, todo))
    return len(todo)


def write_result(out: Path, text: str) -> None:
    """Write a script's result file (its parents created) and print it with where it went."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text, end="")
    print(f"written: {out}")
