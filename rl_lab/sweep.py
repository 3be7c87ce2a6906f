"""Sweeps: Hydra multirun over bug x seed x dose, with every job checked before any starts.

    python -m rl_lab.train -m 'bug=glob(*,exclude=mystery)' seed=0,1,2 total_steps=100000 hydra/launcher=joblib
    python -m rl_lab.train -m bug=off_by_one_frames bug.off_by_one_frames.dose=0,1,2,3,4 seed=0,1,2

Hydra's sweeper composes every job's config before launching, so an unknown bug
name fails at once. :class:`ValidateSweep` (a Hydra callback, ``conf/config.yaml``)
also range-checks every job's config when the multirun starts (a dose outside the
bug's range, ``agent.lr=-1``), so a mistyped sweep fails before any job runs,
naming the job and the bad value. What a job does once it runs (skip when
finished, resume when interrupted, record a failure and let the sweep go on) is in
:func:`rl_lab.train.main`.
"""

from __future__ import annotations

from typing import Any

from hydra import compose
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict

from rl_lab import bugs
from rl_lab.config import ConfigError, to_settings


def check_job_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` if a composed job config would be refused by ``rl_lab.train``."""
    job = cfg.copy()
    with open_dict(job):
        job.pop("hydra", None)
    bugs.validate(to_settings(job).bug)


def sweep_jobs(task_overrides: list[str]) -> list[list[str]]:
    """The override list of every job a multirun with these command-line overrides launches."""
    parsed = OverridesParser.create().parse_overrides(task_overrides)
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


class ValidateSweep(Callback):
    """Compose and range-check every job of a multirun before the first one launches."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        for job in sweep_jobs(list(config.hydra.overrides.task)):
            try:
                check_job_config(compose(config_name=config.hydra.job.config_name, overrides=job))
            except ConfigError as error:
                # SystemExit, not an Exception: Hydra turns a callback's exceptions into warnings
                raise SystemExit(f"config error in sweep job [{' '.join(job)}]: {error}; no job was launched") from None
