"""The bug zoo: one module per real-world deep-RL mistake, each patching one seam of the
clean loop (:mod:`rl_lab.agent.seams`), and the registry that finds them.

    python -m rl_lab.bugs list          # one line per bug: name, seam, default dose, symptom
    python -m rl_lab.bugs show NAME     # the bug's card: its whole docstring

This folder is the package ``rl_lab.bugs`` (``pyproject.toml`` maps it), so it ships inside
rl-lab and nothing named ``bugs`` is installed at the top level. Adding a bug is adding a file.

A bug is one module (a file here, or ``<dir>/<name>.py`` for any directory in the
``RL_LAB_BUG_PATH`` environment variable, ``os.pathsep``-separated) with:

``SEAM``     the seams record's field it changes (a tuple when one mistake reaches two fields,
           e.g. a distribution's log-prob and entropy): a field of
           :class:`~rl_lab.agent.seams.SharedSeams` (both algorithms), of ``A2CSeams`` or of ``PPOSeams``;
           ``wrap_env`` is the environment's seam: an env-side bug wraps the vector env the agent
           steps (a gymnasium ``VectorWrapper``; ``bugs/_env_faults.py`` has the helpers), so the
           agent, and every data-path check, sees what the faulty env returns
``DOSE``     the default dose (a number; its meaning is the module's to document)
``DOSE_RANGE`` optional ``(low, high)``, inclusive; a dose outside it is a config error
``SYMPTOM``  one line: what should show, in which diagnostics
``inject(seams, dose) -> Seams``  the seams with that one field wrapped or replaced; a
           ``ValueError`` it raises for a dose (say, not a whole number) is a config error
``ZOO``      optional, default True; False for a module that is not a bug of its own
           (``mystery`` plants one of the others): left out of the zoo's listings and atlases
``CONTEXT``  optional ``{override: value}``: what a run needs for the bug to matter at all
           (e.g. dropout for a train/eval-mode bug); the atlas runs the bug and its clean
           control with it
``ENVS``     optional: the env config names the bug applies to (default all), e.g. a frame-stack
           bug on Pong only; a run of it on another env is a config error, and the atlas
           runs it only on these
``ALGOS``    optional: the algorithms (``algo=`` options) the bug applies to; default every
           algorithm whose seams record has its ``SEAM``, so a bug at a shared seam runs on A2C and
           PPO alike; a run of it with another algorithm is a config error
``EXACT_WHILE`` optional: the condition under which the bugged seam still computes the clean
           numbers (so no exact check can see it), e.g. "no episode ends in the logged
           rollout"; the atlas report quotes it for a bug its seam's check did not catch at
           the first log point
a docstring: its real-world story, the seam, the dose and the symptoms

A bug that keeps state between calls (a frame history, a random generator) makes its seam
function an object with ``state_dict()`` and ``load_state_dict()``; the checkpoint saves it
(:func:`rl_lab.agent.seams.seam_states`), so a resumed run continues as if never stopped.

Every bug becomes a Hydra option of the ``bug`` group, so ``bug=sign_flip``,
``bug=[off_by_one_frames,shuffled_labels]`` and ``bug.off_by_one_frames.dose=2``
work with no YAML file; an unknown name is Hydra's error listing the known ones.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from hydra.core.config_store import ConfigStore

from rl_lab.agent.seams import SEAM_RECORDS, A2CSeams, SharedSeams
from rl_lab.run.command_line import did_you_mean
from rl_lab.run.config import ConfigError

BUILTIN_DIR = Path(__file__).parent
REQUIRED = ("SEAM", "DOSE", "SYMPTOM", "inject")
_REGISTRY: dict[str, ModuleType] = {}


def _load_file(path: Path) -> ModuleType:
    if path.parent == BUILTIN_DIR:
        return importlib.import_module(f"{__name__}.{path.stem}")
    name = f"rl_lab_user_bugs.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load(extra_dirs: list[str | Path] = ()) -> dict[str, ModuleType]:
    """Discover the built-in bugs and those in ``extra_dirs`` (and ``RL_LAB_BUG_PATH``); register them."""
    env_dirs = [d for d in os.environ.get("RL_LAB_BUG_PATH", "").split(os.pathsep) if d]
    for directory in [BUILTIN_DIR, *map(Path, env_dirs), *map(Path, extra_dirs)]:
        if not directory.is_dir():
            raise FileNotFoundError(f"bug directory {str(directory)!r} does not exist")
        for path in sorted(directory.glob("*.py")):
            if path.stem.startswith("_") or path.stem in _REGISTRY:
                continue
            module = _load_file(path)
            missing = [attr for attr in REQUIRED if not hasattr(module, attr)]
            if missing or not module.__doc__:
                raise TypeError(f"bug module {path} lacks {', '.join(missing) or 'a docstring'}")
            if not any(set(seams_of(module)) <= _fields(record) for record in SEAM_RECORDS):
                names = ", ".join(record.__name__ for record in SEAM_RECORDS)
                raise TypeError(f"bug module {path}: SEAM={module.SEAM!r} names no field of {names}")
            _REGISTRY[path.stem] = module
    store = ConfigStore.instance()
    store.store(group="bug", name="none", node={})
    for name, module in _REGISTRY.items():
        store.store(group="bug", name=name, node={name: {"dose": float(module.DOSE)}})
    return _REGISTRY


def _fields(record: type[SharedSeams]) -> set[str]:
    return {f.name for f in dataclasses.fields(record)}


def algorithms_of(module: ModuleType) -> tuple[str, ...]:
    """The algorithms a bug applies to: its ``ALGOS``, or every one whose seams record has its ``SEAM``."""
    declared = getattr(module, "ALGOS", None)
    if declared is not None:
        return tuple(declared)
    return tuple(r.ALGORITHM for r in SEAM_RECORDS if set(seams_of(module)) <= _fields(r))


def zoo(algorithm: str = "a2c") -> list[str]:
    """The zoo's bug names for one algorithm (default A2C's: the atlases, probes and diagnoser are
    A2C's); a module with ``ZOO = False`` (``mystery``, which plants one of them) is left out."""
    return sorted(
        name
        for name, module in registry().items()
        if getattr(module, "ZOO", True) and algorithm in algorithms_of(module)
    )


