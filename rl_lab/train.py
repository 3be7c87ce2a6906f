"""Train the A2C agent: a Hydra app, every field of conf/ can be overridden (python -m rl_lab.train --help).

python -m rl_lab.train                                 # CartPole, the zoo's 500k steps (README: how long)
python -m rl_lab.train env=pong seed=3 agent.lr=3e-4   # Pong on ale-py's C++ vector env
python -m rl_lab.train resume=runs/cartpole/...        # continue a run from its last checkpoint
python -m rl_lab.train -m seed=0,1,2                   # a sweep (Hydra multirun; rl_lab/lab/sweep.py)
python -m rl_lab.train -m resume=multirun/...          # continue a sweep: finished jobs skipped
"""

from __future__ import annotations

import math
import os
import signal
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from rl_lab.run.checkpoint import checkpoint_path
from rl_lab.run.command_line import check_command_line, continued_sweep
from rl_lab.run.config import CONFIG_DIR, ConfigError
from rl_lab.run.training import FINAL_STATUSES, prepare_run, previous_summary, train


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # the loop ends as "interrupted", with its checkpoint and summary written


def config_error(error: ConfigError, run_dir: Path) -> SystemExit:
    """The one-line error; the run directory Hydra made for a run that never starts is removed."""
    try:
        os.removedirs(run_dir)  # only empty directories, and their empty parents
    except OSError:
        pass  # not empty: an existing run (a resume) keeps everything
    return SystemExit(f"config error: {error}")


def check_or_exit(config_name: str) -> None:
    """Hydra's refusals of this command line as one line, before Hydra starts (rl_lab/run/command_line.py);
    ``-m resume=SWEEP_DIR`` becomes the command line that started that sweep, sent to its directory."""
    try:
        sys.argv[1:] = continued_sweep(sys.argv[1:])
        check_command_line(config_name, sys.argv[1:])
    except ConfigError as error:
        raise SystemExit(f"config error: {error}") from None


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> float:
    # SIGTERM (a cluster's scheduler, kill) stops a run as Ctrl-C does; SIGINT is restored where a
    # shell started the run in the background with it ignored
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    hydra_config = HydraConfig.get()
    run_dir = Path(hydra_config.runtime.output_dir)
    in_sweep = hydra_config.mode == RunMode.MULTIRUN
    if in_sweep:  # re-running a sweep: finished jobs are skipped, interrupted ones continue
        previous = previous_summary(run_dir)
        if previous and previous["status"] in FINAL_STATUSES:
            print(f"{run_dir}: already {previous['status']}, skipped")
            return previous["final_return"]
        if checkpoint_path(run_dir).exists() and not cfg.resume:
            cfg.resume = str(run_dir)
    try:
        settings = prepare_run(cfg, run_dir, list(hydra_config.overrides.task))
    except ConfigError as error:
        raise config_error(error, run_dir) from None
    print(f"run directory: {run_dir}")
    print(f"logs: tensorboard --logdir {run_dir / 'tb'}   (or: python -m rl_lab.look {run_dir})")
    try:
        result = train(settings, run_dir)
    except Exception:
        if not in_sweep:
            raise
        # one failed job must not end the sweep: its summary says "failed", the traceback is kept
        (run_dir / "error.txt").write_text(traceback.format_exc())
        print(f"{run_dir}: failed, traceback in {run_dir / 'error.txt'}", file=sys.stderr)
        return math.nan
    returns = (
        f"final return (last 100 episodes) {result['final_return']:.2f}, best {result['best_return']:.2f}"
        if result["episodes"]
        else "no episode has ended yet, so no return (train longer: an episode must end first)"
    )
    print(f"{result['status']}: {result['steps']} steps in {result['wall_time_s']:.0f} s, {returns}")
    if in_sweep and result["status"] == "interrupted":  # a stop request stops the sweep, not only this job
        raise SystemExit(f"{run_dir}: interrupted; the sweep stops here (run it again to continue)")
    if result["detectors"]:
        fired = ", ".join(f"{name} at step {first}" for name, first in result["detectors"].items())
        print(f"detectors fired: {fired}; events in {run_dir / 'events.jsonl'}")
    print(f"summary: {run_dir / 'summary.json'}")
    return result["final_return"]


if __name__ == "__main__":
    check_or_exit("config")
    main()
