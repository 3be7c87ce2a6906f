"""One training run: build the configured agent, run the loop with its log, detectors and
checkpoints, and settle a run's config before any work (the command: ``python -m rl_lab.train``).
"""

from __future__ import annotations

import json
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium.vector import VectorEnv
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rl_lab import bugs
from rl_lab.agent.loops import Loop
from rl_lab.agent.rollout import ActorCriticAgent
from rl_lab.agent.seams import load_seam_states, seam_states
from rl_lab.envs import env_state, load_env_state, make_envs
from rl_lab.instruments.detectors import DIVERGENCE, DetectorBank
from rl_lab.instruments.diagnostics import Diagnostics, basic_scalars
from rl_lab.run.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from rl_lab.run.config import (
    CONFIG_DIR,
    AgentConfig,
    ConfigError,
    DiagnosticsConfig,
    TrainConfig,
    register_schema,
    to_settings,
)
from rl_lab.run.hardware import bfloat16_warning
from rl_lab.run.runlog import RunLog, write_json_atomic

register_schema()
bugs.load()  # every bug module becomes an option of the `bug` config group
# A resumed run writes into the directory it resumes; a new one into a fresh directory.
OmegaConf.register_new_resolver("rl_lab.run_dir", lambda resume, fresh: resume if resume else fresh, replace=True)


