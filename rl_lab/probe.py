"""Run every probe and the overfit-one-batch check for the configured agent; print a table.

    python -m rl_lab.probe                        # the clean CartPole agent: every probe passes
    python -m rl_lab.probe bug=wrong_gather_dim   # which probes fail, with the measured values
    python -m rl_lab.probe env=pong               # the Pong agent (NatureCNN: image probes only)
    python -m rl_lab.probe -m 'bug=glob(*,exclude=mystery)' hydra/launcher=joblib   # every bug, 2 in parallel

Results go to ``probes.json`` in the run directory. A single run exits with status 1
when a check fails; in a multirun every job finishes and the files tell.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from rl_lab.config import ConfigError
from rl_lab.envs import make_envs
from rl_lab.probes import OverfitResult, ProbeResult, overfit_one_batch, run_all
from rl_lab.runlog import write_json_atomic
from rl_lab.train import CONFIG_DIR, build_agent, prepare_run


def format_table(results: list[ProbeResult], overfit: OverfitResult) -> str:
    lines = [f"{'probe':13s} {'obs':6s} {'check':10s} {'answer':>7s} {'measured':>9s}  {'result':6s} {'updates':>7s}"]
    for r in results:
        for i, (label, target) in enumerate(r.targets.items()):
            measured = r.measured.get(label, float("nan"))
            head = f"{r.probe:13s} {r.variant:6s}" if i == 0 else " " * 20
            tail = f"{'pass' if r.passed else 'FAIL':6s} {r.updates:7d}" if i == 0 else ""
            lines.append(f"{head} {label:10s} {target:7.3f} {measured:9.3f}  {tail}".rstrip())
        if r.error:
            lines.append(f"{'':20s} stopped by {r.error}")
    lines.append(
        f"overfit one batch ({overfit.batch_size} samples): value loss {overfit.value_loss_start:.4g} -> "
        f"{overfit.value_loss_end:.4g}, fixed actions p={overfit.mean_action_prob:.3f} "
        f"(accuracy {overfit.action_accuracy:.2f}) after {overfit.steps} steps: "
        f"{'pass' if overfit.passed else 'FAIL'}" + (f" ({overfit.error})" if overfit.error else "")
    )
    return "\n".join(lines)


def matrix_markdown(reports: dict[str, dict[str, Any]]) -> str:
    """A bug x probe table from ``{bug name: probes.json content}``: which probe localizes which bug.

    A passing cell shows the updates (probes) or optimizer steps (overfit) it took."""
    first = next(iter(reports.values()))
    columns = [f"{p['probe']}/{p['variant']}" for p in first["probes"]] + ["overfit"]
    lines = [
        "| bug | " + " | ".join(columns) + " | failed |",
        "|---|" + "---|" * (len(columns) + 1),
    ]
    uncaught = []
    for bug, report in reports.items():
        checks = [*report["probes"], report["overfit"]]
        failed = [c for c, check in zip(columns, checks, strict=True) if not check["passed"]]
        if bug != "none" and not failed:
            uncaught.append(bug)
        cells = [f"pass {c.get('updates', c.get('steps'))}" if c["passed"] else "**FAIL**" for c in checks]
        lines.append(f"| {bug} | " + " | ".join(cells) + f" | {len(failed)} of {len(columns)} |")
    lines.append("")
    lines.append(f"Bugs no probe catches: {', '.join(uncaught) if uncaught else 'none'}.")
    return "\n".join(lines)


def run_probes(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    settings = prepare_run(cfg, run_dir)
    results = run_all(settings, settings.seed)
    envs = make_envs(settings.env, settings.agent.n_envs)
    try:
        overfit = overfit_one_batch(build_agent(settings, envs, settings.seed))
    finally:
        envs.close()
    report = {
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
        raise SystemExit(f"config error: {error}") from None
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
    main()
