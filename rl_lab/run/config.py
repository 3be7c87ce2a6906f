"""Typed configuration: the schema Hydra validates a composed config against.

The YAML files in ``conf/`` hold the values; the dataclasses here hold the
types and the ranges. Hydra checks types and unknown keys while it composes
(``agent.lrr=1`` or ``agent.lr=abc`` fail there); :func:`to_settings` checks
ranges before any environment or model is built, and every error names the
field, the bad value and what is allowed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hydra.core.config_store import ConfigStore
from hydra.utils import get_class
from omegaconf import MISSING, DictConfig, OmegaConf

from rl_lab.agent.models import CONV_DTYPES
from rl_lab.agent.seams import SCHEDULES

# conf/ ships inside the package as rl_lab.conf (pyproject.toml), so an installed rl-lab finds it too
CONFIG_DIR = Path(importlib.import_module("rl_lab.conf").__file__).parent


LAGGED_LOOP = "rl_lab.agent.loops.LaggedLoop"  # conf/loop/lagged.yaml's target: checked before any work


class ConfigError(ValueError):
    """A configuration value is out of its valid range, or a setting names something that is not there."""


def _require(condition: bool, name: str, value: Any, rule: str) -> None:
    if not condition:
        raise ConfigError(f"{name}={value!r} is invalid: {rule}")


@dataclass
class AgentConfig:
    """The hyperparameters every actor-critic agent here has: A2C's whole set (names and defaults
    as in stable-baselines3's A2C). PPO's add to them (:class:`PPOConfig`)."""

    n_envs: int = 8  # parallel environments; one rollout holds n_envs * n_steps transitions
    n_steps: int = 5  # environment steps per environment between two updates
    gamma: float = 0.99  # discount factor
    gae_lambda: float = 1.0  # 1.0 gives plain n-step returns, as A2C
    ent_coef: float = 0.0  # weight of the entropy bonus in the loss
    vf_coef: float = 0.5  # weight of the value loss in the loss
    max_grad_norm: float = 0.5  # global gradient-norm clip
    lr: float = 7e-4  # learning rate (PPO: its initial value, see lr_schedule)
    n_timesteps: int = 500_000  # the zoo's training budget for this env; the default of total_steps
    model: Any = MISSING  # `_target_` config of the actor-critic network
    optimizer: Any = MISSING  # `_target_` config of a partial optimizer (lr is passed in)

    def __post_init__(self) -> None:
        _require(self.n_envs >= 1, "agent.n_envs", self.n_envs, "must be an integer >= 1")
        _require(self.n_steps >= 1, "agent.n_steps", self.n_steps, "must be an integer >= 1")
        _require(0.0 <= self.gamma <= 1.0, "agent.gamma", self.gamma, "must lie in [0, 1]")
        _require(0.0 <= self.gae_lambda <= 1.0, "agent.gae_lambda", self.gae_lambda, "must lie in [0, 1]")
        _require(self.ent_coef >= 0.0, "agent.ent_coef", self.ent_coef, "must be >= 0")
        _require(self.vf_coef >= 0.0, "agent.vf_coef", self.vf_coef, "must be >= 0")
        _require(self.max_grad_norm > 0.0, "agent.max_grad_norm", self.max_grad_norm, "must be > 0")
        _require(self.lr > 0.0, "agent.lr", self.lr, "must be > 0 (bug=bad_learning_rate injects 0 on purpose)")
        _require(
            self.conv_dtype in CONV_DTYPES,
            "agent.model.conv_dtype",
            self.conv_dtype,
            f"valid choices are {', '.join(CONV_DTYPES)}",
        )

    @property
    def conv_dtype(self) -> str:
        """The image model's convolution dtype (float32 for a model without the setting)."""
        return self.model.get("conv_dtype", "float32") if isinstance(self.model, dict) else "float32"


