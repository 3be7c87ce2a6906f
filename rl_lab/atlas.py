"""The bug atlas: one tier's sweep over bug x seed x dose, and the reading of its results.

    python -m rl_lab.atlas tier=fast                       # conf/atlas/fast.yaml into multirun/atlas/fast
    python -m rl_lab.atlas tier=fast seeds=[10,11,12] out=/tmp/atlas   # any field of the tier file
    python -m rl_lab.report multirun/atlas/fast            # the report, the plots and the golden signatures
    python -m rl_lab.check multirun/atlas/fast             # the regression check against them

A tier (``conf/atlas/<tier>.yaml``) is run as a few Hydra multiruns of ``rl_lab.train``
into one sweep directory, because the atlas is not one cartesian product: every bug at
its default dose x ``seeds``, grouped by the ``CONTEXT`` it needs (``rl_lab/bugs.py``; most
need none), each group with a clean control in its context at the same seeds; the clean
control's further ``clean_seeds``; and the ``doses`` of the dose-response curves. Every job
of every multirun is composed and range-checked before the first one starts. The sweeps' own
guarantees hold: a failed job does not stop the others, and running the tier again skips
finished jobs. The wall time of each part goes to ``benchmark.json`` in the sweep directory.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from rl_lab import bugs
from rl_lab.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
TIER_DIR = ROOT / "conf" / "atlas"
CLEAN = "none"
# overrides that say which job it is rather than the context it runs in
_JOB_KEYS = ("bug", "env", "seed", "total_steps", "progress", "torch_threads", "device")


def split_args(argv: list[str], options: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """Command-line words as (paths, {option: value}): ``key=value`` for a known key is an option;
    anything else is a path (sweep job directories have ``=`` in their names)."""
    named = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in argv if "=" in a and a.split("=", 1)[0] in options}
    return [a for a in argv if not ("=" in a and a.split("=", 1)[0] in options)], named


def tiers() -> list[str]:
    return sorted(p.stem for p in TIER_DIR.glob("*.yaml"))


def load_tier(name: str, cli: list[str] = ()) -> DictConfig:
    """A tier's config with command-line ``key=value`` overrides merged in."""
    path = TIER_DIR / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"tier={name!r} is invalid: valid choices are {', '.join(tiers())}")
    tier = OmegaConf.merge(OmegaConf.load(path), OmegaConf.from_dotlist(list(cli)))
    known = bugs.registry()
    names = bugs.zoo() if tier.bugs == "all" else list(tier.bugs)
    for bug in [*names, *tier.doses]:
        if bug not in known:
            raise ConfigError(f"bug {bug!r} in tier {name!r} is invalid: valid choices are {', '.join(bugs.zoo())}")
    for seed in [*tier.seeds, *tier.clean_seeds]:
        if not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed {seed!r} in tier {name!r} is invalid: seeds are integers >= 0")
    tier.bugs = names
    return tier


def _context_overrides(context: dict[str, Any]) -> list[str]:
    return [f"{key}={value}" for key, value in sorted(context.items())]


def multiruns(tier: DictConfig) -> list[tuple[str, list[str]]]:
    """The tier's Hydra multiruns as (part, overrides), in the order they run.

    Part ``zoo``: every bug at its default dose x ``seeds``, each context's bugs in one
    multirun together with a clean control in that context (the plain context included);
    part ``clean``: the clean control's further seeds (``clean_seeds`` not in ``seeds``),
    there for the false-alarm rate; part ``doses``: the dose-response runs.
    """
    common = [f"env={','.join(tier.envs)}", f"total_steps={tier.total_steps}", *tier.overrides]
    seeds = f"seed={','.join(map(str, tier.seeds))}"
    by_context: dict[tuple[str, ...], list[str]] = {(): []}
    for name in tier.bugs:
        key = tuple(_context_overrides(bugs.context_of(bugs.registry()[name])))
        by_context.setdefault(key, []).append(name)
    runs = [
        ("zoo", [f"bug={','.join([*names, CLEAN])}", seeds, *context, *common]) for context, names in by_context.items()
    ]
    further = [seed for seed in tier.clean_seeds if seed not in tier.seeds]
    if further:
        runs.append(("clean", [f"bug={CLEAN}", f"seed={','.join(map(str, further))}", *common]))
    for name, doses in tier.doses.items():
        context = _context_overrides(bugs.context_of(bugs.registry()[name]))
        runs.append(
            ("doses", [f"bug={name}", f"bug.{name}.dose={','.join(map(str, doses))}", seeds, *context, *common])
        )
    return runs


