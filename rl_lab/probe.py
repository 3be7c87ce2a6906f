"""Run every probe and the overfit-one-batch check for the configured agent; print a table.

    python -m rl_lab.probe                        # the clean CartPole agent: every check passes (~20 s)
    python -m rl_lab.probe bug=wrong_gather_dim   # which checks fail, with the measured values
    python -m rl_lab.probe env=pong               # the Pong agent (NatureCNN: image probes only)
    # every CartPole bug, 2 in parallel:
    python -m rl_lab.probe -m 'bug=glob(*,exclude=[mystery,frame_stack_not_reset])' hydra/launcher=joblib

A Hydra app with the settings of ``rl_lab.train`` (``--help``). Results go to ``probes.json``
in the run directory. A single run exits with status 1 when a check fails; in a multirun
every job finishes and the files tell.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from rl_lab.envs import make_envs
from rl_lab.lab.probing import PROBED_ALGORITHM, format_table, overfit_one_batch, run_all
from rl_lab.run.config import CONFIG_DIR, ConfigError, algorithm_name
from rl_lab.run.runlog import write_json_atomic
from rl_lab.run.training import build_agent, prepare_run
from rl_lab.train import check_or_exit, config_error


def run_probes(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    if algorithm_name(cfg) != PROBED_ALGORITHM:
        raise ConfigError(
            f"algo={algorithm_name(cfg)} is invalid for rl_lab.probe: its probes drive A2C's seams; "
            f"valid choices are algo={PROBED_ALGORITHM}"
        )
    settings = prepare_run(cfg, run_dir, list(HydraConfig.get().overrides.task))
    results = run_all(settings, settings.seed)
    envs = make_envs(settings.env, settings.agent.n_envs)
    try:
        overfit = overfit_one_batch(build_agent(settings, envs, settings.seed))
    finally:
        envs.close()
    report = {
        "env": settings.env["name"],
        "bug": settings.bug,
        "passed": all(r.passed for r in results) and overfit.passed,
        "probes": [dataclasses.asdict(r) for r in results],
        "overfit": dataclasses.asdict(overfit),
    }
    write_json_atomic(run_dir / "probes.json", report)
    print(format_table(results, overfit))
    return report


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="probe")
def main(cfg: DictConfig) -> bool:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        report = run_probes(cfg, run_dir)
    except ConfigError as error:
        raise config_error(error, run_dir) from None
    failed = [f"{p['probe']}/{p['variant']}" for p in report["probes"] if not p["passed"]]
    if not report["overfit"]["passed"]:
        failed.append("overfit_one_batch")
    print(
        f"{'all checks passed' if not failed else 'failed: ' + ', '.join(failed)}; details in {run_dir / 'probes.json'}"
    )
    if failed and HydraConfig.get().mode == RunMode.RUN:
        raise SystemExit(1)
    return not failed


if __name__ == "__main__":
    check_or_exit("probe")
    main()
