"""Named seed sets (``conf/seeds.yaml``): the seeds that set a number, and those that measure it.

Tier files of the atlas name a set as ``${seeds:NAME}`` (the resolver is registered on import);
scripts call :func:`seed_set`. Sets that set a number (``atlas``, ``atlas_clean``, ``calibration``)
and sets that measure one (``evaluation_bugs``, ``evaluation``, ``mystery``) share no seed.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from rl_lab.run.config import CONFIG_DIR, ConfigError

SEED_SETS: dict[str, list[int]] = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "seeds.yaml"))
FITTING = ("atlas", "atlas_clean", "calibration")
MEASURING = ("evaluation_bugs", "evaluation", "mystery", "holdout")


def seed_set(name: str) -> list[int]:
    if name not in SEED_SETS:
        raise ConfigError(f"seed set {name!r} is invalid: valid choices are {', '.join(SEED_SETS)}")
    return list(SEED_SETS[name])


if not OmegaConf.has_resolver("seeds"):
    OmegaConf.register_new_resolver("seeds", seed_set)