def compose_config(overrides: list[str]) -> DictConfig:
    """The config ``python -m rl_lab.train OVERRIDES`` would compose (unresolved, unchecked); one
    ConfigError line, naming the valid choices, where Hydra refuses an override."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import OmegaConfBaseException

    from rl_lab.run.command_line import composition_error

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        try:
            return compose("config", overrides=list(overrides))
        except (ConfigCompositionException, OmegaConfBaseException) as error:
            raise composition_error(error, list(overrides), compose("config")) from None


def compose_settings(overrides: list[str]) -> TrainConfig:
    """The range-checked settings ``python -m rl_lab.train OVERRIDES`` would run with (for scripts and tests)."""
    return to_settings(compose_config(overrides))


def _crossed(step: int, steps_per_update: int, interval: int) -> bool:
    """True when the update that ended at ``step`` crossed a multiple of ``interval``."""
    return step // interval > (step - steps_per_update) // interval


def build_agent(settings: TrainConfig, envs: VectorEnv, seed: int, hp: AgentConfig | None = None) -> ActorCriticAgent:
    """The configured agent on ``envs``: the algorithm (``algo``), its network, optimizer, and seams
    with the configured bugs.

    Bugs are injected afresh for every agent: some keep state (a frame history, a random
    generator) that must not leak from one agent into the next.
    """
    hp = hp or settings.agent
    torch.manual_seed(seed)
    algorithm = settings.algorithm
    seams = bugs.inject(algorithm.SEAMS(), settings.bug)
    envs = seams.wrap_env(envs)
    model = seams.build_model(
        instantiate(hp.model, _partial_=True), envs.single_observation_space, envs.single_action_space
    ).to(settings.device)
    optimizer = instantiate(hp.optimizer, _partial_=True)(model.parameters(), lr=hp.lr)
    obs, _ = envs.reset(seed=seed)
    # the class `algo` names, called directly: instantiate() would turn hp into a config and build its `_target_`s
    return algorithm(envs, model, optimizer, hp, seams, obs, settings.device, total_timesteps=settings.total_steps)


def build_detectors(diagnostics: DiagnosticsConfig) -> DetectorBank:
    """The configured detectors (``diagnostics.detectors``: name -> ``_target_`` config), fresh."""
    return DetectorBank({name: instantiate(cfg) for name, cfg in diagnostics.detectors.items()})


def train(settings: TrainConfig, run_dir: Path) -> dict[str, Any]:
    """Run (or continue) one training run in ``run_dir``; returns the summary it wrote."""
    hp, diag_cfg = settings.agent, settings.diagnostics
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    envs = make_envs(settings.env, hp.n_envs)
    agent = build_agent(settings, envs, settings.seed)
    loop: Loop = instantiate(settings.loop, agent=agent)  # before any instrument hooks the network
    model, optimizer = agent.model, agent.optimizer
    diagnostics = (
        Diagnostics(
            model,
            optimizer,
            hp,
            diag_cfg.activation_samples,
            diag_cfg.kl_samples,
            diag_cfg.gradient_check_every,
            lambda: instantiate(hp.model, _partial_=True)(envs.single_observation_space, envs.single_action_space),
            settings.algorithm.SINGLE_GRADIENT_STEP,
        )
        if diag_cfg.enabled
        else None
    )
    if diagnostics is not None:
        agent.seams = diagnostics.observe(agent.seams)  # the checks that watch seams from inside
    detectors = build_detectors(diag_cfg)

    step, n_updates, wall_before = 0, 0, 0.0
    notes: list[str] = []
    if settings.resume:
        ckpt = load_checkpoint(run_dir)
        step, n_updates, wall_before = ckpt["step"], ckpt["n_updates"], ckpt["wall_time_s"]
        agent.num_timesteps = step  # the schedules continue where they were
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"])
        if "cuda_rng" in ckpt:
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        load_seam_states(agent.seams, ckpt.get("seam_states", {}))  # a checkpoint older than seam states holds none
        loop.load_state_dict(ckpt.get("loop", {}))  # a checkpoint older than loops was a serial run's
        detectors.load_state_dict(ckpt["detectors"])
        if diagnostics is not None and "diagnostics" in ckpt:  # a checkpoint older than the watch holds none
            diagnostics.load_state_dict(ckpt["diagnostics"])
        agent.obs = ckpt["obs"].numpy()
        agent.episodes.returns = ckpt["ep_returns"].numpy()
        agent.episodes.lengths = ckpt["ep_lengths"].numpy()
        print(f"resumed {run_dir} at step {step:,} of {settings.total_steps:,} (from {checkpoint_path(run_dir)})")
        if ckpt["env_state"] is not None:
            load_env_state(envs, ckpt["env_state"])
        else:
            agent.obs = agent.envs.reset(seed=settings.seed + step)[0]
            agent.episodes = type(agent.episodes).for_envs(hp.n_envs)
            if diagnostics is not None:
                diagnostics.envs_were_reset(agent.obs)
            notes.append(f"resumed at step {step} with fresh episodes: this environment's state is not saved")

    log = RunLog(run_dir, settings.total_steps, step, settings.progress)
    if settings.resume:
        log.load_state_dict(ckpt["log"])
    steps_per_update = hp.n_envs * hp.n_steps
    started = time.perf_counter()
    last_log_time, last_log_step = started, step

    def summary(status: str) -> dict[str, Any]:
        wall = wall_before + time.perf_counter() - started
        return {
            "status": status,
            "steps": step,
            "updates": n_updates,
            "total_steps": settings.total_steps,
            "wall_time_s": round(wall, 2),
            "episodes": len(log.episode_returns),
            "final_return": log.final_return,
            "best_return": log.best_return if math.isfinite(log.best_return) else math.nan,
            "divergence_step": detectors.divergence_step,
            "detectors": dict(detectors.first_firing),
            "env": settings.env.get("id"),
            "seed": settings.seed,
            "notes": notes,
            "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def checkpoint() -> None:
        cuda_rng = {"cuda_rng": torch.cuda.get_rng_state_all()} if agent.device.type == "cuda" else {}
        save_checkpoint(
            run_dir,
            {
                **cuda_rng,
                "step": step,
                "n_updates": n_updates,
                "wall_time_s": wall_before + time.perf_counter() - started,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "seam_states": seam_states(agent.seams),  # a stateful bug continues where it was
                "loop": loop.state_dict(),  # a lagged loop's acting weights
                "obs": torch.from_numpy(np.asarray(agent.obs).copy()),
                "ep_returns": torch.from_numpy(agent.episodes.returns.copy()),
                "ep_lengths": torch.from_numpy(agent.episodes.lengths.copy()),
                "env_state": env_state(envs),
                "log": log.state_dict(),
                "detectors": detectors.state_dict(),
                **({"diagnostics": diagnostics.state_dict()} if diagnostics is not None else {}),
            },
        )

    status = "failed"
    try:
        while step < settings.total_steps:
            next_step = step + steps_per_update
            log_now = (
                next_step <= settings.log_every_update_until
                or _crossed(next_step, steps_per_update, settings.log_interval)
                or next_step >= settings.total_steps
            )
            if log_now and diagnostics is not None:
                diagnostics.arm()
            # a lagged loop collects the next rollout during this update, unless the state is saved
            # after it (a checkpoint, the end): then it collects it at the next call, the same rollout
            prefetch = next_step + steps_per_update <= settings.total_steps and not _crossed(
                next_step, steps_per_update, settings.checkpoint_interval
            )
            rollout, stats, episodes = loop.iterate(prefetch)
            if diagnostics is not None:
                diagnostics.watch(rollout)  # the data path of every rollout, not only of logged ones
            step, n_updates = next_step, n_updates + 1
            log.add_episodes(episodes)
            log.advance(steps_per_update)
            # a non-finite loss or gradient is looked at the update it happens, not at the next log point
            blew_up = not (torch.isfinite(stats["loss"]) and torch.isfinite(stats["grad_norm"]))
            if log_now or blew_up:
                now = time.perf_counter()
                armed = diagnostics is not None and diagnostics.armed
                scalars = diagnostics.measure(stats, rollout) if armed else basic_scalars(stats)
                if ended := log.take_unlogged():
                    scalars["charts/episode_return"] = float(np.mean([ret for ret, _ in ended]))
                    scalars["charts/episode_length"] = float(np.mean([length for _, length in ended]))
                if log.episode_returns:
                    scalars["charts/return_last100"] = log.final_return
                scalars["charts/episodes"] = len(log.episode_returns)
                scalars["charts/sps"] = (step - last_log_step) / max(now - last_log_time, 1e-9)
                events = detectors.observe(step, scalars)
                log.log(step, scalars, events, model if diag_cfg.histograms else None)
                last_log_time, last_log_step = now, step
                write_json_atomic(run_dir / "summary.json", summary("running"))
                divergence = [e for e in events if e.kind == DIVERGENCE]
                # non-finite numbers leave nothing to continue from; otherwise the config decides
                nonfinite = blew_up or scalars.get("diagnostics/nonfinite_count", 0.0) > 0
                if nonfinite or (divergence and diag_cfg.on_divergence == "stop"):
                    reason = divergence[0].message if divergence else "non-finite loss or gradient"
                    notes.append(f"stopped at step {step}: {reason}")
                    status = "diverged"
                    break
            if _crossed(step, steps_per_update, settings.checkpoint_interval):
                checkpoint()
        else:
            status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        loop.close()  # no rollout in progress while the state is saved
        checkpoint()
        result = summary(status)
        write_json_atomic(run_dir / "summary.json", result)
        log.close()
        envs.close()
    return result


RESUME_MAY_CHANGE = ("resume", "total_steps", "progress")  # what a resume may set: the budget and the display


def prepare_run(cfg: DictConfig, run_dir: Path, overrides: list[str] = ()) -> TrainConfig:
    """Validate a composed config before any work and create the run directory; for a resume,
    the run's saved config with its new budget.

    ``overrides`` are the command line's (Hydra's task overrides). A resume refuses any that
    would change the run: everything but ``total_steps`` and ``progress`` must equal what the
    run was started with. A new run writes ``config.yaml`` (the resolved config) and
    ``overrides.yaml`` (its command line) into ``run_dir``; a resume rewrites neither.
    Raises :class:`ConfigError` naming the bad value.
    """
    if cfg.resume:
        resume_dir = Path(cfg.resume)
        if not (resume_dir / "config.yaml").is_file():
            raise ConfigError(f"resume={cfg.resume!r} is invalid: not a run directory (no config.yaml in it)")
        at_step = load_checkpoint(resume_dir)["step"]  # a missing or unreadable checkpoint is a config error
        saved = OmegaConf.load(resume_dir / "config.yaml")
        for override in overrides:  # as Hydra composed them: a key (or config group), "=", a value
            key = override.split("=", 1)[0].lstrip("+~").replace("/", ".")
            if key in RESUME_MAY_CHANGE:
                continue
            if OmegaConf.select(cfg, key) != OmegaConf.select(saved, key):
                raise ConfigError(
                    f"{override} is invalid with resume: it would change the run "
                    f"({key} was {_shown(OmegaConf.select(saved, key))}); a resume takes only "
                    f"{', '.join(k + '=' for k in RESUME_MAY_CHANGE[1:])}"
                )
        saved.total_steps = (
            cfg.total_steps if any(o.startswith("total_steps=") for o in overrides) else saved.total_steps
        )
        # a sweep continuing its own interrupted job (no resume= on its command line) keeps the job's budget
        if saved.total_steps <= at_step and any(o.startswith("resume=") for o in overrides):
            raise ConfigError(
                f"total_steps={saved.total_steps} is invalid with resume: the run is already at step {at_step:,}; "
                f"give a budget above it, e.g. total_steps={2 * at_step}"
            )
        saved.resume, saved.progress = cfg.resume, cfg.progress
        cfg = saved
    try:
        settings = to_settings(cfg)
    except OmegaConfBaseException as error:
        raise ConfigError(str(error).splitlines()[0]) from None
    bugs.validate(settings.bug, settings.env.get("name"), settings.algorithm.SEAMS)
    if warning := bfloat16_warning(settings.agent.conv_dtype, settings.device):
        print(warning, file=sys.stderr)
    if not cfg.resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
        OmegaConf.save(OmegaConf.create(list(overrides)), run_dir / "overrides.yaml")
    return settings


def _shown(value: Any) -> str:
    return OmegaConf.to_yaml(value).strip().replace("\n", " ") if OmegaConf.is_config(value) else repr(value)


FINAL_STATUSES = ("finished", "diverged")  # a sweep job with one of these is not run again


def previous_summary(run_dir: Path) -> dict[str, Any] | None:
    """The summary a previous attempt of this sweep job left in ``run_dir``, if any."""
    summary = run_dir / "summary.json"
    return json.loads(summary.read_text()) if summary.exists() else None
