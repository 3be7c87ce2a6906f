"""Hydra's own refusals of a command line, as one line each, before Hydra starts any work.

Hydra reports a mistyped key, an unknown option of a config group or a value of the wrong
type in 5 to 26 lines, and it accepts ``+key=value`` for a key the schema does not have (the
run then ignores it). :func:`check_command_line` composes what Hydra will compose, with
Hydra's own compose API and argument parser, and turns each refusal into a
:class:`~rl_lab.run.config.ConfigError` that names the bad value and what is allowed. A
multirun's sweep values are composed job by job when it starts (:mod:`rl_lab.lab.sweep`),
through :func:`composition_error`.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rl_lab.run.config import CONFIG_DIR, ConfigError

_KEY_QUOTED = re.compile(r"'([^']+)'")


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean X or Y?)`` for the choices close to a mistyped ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def _settings_of(node: object) -> list[str]:
    """A config node's settings a user may set (not Hydra's own, not the `_target_` a group option names)."""
    return sorted(str(k) for k in node.keys() if k not in ("hydra", "_target_")) if isinstance(node, DictConfig) else []


def _other_options_with(parent: str, leaf: str, base: DictConfig | None) -> str:
    """Where ``parent`` is a config group (``agent.model``: conf/agent/model/), the options of it that
    have the setting ``leaf``, against the one this run chose: a setting of another model, say."""
    group = CONFIG_DIR.joinpath(*parent.split(".")) if parent else None
    if group is None or not group.is_dir():
        return ""
    having = sorted(p.stem for p in group.glob("*.yaml") if leaf in OmegaConf.load(p))
    chosen = OmegaConf.select(base, f"hydra.runtime.choices.{parent.replace('.', '/')}") if base is not None else None
    if not having or chosen in having:
        return ""
    this_run = f", and this run's {parent} is {chosen}" if chosen else ""
    return f"; {leaf} is a setting of {' and '.join(f'{parent}={o}' for o in having)}{this_run}"


def composition_error(error: Exception, overrides: list[str], base: DictConfig | None) -> ConfigError:
    """One line for a composition that Hydra refused; ``base`` is the config without the
    overrides (to list the settings a mistyped key could have meant), or None."""
    if isinstance(error, MissingConfigException) and error.options is not None:
        group, option = str(error.missing_cfg_file).rsplit("/", 1)
        given = next((o for o in overrides if o.lstrip("+~").split("=", 1)[0] == group), f"{group}={option}")
        return ConfigError(
            f"{given} is invalid: valid choices are {', '.join(error.options)}{did_you_mean(option, error.options)}"
        )
    message = _first_line(error)
    quoted = _KEY_QUOTED.findall(message)
    if message.startswith("Could not override") and quoted:
        key = quoted[0]
        parent, _, leaf = key.rpartition(".")
        given = next((o for o in overrides if o.split("=", 1)[0] == key), key)
        settings = _settings_of(OmegaConf.select(base, parent) if parent else base) if base is not None else []
        allowed = f"; valid settings{' of ' + parent if parent else ''} are {', '.join(settings)}" if settings else ""
        elsewhere = _other_options_with(parent, leaf, base)
        return ConfigError(f"{given} is invalid: no such setting{did_you_mean(leaf, settings)}{elsewhere}{allowed}")
    if message.startswith("Error merging override") and error.__cause__ is not None:
        given = message.removeprefix("Error merging override").strip()
        return ConfigError(f"{given} is invalid: {_first_line(error.__cause__)}")
    if message.startswith("Could not append to config") and quoted:
        key = quoted[0]
        given = next((o for o in overrides if o.lstrip("+").split("=", 1)[0] == key), key)
        return ConfigError(f"{given} is invalid: {key} is already a setting; set it without '+': {key}=VALUE")
    given = next((o for o in overrides if quoted and o.lstrip("+~") == quoted[0].lstrip("+~")), None)
    if message.startswith("Ambiguous value") and given:
        return ConfigError(f"{given} is invalid: several values make a sweep; add -m (--multirun) to run them all")
    return ConfigError(f"{given or ' '.join(overrides)}: {message}")


def _refuse_unknown_additions(cfg: DictConfig, overrides: list[str]) -> None:
    """``+key=value`` may add only to the free-form parts of the config (an env's factory
    arguments, ``diagnostics.detectors``), not a key a typed schema lacks: that run would
    store the key and ignore it."""
    groups = set(cfg.hydra.runtime.choices)
    for override in OverridesParser.create().parse_overrides(overrides):
        if not (override.is_add() or override.is_force_add()) or override.key_or_group in groups:
            continue
        parent, _, leaf = override.key_or_group.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        schema = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
        if dataclasses.is_dataclass(schema) and leaf not in {f.name for f in dataclasses.fields(schema)}:
            settings = [s for s in _settings_of(node) if s != leaf]
            raise ConfigError(
                f"{override.input_line} is invalid: {schema.__name__} has no setting {leaf!r}"
                f"{did_you_mean(leaf, settings)}; valid settings{' of ' + parent if parent else ''} are "
                f"{', '.join(settings)}"
            )


def check_command_line(config_name: str, argv: list[str]) -> None:
    """Raise ConfigError if Hydra would refuse ``argv`` (or take a ``+key`` the schema lacks).

    A multirun's sweep overrides are left to the sweep's own check of every job; everything
    else on its command line is composed here, as Hydra composes it before the first job.
    """
    args = get_args_parser().parse_args(argv)
    try:
        parsed = OverridesParser.create().parse_overrides(args.overrides)
    except OverrideParseException as error:
        raise ConfigError(f"{' '.join(args.overrides)}: {_first_line(error)}") from None
    overrides = [o.input_line for o in parsed if not (args.multirun and o.is_sweep_override())]
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        try:
            cfg = compose(args.config_name or config_name, overrides=overrides, return_hydra_config=True)
        except (ConfigCompositionException, OmegaConfBaseException) as error:
            try:
                base = compose(args.config_name or config_name, return_hydra_config=True)
            except (ConfigCompositionException, OmegaConfBaseException):
                base = None
            raise composition_error(error, overrides, base) from None
    _refuse_unknown_additions(cfg, overrides)


SWEEP_CONFIG = "multirun.yaml"  # what Hydra saves in a sweep's directory: its config and command line


def continued_sweep(argv: list[str]) -> list[str]:
    """``-m resume=SWEEP_DIR``: the command line that started the sweep in SWEEP_DIR (its
    ``multirun.yaml``), sent to that directory again, so that finished jobs are skipped and
    interrupted ones continue (:func:`rl_lab.train.main`). Hydra overrides given here (another
    launcher) replace the saved ones; ``progress=`` may change; nothing else may, since it would
    change the sweep's jobs. Any other command line is returned as it is."""
    args = get_args_parser().parse_args(argv)
    resume = next((o for o in args.overrides if o.startswith("resume=")), None)
    if not args.multirun or resume is None:
        return argv
    sweep_dir = Path(resume.split("=", 1)[1])
    if not (sweep_dir / SWEEP_CONFIG).is_file():
        raise ConfigError(
            f"{resume} is invalid with -m: not a sweep directory (no {SWEEP_CONFIG} in it); "
            "give the directory a sweep printed at its start, e.g. resume=multirun/<date>_<time>"
        )
    given = [o for o in args.overrides if o != resume]
    changed = [o for o in given if not o.startswith(("hydra.", "hydra/", "progress="))]
    if changed:
        raise ConfigError(
            f"{changed[0]} is invalid with -m {resume}: the sweep continues with the jobs it was started with; "
            "only progress= and hydra settings (a launcher) may be given"
        )
    saved = OmegaConf.load(sweep_dir / SWEEP_CONFIG).hydra.overrides
    keys = {o.split("=", 1)[0] for o in given}
    task = [o for o in saved.task if o.split("=", 1)[0] not in keys]
    hydra_settings = [o for o in saved.hydra if o.split("=", 1)[0] not in keys | {"hydra.sweep.dir"}]
    return ["-m", *task, *hydra_settings, *given, f"hydra.sweep.dir={sweep_dir}"]
