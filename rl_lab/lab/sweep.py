"""Sweeps: Hydra multiruns over bug x seed x dose, every job checked before any starts, and
the reading of a sweep's runs back from their directories.

    python -m rl_lab.train -m 'bug=glob(*,exclude=[mystery,frame_stack_not_reset])' seed=0,1,2 \
        total_steps=100000 hydra/launcher=joblib
    python -m rl_lab.train -m bug=off_by_one_frames bug.off_by_one_frames.dose=0,1,2,3,4 seed=0,1,2

Hydra's sweeper composes every job's config before launching, so an unknown bug
name fails at once. :class:`ValidateSweep` (a Hydra callback, ``conf/config.yaml``)
also range-checks every job's config when the multirun starts (a dose outside the
bug's range, ``agent.lr=-1``), so a mistyped sweep fails before any job runs,
naming the job and the bad value. What a job does once it runs (skip when
finished, resume when interrupted, record a failure and let the sweep go on) is in
:func:`rl_lab.train.main`. :func:`load_sweep` reads every run of a sweep back from
its own files (``config.yaml``, ``overrides.yaml``, ``summary.json``), which a resume never rewrites.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from hydra import compose
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from rl_lab import bugs
from rl_lab.run.command_line import composition_error
from rl_lab.run.config import ConfigError, algorithm_name, to_settings
from rl_lab.run.runlog import read_metrics

CLEAN = "none"  # the bug name of the clean agent
# overrides that say which job it is, or how it is run and logged (the numbers are the same),
# rather than the context it runs in
_JOB_KEYS = (
    "algo",
    "bug",
    "env",
    "seed",
    "total_steps",
    "progress",
    "torch_threads",
    "device",
    "resume",
    "log_interval",
    "log_every_update_until",
    "checkpoint_interval",
)


def check_job_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` if a composed job config would be refused by ``rl_lab.train``."""
    job = cfg.copy()
    with open_dict(job):
        job.pop("hydra", None)
    settings = to_settings(job)
    bugs.validate(settings.bug, settings.env.get("name"), settings.algorithm.SEAMS)


def compose_job(config_name: str, overrides: list[str]) -> DictConfig:
    """One job's config, composed as Hydra composes it; Hydra's refusal is one ConfigError line.
    Needs an initialized Hydra (inside a Hydra app or ``initialize_config_dir``)."""
    try:
        return compose(config_name=config_name, overrides=overrides)
    except (ConfigCompositionException, OmegaConfBaseException) as error:
        raise composition_error(error, overrides, compose(config_name=config_name)) from None


def sweep_jobs(task_overrides: list[str]) -> list[list[str]]:
    """The override list of every job a multirun with these command-line overrides launches.
    A ``glob(...)`` sweep over a config group expands to the group's options when Hydra is
    initialized (inside a Hydra app or ``initialize_config_dir``), as Hydra's sweeper expands it."""
    hydra = GlobalHydra.instance()
    loader = hydra.config_loader() if hydra.is_initialized() else None
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(task_overrides)
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


class ValidateSweep(Callback):
    """Compose and range-check every job of a multirun before the first one launches."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        print(
            f"sweep directory: {config.hydra.sweep.dir}  (continue it, finished jobs skipped: "
            f"python -m rl_lab.train -m resume={config.hydra.sweep.dir})"
        )
        for job in sweep_jobs(list(config.hydra.overrides.task)):
            try:
                check_job_config(compose_job(config.hydra.job.config_name, job))
            except ConfigError as error:
                # SystemExit, not an Exception: Hydra turns a callback's exceptions into warnings
                raise SystemExit(f"config error: sweep job [{' '.join(job)}]: {error}; no job was launched") from None


class SweepTable(Callback):
    """At the end of a multirun: one row per job of the sweep directory (its overrides, status,
    final return, first detector events, directory), printed and written to ``sweep_summary.md``
    there, with the number of failed jobs last."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if sweep_dir.is_dir():
            text = sweep_table(sweep_dir)
            (sweep_dir / "sweep_summary.md").write_text(text)
            print(text + f"written: {sweep_dir / 'sweep_summary.md'}")


def sweep_table(sweep_dir: Path) -> str:
    """The markdown table of every job directory in ``sweep_dir``; a job that left no summary is failed."""
    rows, failed = [], 0
    for path in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        summary_file, overrides_file = path / "summary.json", path / "overrides.yaml"
        summary = json.loads(summary_file.read_text()) if summary_file.exists() else {"status": "failed"}
        if not summary_file.exists() and not (path / "error.txt").exists():
            continue  # not a job directory (a report, submitit's logs)
        command_line = OmegaConf.load(overrides_file) if overrides_file.exists() else [path.name]
        overrides = [o for o in command_line if not o.startswith("progress=")]
        events = sorted((step, name) for name, step in summary.get("detectors", {}).items())
        first = ", ".join(f"{name} at {step:,}" for step, name in events[:3]) + (" ..." if len(events) > 3 else "")
        final = summary.get("final_return")
        failed += summary["status"] == "failed"
        rows.append(
            f"| {' '.join(overrides)} | {summary['status']} | {summary.get('steps', 0):,} | "
            f"{'-' if final is None or final != final else f'{final:.2f}'} | {first or '-'} | {path.name} |"
        )
    header = "| overrides | status | steps | final return | first events | run directory |\n|---|---|---|---|---|---|\n"
    return header + "".join(row + "\n" for row in rows) + f"\n{len(rows)} jobs in {sweep_dir}, {failed} failed\n"


