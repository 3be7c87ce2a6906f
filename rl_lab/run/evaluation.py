"""Evaluate a trained agent: whole episodes, stochastic and deterministic policy, and a clip of
it playing (the command: ``python -m rl_lab.evaluate``).

The *stochastic* policy samples its actions, as rl-baselines3-zoo's benchmark
evaluates A2C; the *deterministic* one takes the most probable action. Each mode
plays ``episodes`` environments in parallel and counts the first episode of each
(counting every finished episode would favour short ones). The agent is built as
it trained, its bugs included (a bug at ``preprocess`` changes what it sees).
Results are written to ``<run>/eval.json`` or where the caller says. The agent is a run directory
(its last checkpoint) or an exported agent (``config.yaml`` and ``weights.pt``, see
:func:`rl_lab.run.checkpoint.export_weights`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium.vector import VectorEnv
from omegaconf import OmegaConf

from rl_lab.agent.a2c import A2C
from rl_lab.envs import make_envs
from rl_lab.run.checkpoint import load_weights
from rl_lab.run.config import ConfigError, to_settings
from rl_lab.run.runlog import write_json_atomic
from rl_lab.run.training import build_agent

MODES = ("stochastic", "deterministic")


def trained_agent(run_dir: Path, n_envs: int, seed: int) -> tuple[A2C, VectorEnv, int]:
    """The agent as it trained (its bugs' seams included) on ``n_envs`` fresh envs, with the
    trained weights loaded and its network in acting mode; also the step it was trained to."""
    settings = to_settings(OmegaConf.load(run_dir / "config.yaml"))
    weights = load_weights(run_dir)
    envs = make_envs(settings.env, n_envs)
    agent = build_agent(settings, envs, seed)
    agent.model.load_state_dict(weights["model"])
    agent.seams.acting_mode(agent.model)
    return agent, envs, weights["step"]


def _act(agent: A2C, obs: Any, mode: str) -> np.ndarray:
    logits, _ = agent.model(agent.seams.preprocess(obs).to(agent.device))
    actions = logits.argmax(-1) if mode == "deterministic" else torch.distributions.Categorical(logits=logits).sample()
    return actions.cpu().numpy()


def evaluate(run_dir: Path, episodes: int = 16, seed: int = 10_000, out: Path | None = None) -> dict[str, Any]:
    """Mean, std and all returns of ``episodes`` episodes per mode, also written to ``out``
    (default ``<run_dir>/eval.json``)."""
    result: dict[str, Any] = {"episodes": episodes, "seed": seed}
    for mode in MODES:
        agent, envs, result["step"] = trained_agent(run_dir, episodes, seed)
        obs = agent.obs
        returns = np.zeros(episodes)
        done = np.zeros(episodes, dtype=bool)
        with torch.no_grad():
            while not done.all():
                obs, reward, terminated, truncated, _ = envs.step(_act(agent, obs, mode))
                returns += np.where(done, 0.0, reward)
                done |= np.logical_or(terminated, truncated)
        envs.close()
        result[mode] = {"mean": float(returns.mean()), "std": float(returns.std()), "returns": returns.tolist()}
    out = out or run_dir / "eval.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, result)
    return result


def record(run_dir: Path, path: Path, steps: int = 600, seed: int = 10_000, fps: int = 15) -> dict[str, Any]:
    """An animated GIF of the agent (stochastic policy) playing one env for ``steps`` agent steps:
    the newest frame of each observation, the picture the network sees, with the points won
    minus the points lost so far in the clip.

    Written with matplotlib's Pillow writer. Image observations only (Catch, Pong).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    agent, envs, step = trained_agent(run_dir, 1, seed)
    if agent.obs.ndim != 4:
        envs.close()
        raise ConfigError(f"gif={str(path)!r} is invalid: the agent's observations are not images {agent.obs.shape}")
    obs, frames, scores, score = agent.obs, [], [], 0.0
    with torch.no_grad():
        for _ in range(steps):
            frames.append(np.asarray(obs[0, -1]))
            scores.append(score)
            obs, reward, terminated, truncated, _ = envs.step(_act(agent, obs, "stochastic"))
            score += float(reward[0])
    envs.close()
    fig, ax = plt.subplots(figsize=(2.4, 2.7), dpi=70)
    image = ax.imshow(frames[0], cmap="gray", vmin=0, vmax=max(float(np.max(frames)), 1e-6))
    ax.set_axis_off()
    title = ax.set_title("", fontsize=8)

    def draw(i: int):
        image.set_data(frames[i])
        title.set_text(f"trained {step:,} steps; points {scores[i]:+.0f}")
        return image, title

    path.parent.mkdir(parents=True, exist_ok=True)
    FuncAnimation(fig, draw, frames=len(frames), blit=True).save(path, writer=PillowWriter(fps=fps))
    plt.close(fig)
    return {"path": str(path), "steps": steps, "score": score, "step": step}
