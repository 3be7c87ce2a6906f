"""Evaluate a trained agent: whole episodes, stochastic and deterministic policy; optionally a GIF.

usage: python -m rl_lab.evaluate run=RUN_DIR [episodes=16] [seed=10000] [out=PATH] [gif=PATH] [gif_steps=600]

    python -m rl_lab.evaluate runs/pong/<run>                     # 16 episodes in each mode
    python -m rl_lab.evaluate results/known_result/pong/agent episodes=64 out=runs/pong.json   # the committed agent
    python -m rl_lab.evaluate run=runs/catch/<run> episodes=0 gif=catch.gif   # only watch it play

settings:
    run        a run directory (config.yaml and checkpoints/last.pt) or an exported agent
               (config.yaml and weights.pt); may be given bare
    episodes   episodes per mode, played in parallel; the first episode of each env counts
               (0: no evaluation)
    seed       the evaluation environments' seed
    out        where to write the results (default: <run>/eval.json, refused when that file is a
               committed result, as the committed Pong agent's is)
    gif        also write an animated GIF of the agent playing (image envs: Catch, Pong)
    gif_steps  agent steps in the GIF (15 per second)

The stochastic policy samples its actions, as rl-baselines3-zoo's benchmark evaluates A2C;
the deterministic one takes the most probable action. Results are printed and written to
out (default <run>/eval.json).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from rl_lab.cli import fail, parse
from rl_lab.run.checkpoint import has_weights
from rl_lab.run.config import ConfigError
from rl_lab.run.outputs import refuse_committed


@dataclass
class EvaluateSettings:
    run: str = MISSING
    episodes: int = 16
    seed: int = 10_000
    out: str | None = None
    gif: str | None = None
    gif_steps: int = 600

    def __post_init__(self) -> None:
        if self.episodes < 0:
            raise ConfigError(f"episodes={self.episodes!r} is invalid: must be an integer >= 0")
        if self.gif_steps < 1:
            raise ConfigError(f"gif_steps={self.gif_steps!r} is invalid: must be an integer >= 1")
        if self.episodes == 0 and self.gif is None:
            raise ConfigError("episodes=0 is invalid without gif=PATH: there would be nothing to do")
        if not (Path(self.run) / "config.yaml").exists():
            raise ConfigError(f"run={self.run!r} is invalid: not a run directory (no config.yaml in it)")
        if not has_weights(self.run):
            raise ConfigError(f"run={self.run!r} is invalid: it has no checkpoints/last.pt and no weights.pt")
        if self.out is None and self.episodes:
            refuse_committed(Path(self.run) / "eval.json", "out")


def main(argv: list[str] | None = None) -> int:
    args = parse(EvaluateSettings, sys.argv[1:] if argv is None else argv, __doc__, "rl_lab.evaluate", ("run",))
    from rl_lab.run.evaluation import MODES, evaluate, record

    try:
        if args.gif is not None:
            clip = record(Path(args.run), Path(args.gif), args.gif_steps, args.seed)
            print(f"written: {clip['path']} ({clip['steps']} agent steps of the agent at step {clip['step']:,})")
        if args.episodes:
            out = Path(args.out) if args.out else Path(args.run) / "eval.json"
            result = evaluate(Path(args.run), args.episodes, args.seed, out)
            for mode in MODES:
                r = result[mode]
                spread = f"{r['mean']:8.2f} +- {r['std']:.2f}"
                print(f"{mode:13s} {spread} over {args.episodes} episodes (step {result['step']})")
            print(f"written: {out}")
    except ConfigError as error:
        fail("rl_lab.evaluate", str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
