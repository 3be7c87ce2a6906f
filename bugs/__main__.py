"""The bug zoo: list its bugs, or show one's card.

usage: python -m rl_lab.bugs [list | show NAME]

    python -m rl_lab.bugs list                  # one line per bug: name, seam, default dose, symptom
    python -m rl_lab.bugs show off_by_one_frames   # the bug's card: story, seam, dose, symptoms

settings:
    command   list (default) or show (or the first bare word)
    name      the bug to show (or the second bare word)

Bugs in the directories of the RL_LAB_BUG_PATH environment variable are listed too.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rl_lab.bugs import algorithms_of, registry, seams_of

from rl_lab.cli import fail, parse
from rl_lab.run.command_line import did_you_mean
from rl_lab.run.config import ConfigError


@dataclass
class BugsSettings:
    command: str = "list"
    name: str | None = None

    def __post_init__(self) -> None:
        if self.command not in ("list", "show"):
            raise ConfigError(f"command={self.command!r} is invalid: valid choices are list, show")
        if self.command == "show" and self.name is None:
            raise ConfigError("show needs a bug's name: python -m rl_lab.bugs show NAME")


def main(argv: list[str] | None = None) -> int:
    args = parse(BugsSettings, sys.argv[1:] if argv is None else argv, __doc__, "rl_lab.bugs", ("command", "name"))
    known = registry()
    if args.command == "list":
        width = max(map(len, known))
        for name, module in sorted(known.items(), key=lambda item: (not getattr(item[1], "ZOO", True), item[0])):
            seam, algos = "+".join(seams_of(module)), ",".join(algorithms_of(module))
            print(f"{name:{width}s}  seam={seam:20s} algo={algos:7s} dose={module.DOSE:<8g} {module.SYMPTOM}")
        return 0
    if args.name not in known:
        choices = ", ".join(sorted(known))
        fail(
            "rl_lab.bugs", f"name={args.name!r} is invalid: valid choices are {choices}{did_you_mean(args.name, known)}"
        )
    module = known[args.name]
    algos = ", ".join(algorithms_of(module))
    print(f"{args.name}  (seam: {'+'.join(seams_of(module))}, algo: {algos}, default dose: {module.DOSE:g})\n")
    print(module.__doc__.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