def context_of(module: ModuleType) -> dict[str, Any]:
    """The overrides a run needs for this bug to matter (``CONTEXT``), usually none."""
    return dict(getattr(module, "CONTEXT", {}))


def seams_of(module: ModuleType) -> tuple[str, ...]:
    return (module.SEAM,) if isinstance(module.SEAM, str) else tuple(module.SEAM)


def registry() -> dict[str, ModuleType]:
    return _REGISTRY or load()


def envs_of(module: ModuleType) -> tuple[str, ...] | None:
    """The env config names a bug applies to (``ENVS``), or None for every env."""
    envs = getattr(module, "ENVS", None)
    return None if envs is None else tuple(envs)


def applies_to(module: ModuleType, env: str) -> bool:
    """True when the bug applies to the env config named ``env`` (no ``ENVS``: every env)."""
    envs = envs_of(module)
    return envs is None or env in envs


def validate(
    bug_config: dict[str, Any], env: str | None = None, seams: type[SharedSeams] = A2CSeams
) -> dict[str, float]:
    """``{name: dose}`` for a ``bug`` config (run on the env config named ``env``, if given, with the
    algorithm whose seams record is ``seams``); raises ConfigError naming a bad name, dose, env or algorithm."""
    known = registry()
    doses = {}
    for name, params in (bug_config or {}).items():
        if name not in known:
            choices = ", ".join(sorted(known))
            raise ConfigError(f"bug={name!r} is invalid: valid choices are none, {choices}{did_you_mean(name, known)}")
        if env is not None and not applies_to(known[name], env):
            envs = ", ".join(envs_of(known[name]))
            raise ConfigError(f"bug={name} is invalid with env={env}: it applies to env {envs} only")
        if seams.ALGORITHM not in algorithms_of(known[name]):
            algos = ", ".join(algorithms_of(known[name]))
            raise ConfigError(
                f"bug={name} is invalid with algo={seams.ALGORITHM}: it applies to algo {algos} only "
                f"(its seam {', '.join(seams_of(known[name]))} is not {seams.__name__}'s)"
            )
        unknown = set(params or {}) - {"dose"}
        if unknown:
            raise ConfigError(f"bug.{name}.{sorted(unknown)[0]} is invalid: a bug takes only a dose")
        dose = (params or {}).get("dose", known[name].DOSE)
        if not isinstance(dose, int | float) or isinstance(dose, bool) or not math.isfinite(dose):
            raise ConfigError(f"bug.{name}.dose={dose!r} is invalid: must be a finite number")
        low, high = getattr(known[name], "DOSE_RANGE", (-math.inf, math.inf))
        if not low <= dose <= high:
            raise ConfigError(f"bug.{name}.dose={dose!r} is invalid: must lie in [{low:g}, {high:g}]")
        try:  # the bug's own checks of its dose (say, a whole number of steps), before any work
            known[name].inject(seams(), float(dose))
        except ValueError as error:
            raise ConfigError(f"bug.{name}.dose={dose!r} is invalid: {error}") from None
        doses[name] = float(dose)
    return doses


def inject(seams: SharedSeams, bug_config: dict[str, Any]) -> SharedSeams:
    """Apply every configured bug (``{name: {"dose": d}}``); an empty config returns ``seams`` untouched."""
    known = registry()
    for name, dose in validate(bug_config, seams=type(seams)).items():
        seams = known[name].inject(seams, dose)
    return seams