@dataclass
class PPOConfig(AgentConfig):
    """PPO's hyperparameters (names and defaults as in stable-baselines3's PPO); conf/agent/ppo_<env>.yaml
    names this schema in its defaults list, so ``agent.n_epochs=4`` is checked as A2C's keys are."""

    gae_lambda: float = 0.95
    lr: float = 3e-4
    n_epochs: int = 10  # passes over the rollout per update
    batch_size: int = 64  # minibatch size; the rollout holds n_envs * n_steps samples
    clip_range: float = 0.2  # the surrogate's clip (its initial value, see clip_range_schedule)
    clip_range_vf: float | None = None  # clip of the value prediction around the acting critic's; null: none
    normalize_advantage: bool = True  # per minibatch
    lr_schedule: str = "constant"  # constant, or linear to 0 over the run (the zoo's lin_X)
    clip_range_schedule: str = "constant"

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.n_epochs >= 1, "agent.n_epochs", self.n_epochs, "must be an integer >= 1")
        _require(
            1 <= self.batch_size <= self.n_envs * self.n_steps,
            "agent.batch_size",
            self.batch_size,
            f"must lie in [1, n_envs * n_steps = {self.n_envs * self.n_steps}]",
        )
        _require(self.clip_range > 0.0, "agent.clip_range", self.clip_range, "must be > 0")
        _require(
            self.clip_range_vf is None or self.clip_range_vf > 0.0,
            "agent.clip_range_vf",
            self.clip_range_vf,
            "must be > 0, or null for no clipping",
        )
        for name in ("lr_schedule", "clip_range_schedule"):
            value = getattr(self, name)
            _require(value in SCHEDULES, f"agent.{name}", value, f"valid choices are {', '.join(SCHEDULES)}")


@dataclass
class DiagnosticsConfig:
    """The instrument panel (rl_lab/instruments/diagnostics.py) and the detectors (rl_lab/instruments/detectors.py)."""

    enabled: bool = True  # false: log losses and episode statistics only
    activation_samples: int = 16  # samples per batch whose activations are measured
    kl_samples: int = 16  # observations re-evaluated after the update for the approximate KL
    gradient_check_every: int = 1  # log points between two recomputed gradients (grads/grad_gap); the first always
    histograms: bool = False  # parameter and gradient histograms in TensorBoard (costly)
    on_divergence: str = "continue"  # stop: end the run (status diverged) at the first divergence-class event
    detectors: Any = field(default_factory=dict)  # name -> `_target_` config of a Detector

    def __post_init__(self) -> None:
        _require(
            self.on_divergence in ("stop", "continue"),
            "diagnostics.on_divergence",
            self.on_divergence,
            "valid choices are stop, continue",
        )
        _require(
            self.activation_samples >= 1,
            "diagnostics.activation_samples",
            self.activation_samples,
            "must be an integer >= 1",
        )
        _require(self.kl_samples >= 1, "diagnostics.kl_samples", self.kl_samples, "must be an integer >= 1")
        _require(
            self.gradient_check_every >= 1,
            "diagnostics.gradient_check_every",
            self.gradient_check_every,
            "must be an integer >= 1",
        )


A2C_TARGET = "rl_lab.agent.a2c.A2C"  # the algorithm of a config that names none


