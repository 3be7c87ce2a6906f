"""Where a command may write: never over a committed result.

A command writes its default outputs beside a run or into a sweep directory. When such a
default would land on a file that git tracks (a committed result, such as the exported Pong
agent's ``eval.json``), the command refuses before any work and names the option that
writes elsewhere; an output the user names explicitly (``out=``) is theirs to choose.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rl_lab.run.config import ConfigError


def is_committed(path: Path) -> bool:
    """True when git tracks ``path`` (or, for a directory, anything under it); False outside a repository."""
    path = Path(path).resolve()
    directory = path if path.is_dir() else path.parent
    while not directory.exists():
        directory = directory.parent
    if shutil.which("git") is None:
        return False
    listed = subprocess.run(
        ["git", "-C", str(directory), "ls-files", "--", str(path)], capture_output=True, text=True, check=False
    )
    return listed.returncode == 0 and bool(listed.stdout.strip())


def refuse_committed(path: Path, option: str) -> None:
    """Raise ConfigError when a default output ``path`` would overwrite a committed result."""
    if is_committed(path):
        raise ConfigError(f"{path} is a committed result and would be overwritten: write elsewhere with {option}=PATH")
