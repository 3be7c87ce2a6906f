"""Train a set of runs that may already exist: the lab's scripts keep their runs and reuse them,
and write what they measured to ``results/`` (:func:`write_result`).

A run is named by its ``rl_lab.train`` overrides and its directory. :func:`train_missing` trains
those not finished yet, ``jobs`` at a time (one torch thread each), and leaves finished ones
alone, so a script can be interrupted and run again, and a later analysis (a detector replayed,
a threshold changed) needs no training at all. :func:`result_path` keeps a script's default
output off committed results: to replace one, name it with ``out=``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from rl_lab.run.config import ConfigError
from rl_lab.run.outputs import refuse_committed


@dataclass(frozen=True)
class RunSpec:
    overrides: tuple[str, ...]  # rl_lab.train overrides, total_steps= among them
    run_dir: Path


def finished(run_dir: Path, total_steps: int) -> bool:
    summary = Path(run_dir) / "summary.json"
    return summary.exists() and json.loads(summary.read_text()).get("steps", 0) >= total_steps


def _total_steps(spec: RunSpec) -> int:
    return next(int(o.split("=", 1)[1]) for o in spec.overrides if o.startswith("total_steps="))


def _train(spec: RunSpec) -> str:
    """Train one run in a worker process; its console output (the emulator's banner, warnings) goes
    to ``console.log`` in its directory, so parallel runs do not interleave. Returns one line about it."""
    from rl_lab.run.training import compose_config, prepare_run, train

    spec.run_dir.mkdir(parents=True, exist_ok=True)
    with open(spec.run_dir / "console.log", "w") as console:
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(console.fileno(), 1)  # file descriptors, not sys.stdout: C++ libraries write there too
        os.dup2(console.fileno(), 2)
        overrides = [*spec.overrides, "progress=false", "torch_threads=1"]
        summary = train(prepare_run(compose_config(overrides), spec.run_dir, overrides), spec.run_dir)
    return (
        f"{spec.run_dir}: {summary['status']}, {summary['steps']:,} steps in {summary['wall_time_s']:.0f} s, "
        f"final return {summary['final_return']:.2f}"
    )


DEFAULT_ALGO = "a2c"  # conf/config.yaml's algo


def algo_overrides(algo: str) -> tuple[str, ...]:
    """The override that picks ``algo``: none for the default, so A2C's commands and run directories
    stay what they were before a second algorithm came."""
    return () if algo == DEFAULT_ALGO else (f"algo={algo}",)


def clean_name(algo: str, env: str) -> str:
    """What ``algo``'s clean calibration on ``env`` is named (``runs/clean/<name>_<steps>/``,
    ``conf/envelopes/<name>.yaml``, the results): the env alone for A2C, whose came first; else
    ``<algo>_<env>``."""
    return env if algo == DEFAULT_ALGO else f"{algo}_{env}"


def clean_specs(runs_dir: Path, algo: str, env: str, steps: int, seeds: list[int]) -> list[RunSpec]:
    """The clean runs of ``algo`` on ``env``, one per seed, under ``runs_dir/clean/<name>_<steps>/seed<s>``."""
    root = Path(runs_dir) / "clean" / f"{clean_name(algo, env)}_{steps}"
    overrides = (*algo_overrides(algo), f"env={env}")
    return [RunSpec((*overrides, f"seed={s}", f"total_steps={steps}"), root / f"seed{s}") for s in seeds]


def train_missing(specs: list[RunSpec], jobs: int = 2) -> int:
    """Train every run of ``specs`` not finished in its directory (an unfinished one starts over),
    printing one line per run as it ends; returns how many were trained."""
    todo = [spec for spec in specs if not finished(spec.run_dir, _total_steps(spec))]
    for spec in todo:
        shutil.rmtree(spec.run_dir, ignore_errors=True)
    with ProcessPoolExecutor(jobs) as pool:
        for done in as_completed([pool.submit(_train, spec) for spec in todo]):
            print(done.result(), flush=True)
    return len(todo)


def result_path(default: Path, out: str | Path | None = None, option: str = "out") -> Path:
    """Where a script writes what it measured: ``out`` when given (``option=PATH``), else ``default``.
    A default that git tracks is refused (:class:`ConfigError`, before any work): running a script
    again never replaces a committed result unless its path is named."""
    if out:
        return Path(out)
    refuse_committed(default, option)
    return default


def run_script(main: Callable[..., int | None], *args) -> int:
    """A script's exit status: ``main``'s, or 2 with one line for a bad setting or output."""
    try:
        return main(*args) or 0
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2


def write_result(out: Path, text: str) -> None:
    """Write a script's result file (its parents created) and print it with where it went."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text, end="")
    print(f"written: {out}")