def validate(runs: list[list[str]]) -> None:
    """Compose and range-check every job of every multirun; raise ConfigError before any runs.

    Jobs that differ only in their seed are composed once (the tier's seeds are checked in
    :func:`load_tier`): composing costs ~0.3 s a job, and a tier has ~200.
    """
    from hydra import compose, initialize_config_dir

    from rl_lab.config import register_schema
    from rl_lab.sweep import check_job_config, sweep_jobs

    register_schema()  # what rl_lab.train registers when it starts: the schema and the bug options
    bugs.load()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        distinct = {
            tuple(o for o in job if not o.startswith("seed=")): job for _, run in runs for job in sweep_jobs(run)
        }
        for job in distinct.values():
            try:
                check_job_config(compose(config_name="config", overrides=job))
            except ConfigError as error:
                raise ConfigError(f"job [{' '.join(job)}]: {error}; no job was launched") from None


def run_tier(tier: DictConfig, out: Path) -> dict[str, float]:
    """Run every multirun of the tier into ``out``; returns wall times in seconds of each part
    (see :func:`multiruns`) and the total."""
    runs = multiruns(tier)
    started = time.perf_counter()
    validate(runs)
    walls = {"zoo": time.perf_counter() - started, "clean": 0.0, "doses": 0.0}  # the check counts with the zoo
    for part, run in runs:
        run_started = time.perf_counter()
        # validated above: the per-multirun check (rl_lab/sweep.py) would compose every job again
        command = [
            sys.executable,
            "-m",
            "rl_lab.train",
            "-m",
            *run,
            *tier.launcher,
            f"hydra.sweep.dir={out}",
            "~hydra.callbacks.validate_sweep",
        ]
        print("+", " ".join(command[1:]), flush=True)
        # a multirun that fails as a whole (not one job: those record their failure) is reported, the rest go on
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            print(f"multirun failed: {' '.join(run)}", file=sys.stderr)
        walls[part] += time.perf_counter() - run_started
    walls["total"] = time.perf_counter() - started
    return walls


# --- reading a sweep -------------------------------------------------------------------------


@dataclass
class Job:
    """One run of a sweep, read from its directory."""

    path: Path
    env: str
    bug: str  # a bug's name, or "none"
    dose: float  # 0 for the clean control
    seed: int
    context: tuple[str, ...]  # overrides the run needed beyond bug, env and seed (e.g. dropout)
    summary: dict[str, Any] = field(repr=False)

    @property
    def default_dose(self) -> bool:
        return self.bug == CLEAN or self.dose == float(bugs.registry()[self.bug].DOSE)

    @property
    def total_steps(self) -> int:
        return int(self.summary["total_steps"])

    @cached_property
    def metrics(self) -> list[dict[str, float]]:
        path = self.path / "metrics.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Steps and values of one metric (points without it are skipped)."""
        points = [(p["step"], p[key]) for p in self.metrics if key in p]
        if not points:
            return np.zeros(0), np.zeros(0)
        steps, values = zip(*points, strict=True)
        return np.asarray(steps, float), np.asarray(values, float)


def read_job(path: Path) -> Job | None:
    overrides_file, summary_file = path / ".hydra" / "overrides.yaml", path / "summary.json"
    if not (overrides_file.exists() and summary_file.exists()):
        return None
    overrides = list(OmegaConf.load(overrides_file))
    config = OmegaConf.load(path / "config.yaml")
    chosen = dict(o.split("=", 1) for o in overrides if o.startswith("env="))
    bug_config = OmegaConf.to_container(config.bug) if "bug" in config else None
    if not isinstance(bug_config, dict) or not all(isinstance(v, dict) for v in bug_config.values()):
        return None  # not a run of this version of rl_lab.train
    name = next(iter(bug_config), CLEAN)
    dose = float(bug_config[name]["dose"]) if bug_config else 0.0
    if name != CLEAN and dose == 0.0:
        name = CLEAN  # dose 0 is the clean agent
    context = tuple(sorted(o for o in overrides if o.split("=", 1)[0].split(".")[0] not in _JOB_KEYS))
    return Job(
        path, chosen.get("env", "cartpole"), name, dose, int(config.seed), context, json.loads(summary_file.read_text())
    )


