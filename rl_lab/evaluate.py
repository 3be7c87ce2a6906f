"""Evaluate a run's last checkpoint: whole episodes, stochastic and deterministic policy.

usage: python -m rl_lab.evaluate run=RUN_DIR [episodes=16] [seed=10000]

    python -m rl_lab.evaluate runs/pong/<run>                     # 16 episodes in each mode
    python -m rl_lab.evaluate run=runs/cartpole/<run> episodes=32 seed=7

settings:
    run        a run directory (one with config.yaml and checkpoints/last.pt), or the bare word
    episodes   episodes per mode, played in parallel; the first episode of each env counts
    seed       the evaluation environments' seed

The stochastic policy samples its actions, as rl-baselines3-zoo's benchmark evaluates A2C;
the deterministic one takes the most probable action. Results are printed and written to
<run>/eval.json.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from rl_lab.cli import fail, parse
from rl_lab.run.checkpoint import checkpoint_path
from rl_lab.run.config import ConfigError


@dataclass
class EvaluateSettings:
    run: str = MISSING
    episodes: int = 16
    seed: int = 10_000

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ConfigError(f"episodes={self.episodes!r} is invalid: must be an integer >= 1")
        if not (Path(self.run) / "config.yaml").exists():
            raise ConfigError(f"run={self.run!r} is invalid: not a run directory (no config.yaml in it)")
        if not checkpoint_path(self.run).exists():
            raise ConfigError(f"run={self.run!r} is invalid: it has no checkpoint ({checkpoint_path(self.run)})")


def main(argv: list[str] | None = None) -> int:
    args = parse(EvaluateSettings, sys.argv[1:] if argv is None else argv, __doc__, "rl_lab.evaluate", ("run",))
    from rl_lab.run.evaluation import MODES, evaluate

    try:
        result = evaluate(Path(args.run), args.episodes, args.seed)
    except ConfigError as error:
        fail("rl_lab.evaluate", str(error))
    for mode in MODES:
        r = result[mode]
        print(f"{mode:13s} {r['mean']:8.2f} +- {r['std']:.2f} over {args.episodes} episodes (step {result['step']})")
    print(f"written: {Path(args.run) / 'eval.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
