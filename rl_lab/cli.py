"""The commands' one idiom: ``key=value`` settings checked against a typed schema.

Every command reads its command line the same way. ``key=value`` words set fields of the
command's dataclass schema; OmegaConf merges them, so types are checked and lists parse as
YAML (``seeds=[10,11,12]``). A command that works on a directory also takes it as a bare
word: ``python -m rl_lab.check multirun/atlas/fast`` is ``sweep=multirun/atlas/fast``. A
bare word may contain ``=`` when it is an existing path (sweep job directories are named
``bug=...,seed=...``). ``-h`` or ``--help`` prints the command's usage and does nothing else.
Every mistake is one line naming the bad word and what is allowed, before any work; the
exit status is then 2.

The training commands (``rl_lab.train``, ``rl_lab.probe``) are Hydra apps with the same
``key=value`` syntax, a help template and the same one-line errors (``rl_lab.run.config``).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rl_lab.run.config import ConfigError

T = TypeVar("T")
HELP_FLAGS = ("-h", "--help")


def fail(command: str, message: str) -> None:
    """Print ``command: error: message`` on stderr and exit with status 2."""
    print(f"{command}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def parse(schema: type[T], argv: list[str], usage: str, command: str, positional: tuple[str, ...] = ()) -> T:
    """The typed settings a command line gives; exits with the usage on ``--help`` and with
    a one-line error on an unknown key, a bad value or a missing required setting.

    ``positional`` names the fields that bare words fill, in order.
    """
    if any(word in HELP_FLAGS for word in argv):
        print(usage.strip())
        raise SystemExit(0)
    names = [f.name for f in dataclasses.fields(schema)]
    settings, bare = [], []
    for word in argv:
        key = word.split("=", 1)[0]
        if "=" in word and key.split(".")[0] in names:
            settings.append(word)
        elif "=" not in word or Path(word).exists():
            bare.append(word)
        else:
            fail(command, f"unknown setting {key!r}: valid settings are {', '.join(names)} (see --help)")
    if len(bare) > len(positional):
        extra = bare[len(positional)]
        fail(command, f"unexpected word {extra!r}: {_positional_text(positional)} (see --help)")
    config = OmegaConf.structured(schema)
    types = {f.name: f.type for f in dataclasses.fields(schema)}
    for word in settings:
        try:
            config = OmegaConf.merge(config, OmegaConf.from_dotlist([word]))
        except OmegaConfBaseException:
            fail(
                command,
                f"{word} is invalid: {word.split('=', 1)[0]} must be a {types[word.split('.')[0].split('=')[0]]}",
            )
    for name, word in zip(positional, bare, strict=False):
        config[name] = word  # a path, taken as it is (no YAML parsing)
    missing = [name for name in names if OmegaConf.is_missing(config, name)]
    if missing:
        fail(command, f"{missing[0]} is required (see --help)")
    try:
        return OmegaConf.to_object(config)  # the schema's __post_init__ range-checks
    except ConfigError as error:
        fail(command, str(error))
    except OmegaConfBaseException as error:
        fail(command, _first_line(error))
    raise AssertionError("unreachable")


def _positional_text(positional: tuple[str, ...]) -> str:
    if not positional:
        return "this command takes key=value settings only"
    return f"this command takes at most {len(positional)} bare word(s): {', '.join(positional)}"


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]