def load_sweep(sweep_dir: Path) -> list[Job]:
    """Every job directory of a sweep (those with a summary), in a stable order."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"sweep directory {str(sweep_dir)!r} does not exist")
    jobs = [job for path in sorted(sweep_dir.iterdir()) if path.is_dir() and (job := read_job(path))]
    if not jobs:
        raise FileNotFoundError(f"no runs (directories with .hydra/overrides.yaml and summary.json) in {sweep_dir}")
    return jobs


def tier_of(sweep_dir: Path) -> str:
    """The tier a sweep directory was run for (written by ``python -m rl_lab.atlas``), else its name."""
    marker = Path(sweep_dir) / "tier.json"
    return json.loads(marker.read_text())["tier"] if marker.exists() else Path(sweep_dir).name


# --- the per-run numbers that signatures and the diagnoser compare ------------------------------

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


def late_median(job: Job, key: str) -> float:
    """The median of a metric over the second half of the run's log points (nan if never logged).

    A diverged run is read up to where it stopped; non-finite points are skipped.
    """
    _, values = job.series(key)
    values = values[np.isfinite(values)]
    if key == "charts/return_last100":  # the return is a running mean already: take where it ended
        return float(values[-1]) if values.size else math.nan
    return float(np.median(values[values.size // 2 :])) if values.size else math.nan


def transform(key: str, value: float) -> float:
    return math.log10(max(value, LOG_FLOOR)) if FEATURES.get(key) == "log" and math.isfinite(value) else value


def features(job: Job) -> dict[str, float]:
    """The run's signature numbers: each feature's late median, log10 for the heavy-tailed ones."""
    return {key: transform(key, late_median(job, key)) for key in FEATURES}


def benchmark_line(benchmark: dict[str, Any]) -> str:
    """The wall times ``python -m rl_lab.atlas`` measured (its ``benchmark.json``), in words."""
    walls, runs = benchmark["walls_s"], benchmark["runs"]
    return (
        f"wall time {walls['total']:.0f} s on {benchmark['cpu_count']} CPUs, {benchmark['runs_trained']} of "
        f"{sum(runs.values())} runs trained by that invocation (the rest were already finished): the zoo x seeds "
        f"with a clean control in each context ({runs['zoo']} runs, the up-front check included) "
        f"{walls['zoo']:.0f} s; the clean control's further seeds ({runs['clean']} runs) {walls['clean']:.0f} s; "
        f"the dose-response runs ({runs['doses']} runs) {walls['doses']:.0f} s"
    )


def main(argv: list[str]) -> int:
    args = dict(arg.split("=", 1) for arg in argv if "=" in arg and arg.split("=", 1)[0] in ("tier", "out"))
    rest = [arg for arg in argv if arg.split("=", 1)[0] not in ("tier", "out")]
    name = args.get("tier", "fast")
    try:
        tier = load_tier(name, rest)
        out = Path(args.get("out", ROOT / "multirun" / "atlas" / name))
        out.mkdir(parents=True, exist_ok=True)
        (out / "tier.json").write_text(json.dumps({"tier": name, "config": OmegaConf.to_container(tier)}, indent=1))
        finished_before = {p.parent for p in out.glob("*/summary.json")}
        walls = run_tier(tier, out)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
    from rl_lab.sweep import sweep_jobs

    trained = len({p.parent for p in out.glob("*/summary.json")} - finished_before)
    counts = {"zoo": 0, "clean": 0, "doses": 0}
    for part, run in multiruns(tier):
        counts[part] += len(sweep_jobs(run))
    benchmark = {
        "walls_s": {k: round(v, 1) for k, v in walls.items()},
        "runs": counts,
        "runs_trained": trained,
        "cpu_count": os.cpu_count(),
    }
    (out / "benchmark.json").write_text(json.dumps(benchmark, indent=1))
    print(f"tier {name}: {out}: {benchmark_line(benchmark)}")
    print(f"next: python -m rl_lab.report {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
