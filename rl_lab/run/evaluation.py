"""Evaluate a run's last checkpoint: whole episodes, stochastic and deterministic policy
(the command: ``python -m rl_lab.evaluate``).

The *stochastic* policy samples its actions, as rl-baselines3-zoo's benchmark
evaluates A2C; the *deterministic* one takes the most probable action. Each mode
plays ``episodes`` environments in parallel and counts the first episode of each
(counting every finished episode would favour short ones). The agent is built as
it trained, its bugs included (a bug at ``preprocess`` changes what it sees).
Results are printed and written to ``<run>/eval.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from rl_lab.envs import make_envs
from rl_lab.run.checkpoint import load_checkpoint
from rl_lab.run.config import to_settings
from rl_lab.run.runlog import write_json_atomic
from rl_lab.run.training import build_agent

MODES = ("stochastic", "deterministic")


def evaluate(run_dir: Path, episodes: int = 16, seed: int = 10_000) -> dict[str, Any]:
    """Mean, std and all returns of ``episodes`` episodes per mode, from the run's last checkpoint."""
    settings = to_settings(OmegaConf.load(run_dir / "config.yaml"))
    checkpoint = load_checkpoint(run_dir)
    result: dict[str, Any] = {"step": checkpoint["step"], "episodes": episodes, "seed": seed}
    for mode in MODES:
        envs = make_envs(settings.env, episodes)
        agent = build_agent(settings, envs, seed)  # as it trained: its bugs' seams included
        model, seams, obs = agent.model, agent.seams, agent.obs
        model.load_state_dict(checkpoint["model"])
        seams.acting_mode(model)
        returns = np.zeros(episodes)
        done = np.zeros(episodes, dtype=bool)
        with torch.no_grad():
            while not done.all():
                logits, _ = model(seams.preprocess(obs).to(agent.device))
                if mode == "deterministic":
                    actions = logits.argmax(-1)
                else:
                    actions = torch.distributions.Categorical(logits=logits).sample()
                obs, reward, terminated, truncated, _ = envs.step(actions.cpu().numpy())
                returns += np.where(done, 0.0, reward)
                done |= np.logical_or(terminated, truncated)
        envs.close()
        result[mode] = {"mean": float(returns.mean()), "std": float(returns.std()), "returns": returns.tolist()}
    write_json_atomic(run_dir / "eval.json", result)
    return result