# --- reading a sweep back -------------------------------------------------------------------------


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
    algorithm: str = "a2c"  # the algo= option it trained

    @property
    def default_dose(self) -> bool:
        return self.bug == CLEAN or self.dose == float(bugs.registry()[self.bug].DOSE)

    @property
    def total_steps(self) -> int:
        return int(self.summary["total_steps"])

    @cached_property
    def metrics(self) -> list[dict[str, float]]:
        return read_metrics(self.path)

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Steps and values of one metric (points without it are skipped)."""
        points = [(p["step"], p[key]) for p in self.metrics if key in p]
        if not points:
            return np.zeros(0), np.zeros(0)
        steps, values = zip(*points, strict=True)
        return np.asarray(steps, float), np.asarray(values, float)


def _is_context(override: str) -> bool:
    """An override a run needed beyond its job keys: ``env.max_episode_steps=100`` is one, ``env=cartpole``
    and ``bug.NAME.dose=2`` (the bug's dose) are not."""
    key = override.split("=", 1)[0].lstrip("+~")
    return key.startswith("env.") or key.split(".")[0] not in _JOB_KEYS


def read_job(path: Path) -> Job | None:
    """A run of ``rl_lab.train`` read from its own files; None for a directory that holds none."""
    config_file, overrides_file, summary_file = (path / n for n in ("config.yaml", "overrides.yaml", "summary.json"))
    if not (config_file.exists() and overrides_file.exists() and summary_file.exists()):
        return None
    config = OmegaConf.load(config_file)
    bug_config = OmegaConf.to_container(config.bug) if "bug" in config else None
    if "name" not in config.get("env", {}) or not isinstance(bug_config, dict):
        return None  # not a run of this version of rl_lab.train
    name = next(iter(bug_config), CLEAN)
    dose = float(bug_config[name]["dose"]) if bug_config else 0.0
    if name != CLEAN and dose == 0.0:
        name = CLEAN  # dose 0 is the clean agent
    overrides = list(OmegaConf.load(overrides_file))
    context = tuple(sorted(o for o in overrides if _is_context(o)))
    summary = json.loads(summary_file.read_text())
    return Job(path, config.env.name, name, dose, int(config.seed), context, summary, algorithm_name(config))


def load_sweep(sweep_dir: Path) -> list[Job]:
    """Every run directory of a sweep, in a stable order."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"sweep directory {str(sweep_dir)!r} does not exist")
    jobs = [job for path in sorted(sweep_dir.iterdir()) if path.is_dir() and (job := read_job(path))]
    if not jobs:
        raise FileNotFoundError(f"no runs (directories with config.yaml and summary.json) in {sweep_dir}")
    return jobs


def rescore(run_dir: Path) -> list[str]:
    """Bring a finished run's recorded detector firings up to today's panel, without training: its
    log points replayed through the detectors its own overrides compose today. A detector reads
    nothing but the logged scalars (:func:`rl_lab.instruments.detectors.replay`), so this is what
    the run would record if trained again; a run that a divergence detector of today's panel
    would have stopped keeps its length. Both records are brought up to date: every event
    (``events.jsonl``, which the detection report reads) and each detector's first firing (the
    summary's, which ``check`` and the signatures read). Returns the detectors whose first firing
    changed (the summary notes them); nothing is written where a record already agrees."""
    from rl_lab.instruments.detectors import replay
    from rl_lab.run.runlog import read_events, write_json_atomic, write_jsonl_atomic
    from rl_lab.run.training import FINAL_STATUSES, build_detectors, compose_settings

    summary = json.loads((run_dir / "summary.json").read_text())
    if summary["status"] not in FINAL_STATUSES:
        return []  # a failed or interrupted run is trained again by the next sweep
    settings = compose_settings([str(o) for o in OmegaConf.load(run_dir / "overrides.yaml")])
    bank = build_detectors(settings.diagnostics)
    events = [event.to_dict() for event in replay(read_metrics(run_dir), bank)]
    if json.loads(json.dumps(events)) != read_events(run_dir):  # compared as they read back
        write_jsonl_atomic(run_dir / "events.jsonl", events)
    firings: dict[str, int] = {}
    for event in events:
        firings.setdefault(event["detector"], event["step"])
    recorded = summary["detectors"]
    changed = sorted(n for n in firings.keys() | recorded.keys() if firings.get(n) != recorded.get(n))
    if changed:
        summary["detectors"] = firings
        summary["notes"] = [*summary["notes"], f"detectors replayed with a later panel: changed {', '.join(changed)}"]
        write_json_atomic(run_dir / "summary.json", summary)
    return changed
