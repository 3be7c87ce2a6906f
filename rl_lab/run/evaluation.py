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

from rl_lab.agent.rollout import ActorCriticAgent
from rl_lab.envs import make_envs, make_screen_envs
from rl_lab.run.checkpoint import load_weights
from rl_lab.run.config import ConfigError, to_settings
from rl_lab.run.runlog import write_json_atomic
from rl_lab.run.training import build_agent

MODES = ("stochastic", "deterministic")


def trained_agent(run_dir: Path, n_envs: int, seed: int) -> tuple[ActorCriticAgent, VectorEnv, int]:
    """The agent as it trained (its bugs' seams included) on ``n_envs`` fresh envs (an env-side bug's
    wrapper included), with the trained weights loaded and its network in acting mode; also the
    step it was trained to."""
    settings = to_settings(OmegaConf.load(run_dir / "config.yaml"))
    weights = load_weights(run_dir)
    envs = make_envs(settings.env, n_envs)
    agent = build_agent(settings, envs, seed)
    agent.model.load_state_dict(weights["model"])
    agent.seams.acting_mode(agent.model)
    return agent, agent.envs, weights["step"]


def _act(agent: ActorCriticAgent, obs: Any, mode: str) -> np.ndarray:
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


def _rgb(frame: np.ndarray, height: int) -> np.ndarray:
    """A gray (H, W) or colour (H, W, 3) frame as RGB, scaled by a whole factor to about ``height`` rows."""
    factor = max(1, round(height / frame.shape[0]))
    rgb = np.repeat(frame[..., None], 3, axis=-1) if frame.ndim == 2 else frame
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1).astype(np.uint8)


def _side_by_side(panels: list[np.ndarray], top: int = 18, gap: int = 8) -> np.ndarray:
    """Panels left to right on black, below a strip for a line of text."""
    height = max(p.shape[0] for p in panels)
    canvas = np.zeros((top + height, sum(p.shape[1] for p in panels) + gap * (len(panels) - 1), 3), np.uint8)
    x = 0
    for panel in panels:
        canvas[top : top + panel.shape[0], x : x + panel.shape[1]] = panel
        x += panel.shape[1] + gap
    return canvas


def record(run_dir: Path, path: Path, steps: int = 600, seed: int = 10_000, fps: int = 15) -> dict[str, Any]:
    """An animated GIF of the agent (stochastic policy) playing one env for ``steps`` agent steps.

    Each frame shows the game as a person sees it (ALE's colour screen at full size, scaled 2x,
    from a twin emulator given the same seed and actions: :func:`rl_lab.envs.make_screen_envs`)
    beside what the network sees (the newest of its stacked frames), under a line with the
    points each side won in the clip. Catch has no screen of its own: its board is the picture.
    Written with Pillow (matplotlib's own dependency). Image observations only (Catch, Pong).
    """
    from PIL import Image, ImageDraw

    agent, envs, step = trained_agent(run_dir, 1, seed)
    if agent.obs.ndim != 4:
        envs.close()
        raise ConfigError(f"gif={str(path)!r} is invalid: the agent's observations are not images {agent.obs.shape}")
    screens = make_screen_envs(to_settings(OmegaConf.load(run_dir / "config.yaml")).env, 1)
    screen = screens.reset(seed=seed)[0] if screens is not None else None
    obs, won, lost, images = agent.obs, 0, 0, []
    with torch.no_grad():
        for _ in range(steps):
            game = [_rgb(screen[0, -1], 2 * screen.shape[2])] if screen is not None else []
            image = Image.fromarray(_side_by_side([*game, _rgb(np.asarray(obs[0, -1]), 168)]))
            text = f"{type(agent).__name__} trained {step:,} steps; this clip: agent {won}, opponent {lost}"
            ImageDraw.Draw(image).text((4, 3), text, fill=(255, 255, 255))
            images.append(image)
            action = _act(agent, obs, "stochastic")
            obs, reward, terminated, _, _ = envs.step(action)
            if screens is not None:
                screen, twin_reward, twin_terminated, _, _ = screens.step(action)
                if (twin_reward[0], twin_terminated[0]) != (reward[0], terminated[0]):
                    raise RuntimeError("the screen's emulator left the agent's game: the picture would be wrong")
            won, lost = won + int(reward[0] > 0), lost + int(reward[0] < 0)
    envs.close()
    if screens is not None:
        screens.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return {"path": str(path), "steps": steps, "won": won, "lost": lost, "step": step}
