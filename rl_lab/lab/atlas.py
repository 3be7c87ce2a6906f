"""The bug atlas: one tier's sweep over bug x seed x dose (the command: ``python -m rl_lab.atlas``).

A tier (``conf/atlas/<tier>.yaml``, schema :class:`TierSettings`) is run as a few Hydra
multiruns of ``rl_lab.train`` into one sweep directory, because the atlas is not one
cartesian product: every bug at its default dose x ``seeds``, grouped by the ``CONTEXT`` it
needs (``rl_lab.bugs``; most need none), each group with a clean control in its context at
the same seeds and the further ``clean_seeds``; and the ``doses`` of the
dose-response curves. Every job of every multirun is composed and range-checked before the
first one starts. The sweeps' own guarantees hold: a failed job does not stop the others,
and running the tier again skips finished jobs (their detector firings replayed through today's
panel: :func:`rl_lab.lab.sweep.rescore`). The wall time of each part goes to
``benchmark.json`` in the sweep directory.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rl_lab import bugs
from rl_lab.lab.seeds import seed_set  # noqa: F401  (importing registers ${seeds:NAME} for the tier files)
from rl_lab.lab.sweep import CLEAN, rescore
from rl_lab.run.config import CONFIG_DIR, ConfigError

TIER_DIR = CONFIG_DIR / "atlas"
# the committed results; installed as rl_lab.results with the golden signatures and probe matrices
RESULTS = Path(importlib.import_module("rl_lab.results").__file__).parent


# per algorithm, the tier whose golden signatures a run is diagnosed against by default
DIAGNOSIS_TIERS = {"a2c": "fast", "ppo": "ppo_fast"}


def shipped_golden(tier: str) -> Path:
    """The committed golden signatures of a tier, as they ship with the package."""
    return RESULTS / "atlas" / tier / "golden.json"


@dataclass
class TierSettings:
    """A tier of the atlas. The file ``conf/atlas/<tier>.yaml`` sets every field but ``tier`` and
    ``out``; on the command line any field overrides the file."""

    tier: str = "fast"  # which file
    algo: str | None = None  # the algorithm every job trains (conf/algo/; default a2c); bugs "all" is its zoo
    out: str | None = None  # the sweep directory; default multirun/atlas/<tier>
    envs: list[str] | None = None  # env config names, e.g. [cartpole, catch]
    total_steps: int | None = None  # agent steps per run
    seeds: list[int] | None = None  # every bug (at its default dose) and every dose, with a clean control
    clean_seeds: list[int] | None = None  # the clean control's seeds (with `seeds`): its spread, the false alarms
    bugs: Any = None  # "all" (the zoo) or a list of bug names
    doses: dict[str, list[Any]] | None = None  # bug -> doses of its dose-response runs (numbers)
    overrides: list[str] | None = None  # rl_lab.train overrides of every job
    launcher: list[str] | None = None  # Hydra launcher overrides


def tiers() -> list[str]:
    return sorted(p.stem for p in TIER_DIR.glob("*.yaml"))


def load_tier(settings: TierSettings) -> DictConfig:
    """A tier's file with the command line's settings merged in, range-checked."""
    name = settings.tier
    path = TIER_DIR / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"tier={name!r} is invalid: valid choices are {', '.join(tiers())}")
    given = {k: v for k, v in OmegaConf.to_container(OmegaConf.structured(settings)).items() if v is not None}
    try:
        tier = OmegaConf.merge(OmegaConf.structured(TierSettings), OmegaConf.load(path), given)
    except OmegaConfBaseException as error:
        raise ConfigError(f"tier file {path} is invalid: {str(error).splitlines()[0]}") from None
    try:
        OmegaConf.resolve(tier)  # ${seeds:NAME}
    except (OmegaConfBaseException, ConfigError) as error:
        raise ConfigError(f"tier file {path} is invalid: {str(error).splitlines()[0]}") from None
    tier.algo = tier.algo or "a2c"
    unset = [k for k, v in tier.items() if v is None and k != "out"]
    if unset:
        raise ConfigError(f"tier file {path} is invalid: it sets no {unset[0]}")
    algos = sorted(p.stem for p in (CONFIG_DIR / "algo").glob("*.yaml"))
    if tier.algo not in algos:
        raise ConfigError(f"algo={tier.algo!r} in tier {name!r} is invalid: valid choices are {', '.join(algos)}")
    known = bugs.registry()
    names = bugs.zoo(tier.algo) if tier.bugs == "all" else list(tier.bugs)
    for bug in [*names, *tier.doses]:
        if bug not in known:
            choices = ", ".join(bugs.zoo(tier.algo))
            raise ConfigError(f"bug {bug!r} in tier {name!r} is invalid: valid choices are {choices}")
    for seed in [*tier.seeds, *tier.clean_seeds]:
        if seed < 0:
            raise ConfigError(f"seed {seed!r} in tier {name!r} is invalid: seeds are integers >= 0")
    if tier.total_steps < 1:
        raise ConfigError(f"total_steps={tier.total_steps!r} is invalid: must be an integer >= 1")
    tier.bugs = names
    tier.out = tier.out or str(Path("multirun") / "atlas" / name)
    return tier


def _context_overrides(context: dict[str, Any]) -> list[str]:
    return [f"{key}={value}" for key, value in sorted(context.items())]


def multiruns(tier: DictConfig) -> list[tuple[str, list[str]]]:
    """The tier's Hydra multiruns as (part, overrides), in the order they run.

    Part ``zoo``: every bug at its default dose x ``seeds``, each context's bugs in one
    multirun together with a clean control in that context (the plain context included);
    part ``clean``: the clean control's further seeds (``clean_seeds`` not in ``seeds``) in
    every context, there for the false-alarm rate and the tests against clean; part ``doses``:
    the dose-response runs.
    """
    envs = [f"env={','.join(tier.envs)}"]
    # A2C, the default, is not named: its jobs' directories stay as they were before algorithms were a choice
    algo = [] if tier.algo == "a2c" else [f"algo={tier.algo}"]
    common = [*algo, f"total_steps={tier.total_steps}", *tier.overrides]
    seeds = f"seed={','.join(map(str, tier.seeds))}"
    by_context: dict[tuple[str, ...], list[str]] = {(*envs,): []}
    for name in tier.bugs:
        module = bugs.registry()[name]
        applies = [env for env in tier.envs if bugs.applies_to(module, env)]
        if applies:  # a bug for other envs (say, Pong's frame stack in a CartPole tier) is left out
            key = (f"env={','.join(applies)}", *_context_overrides(bugs.context_of(module)))
            by_context.setdefault(key, []).append(name)
    runs = [("zoo", [f"bug={','.join([*names, CLEAN])}", seeds, *key, *common]) for key, names in by_context.items()]
    further = [seed for seed in tier.clean_seeds if seed not in tier.seeds]
    if further:  # in every context: a bug is tested against as many clean seeds wherever it runs
        runs += [
            ("clean", [f"bug={CLEAN}", f"seed={','.join(map(str, further))}", *key, *common]) for key in by_context
        ]
    common = [*envs, *common]
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
    from hydra import initialize_config_dir

    from rl_lab.lab.sweep import check_job_config, compose_job, sweep_jobs
    from rl_lab.run.config import register_schema

    register_schema()  # what rl_lab.train registers when it starts: the schema and the bug options
    bugs.load()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        distinct = {tuple(o for o in job if not o.startswith("seed=")): job for run in runs for job in sweep_jobs(run)}
        for job in distinct.values():
            try:
                check_job_config(compose_job("config", job))
            except ConfigError as error:
                raise ConfigError(f"job [{' '.join(job)}]: {error}; no job was launched") from None


def run_tier(tier: DictConfig, out: Path, runs: list[tuple[str, list[str]]]) -> dict[str, float]:
    """Check every job, then run the tier's multiruns (:func:`multiruns`) into ``out``.

    Returns the wall time in seconds of each part and the total, and how many runs this call
    trained (the others were finished before). Nothing is created before the check passes.
    """
    started = time.perf_counter()
    validate([run for _, run in runs])
    out.mkdir(parents=True, exist_ok=True)
    (out / "tier.json").write_text(json.dumps({"tier": tier.tier, "config": OmegaConf.to_container(tier)}, indent=1))
    finished_before = {p.parent for p in out.glob("*/summary.json")}
    walls = {"zoo": time.perf_counter() - started, "clean": 0.0, "doses": 0.0}  # the check counts with the zoo
    for part, run in runs:
        run_started = time.perf_counter()
        # validated above: the per-multirun check (rl_lab/lab/sweep.py) would compose every job again
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
        if subprocess.run(command).returncode != 0:
            print(f"multirun failed: {' '.join(run)}", file=sys.stderr)
        walls[part] += time.perf_counter() - run_started
    walls["total"] = time.perf_counter() - started
    walls["trained"] = len({p.parent for p in out.glob("*/summary.json")} - finished_before)
    # runs finished before may have been recorded by an older panel: read again through today's
    rescored = [run for run in sorted(finished_before) if rescore(run)]
    if rescored:
        print(f"{len(rescored)} of {len(finished_before)} earlier runs: firings replayed with today's panel")
    return walls


def tier_of(sweep_dir: Path) -> str:
    """The tier a sweep directory was run for (written by ``python -m rl_lab.atlas``), else its name."""
    marker = Path(sweep_dir) / "tier.json"
    return json.loads(marker.read_text())["tier"] if marker.exists() else Path(sweep_dir).name


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
