"""See Elhage's bug happen: off-by-one frames learn, then go off the rails; the clean agent beside it.

usage: python -m rl_lab.elhage [seeds=5] [total_steps=100000] [env=catch] [dose=1] [out=runs/elhage]

    python -m rl_lab.elhage                                  # Catch, 5 seeds x 2 arms x 100k steps, ~5 min on 2 cores
    python -m rl_lab.elhage seeds=2 total_steps=60000        # a quicker look
    python -m rl_lab.elhage out=results/elhage               # the committed figure (README's opening)

settings:
    seeds        how many seeds (0, 1, ...): each trains the bug and the clean agent
    total_steps  agent steps per run
    env          cartpole or catch (the image game Elhage's bug breaks within 100k steps)
    dose         the lag k, in steps, of the frames the training step sees
    out          where elhage.png and elhage.md are written
    runs         where the runs go (a finished run of the same settings is reused)

Prints, per seed, the bug's peak and final return, the largest gradient and parameter norms,
its divergence step and each detector's first firing; then when a return-only test first
separates bug from clean. Every run is an ordinary run directory: python -m rl_lab.look and
python -m rl_lab.diagnose read it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from rl_lab.cli import parse
from rl_lab.run.config import ConfigError

ENVS = ("cartpole", "catch")


@dataclass
class ElhageSettings:
    seeds: int = 5
    total_steps: int = 100_000
    env: str = "catch"
    dose: int = 1
    out: str = "runs/elhage"
    runs: str = "runs/elhage"

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ConfigError(f"seeds={self.seeds!r} is invalid: must be an integer >= 1")
        if self.total_steps < 1_000:
            raise ConfigError(f"total_steps={self.total_steps!r} is invalid: must be an integer >= 1000")
        if self.env not in ENVS:
            raise ConfigError(f"env={self.env!r} is invalid: valid choices are {', '.join(ENVS)}")
        if self.dose < 1:
            raise ConfigError(f"dose={self.dose!r} is invalid: must be an integer >= 1 (0 is the clean agent)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(ElhageSettings, argv, __doc__, "rl_lab.elhage")
    from rl_lab.lab.elhage import Pair, draw, markdown, run_pairs, story

    pairs = [Pair(args.env, seed, args.total_steps, args.dose) for seed in range(args.seeds)]
    runs, out = Path(args.runs), Path(args.out)
    trained = run_pairs(pairs, runs)
    print(f"{trained} runs trained, {2 * len(pairs) - trained} reused, under {runs}")
    result = story(pairs, runs)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(result, pairs, " ".join(["python -m rl_lab.elhage", *argv]))
    (out / "elhage.md").write_text(text)
    draw(pairs, runs, out / "elhage.png")
    print(text, end="")
    print(f"written: {out / 'elhage.md'}, {out / 'elhage.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