@dataclass
class TrainConfig:
    """One training run."""

    env: Any = MISSING  # `_target_` config of the vector-environment factory
    # `_target_` config of the algorithm (conf/algo/); a run saved before algorithms were a choice ran A2C
    algo: Any = field(default_factory=lambda: {"_target_": A2C_TARGET})
    agent: AgentConfig = field(default_factory=AgentConfig)
    bug: Any = field(default_factory=dict)  # {bug name: {dose: d}}, from bug=NAME or bug=[A,B]; {} is clean
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    # `_target_` config of the loop's order (rl_lab.agent.loops); a run saved before loops existed ran serial
    loop: Any = field(default_factory=lambda: {"_target_": "rl_lab.agent.loops.SerialLoop"})
    seed: int = 0
    total_steps: int = 500_000  # agent steps (n_envs transitions count n_envs), not frames
    log_interval: int = 1_000  # agent steps between two log points (diagnostics and detectors run there)
    log_every_update_until: int = 0  # agent steps from the start in which every update is a log point too
    checkpoint_interval: int = 100_000  # agent steps between two checkpoints; a kill loses at most this
    device: str = "cpu"
    torch_threads: int = 0  # 0: leave torch's default
    progress: bool = True  # live status line on the console
    resume: Any = None  # a run directory to continue from its last checkpoint

    def __post_init__(self) -> None:
        _require(self.seed >= 0, "seed", self.seed, "must be an integer >= 0")
        _require(self.total_steps >= 1, "total_steps", self.total_steps, "must be an integer >= 1")
        _require(self.log_interval >= 1, "log_interval", self.log_interval, "must be an integer >= 1")
        _require(
            self.log_every_update_until >= 0,
            "log_every_update_until",
            self.log_every_update_until,
            "must be an integer >= 0",
        )
        _require(
            self.checkpoint_interval >= 1,
            "checkpoint_interval",
            self.checkpoint_interval,
            "must be an integer >= 1",
        )
        _require(self.device in ("cpu", "cuda"), "device", self.device, "valid choices are cpu, cuda")
        _require(
            self.device != "cuda" or torch.cuda.is_available(),
            "device",
            self.device,
            f"this torch ({torch.__version__}) sees no CUDA GPU (a CPU build, or no GPU); valid choices here are cpu",
        )
        _require(self.torch_threads >= 0, "torch_threads", self.torch_threads, "must be >= 0")
        _require(
            isinstance(self.loop, dict) and "_target_" in self.loop,
            "loop",
            self.loop,
            "must be a config with a `_target_` (valid choices: loop=serial, loop=lagged)",
        )
        if self.loop["_target_"] == LAGGED_LOOP:
            for key in ("acting_threads", "update_threads"):
                value = self.loop.get(key, 1)
                _require(isinstance(value, int) and value >= 1, f"loop.{key}", value, "must be an integer >= 1")
            dropout = self.agent.model.get("dropout", 0.0) if isinstance(self.agent.model, dict) else 0.0
            _require(
                not dropout,
                "loop",
                "lagged",
                f"the model has dropout ({dropout}): its update would draw random numbers while the "
                "acting thread samples actions, and the run would not be reproducible; use loop=serial",
            )
            _require(
                not isinstance(self.agent, PPOConfig),
                "loop",
                "lagged",
                "valid with algo=a2c only: PPO's minibatches draw random numbers while the acting thread "
                "samples actions, and the run would not be reproducible; use loop=serial",
            )
        _require(
            isinstance(self.algo, dict) and "_target_" in self.algo,
            "algo",
            self.algo,
            "must be a config with a `_target_` (valid choices: algo=a2c, algo=ppo)",
        )
        _require(
            isinstance(self.env, dict) and "_target_" in self.env,
            "env",
            self.env,
            "must be a config with a `_target_` factory (choose one with env=NAME)",
        )

    @property
    def algorithm(self) -> type:
        """The configured algorithm's agent class (``algo``'s ``_target_``, an ``ActorCriticAgent``)."""
        return get_class(self.algo["_target_"])


def register_schema() -> None:
    """Make the schema available to ``conf/config.yaml``'s defaults list."""
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    store.store(group="agent", name="ppo_schema", node=PPOConfig)


def algorithm_name(cfg: DictConfig) -> str:
    """The ``algo=`` option a config (composed, or saved by a run) trains, as its agent class's seams
    record names it: ``a2c`` for a run saved before algorithms were a choice."""
    return get_class(OmegaConf.select(cfg, "algo._target_", default=A2C_TARGET)).SEAMS.ALGORITHM


def to_settings(cfg: DictConfig) -> TrainConfig:
    """Range-check a composed config, or one a run saved (whose agent settings carry no schema: the
    algorithm's class names it, ``HYPERPARAMETERS``); raises :class:`ConfigError` naming the field."""
    schema = OmegaConf.structured(TrainConfig)
    target = OmegaConf.select(cfg, "algo._target_", default=None)
    if isinstance(target, str):
        schema.agent = OmegaConf.structured(get_class(target).HYPERPARAMETERS)
    settings = OmegaConf.to_object(OmegaConf.merge(schema, cfg))
    assert isinstance(settings, TrainConfig)
    return settings
