"""The known result: rl-lab's A2C or PPO against stable-baselines3's, learning curve for learning curve.

    python scripts/known_result.py                          # CartPole-v1, 5 seeds x 500k steps each side
    python scripts/known_result.py algo=ppo                 # PPO: CartPole-v1, 5 seeds x 100k (the zoo's budget)
    python scripts/known_result.py seeds=3 steps=100000 out=/tmp/kr   # a shorter check
    python scripts/known_result.py env=pong seeds=2 steps=100000      # Pong: ale-py vector env vs SB3's AtariWrapper
    python scripts/known_result.py bug=sign_flip seeds=3 steps=30000 out=/tmp/kr   # the test's power

Both sides get the same hyperparameters (rl-lab's config for ``algo`` and ``env``, handed to SB3's
``A2C`` or ``PPO`` through ``rl_lab.agent.reference``'s ``sb3_a2c`` or ``sb3_ppo``) and the same seeds. rl-lab runs
``rl_lab.train``; SB3 runs ``A2C.learn`` on SB3's own env stack (``make_vec_env``, or
``make_atari_env`` + ``VecFrameStack`` for Pong). From each run's episodes the script
builds the curve "mean return of the last 100 episodes" on a grid of steps, then
compares, per seed, the final return and the area under that curve (its mean over the
grid) with Welch's t-test and a BCa bootstrap 95% confidence interval (``scipy.stats.bootstrap``)
of the difference of means. Writes ``<out>/curves.csv``, ``<out>/curves.png`` and ``<out>/verdict.md``
(default out: ``results/known_result/<env>/`` for A2C, ``results/known_result/ppo_<env>/`` for PPO).
"""

from __future__ import annotations

import csv
import math
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import version
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from scipy import stats

from rl_lab.lab.runs import result_path, run_script

ROOT = Path(__file__).resolve().parent.parent
GRID_POINTS = 50  # points of the learning curve
WINDOW = 100  # episodes in the running mean, as SB3's ep_info_buffer and rl-lab's final return
BOOTSTRAP = 10_000  # resamples for the confidence interval
SB3_SETUP = {  # SB3's side of each rl-lab env, with the same semantics (rl_lab/envs/__init__.py)
    "cartpole": ("CartPole-v1", "MlpPolicy", "rmsprop"),
    "pong": ("PongNoFrameskip-v4", "CnnPolicy", "rmsprop_tf_like"),
}


ALGOS = ("a2c", "ppo")


def _settings(algo: str, env: str, seed: int, steps: int, *extra: str):
    from rl_lab.run.training import compose_settings

    return compose_settings(
        [f"algo={algo}", f"env={env}", f"seed={seed}", f"total_steps={steps}", "progress=false", "torch_threads=1"]
        + list(extra)
    )


def _sb3_algorithm(algo: str, vec_env, hp, policy: str, seed: int, optimizer: str):
    """SB3's side of rl-lab's algorithm, with rl-lab's hyperparameters (PPO's optimizer is its default, Adam)."""
    from rl_lab.agent.reference import sb3_a2c, sb3_ppo

    return sb3_ppo(vec_env, hp, policy, seed) if algo == "ppo" else sb3_a2c(vec_env, hp, policy, seed, optimizer)


def run_rl_lab(algo: str, env: str, seed: int, steps: int, bug: str) -> list[tuple[int, float]]:
    """(step at which the episode ended, its return) for every episode of one rl-lab run."""
    from rl_lab.run.checkpoint import load_checkpoint
    from rl_lab.run.runlog import read_metrics
    from rl_lab.run.training import train

    # A log point after every update gives the step each episode ended at. The panel and the
    # detectors are off: they would run every update, and the detectors' windows count log
    # points (calibrated at log_interval=1000). Neither changes the numbers (tests/test_diagnostics.py).
    settings = _settings(algo, env, seed, steps, f"bug={bug}", "log_interval=1", "diagnostics.enabled=false")
    settings.diagnostics.detectors = {}
    with tempfile.TemporaryDirectory() as run_dir:
        train(settings, Path(run_dir))
        ends: list[int] = []
        for point in read_metrics(Path(run_dir)):
            ends += [int(point["step"])] * (int(point["charts/episodes"]) - len(ends))
        returns = load_checkpoint(Path(run_dir))["log"]["episode_returns"]
    return list(zip(ends, returns, strict=True))


def run_sb3(algo: str, env: str, seed: int, steps: int, bug: str) -> list[tuple[int, float]]:
    """(step at which the episode ended, its return) for every episode of one SB3 run."""
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_atari_env, make_vec_env
    from stable_baselines3.common.vec_env import VecFrameStack

    torch.set_num_threads(1)
    settings = _settings(algo, env, seed, steps)
    env_id, policy, optimizer = SB3_SETUP[env]
    if policy == "CnnPolicy":
        vec_env = VecFrameStack(make_atari_env(env_id, n_envs=settings.agent.n_envs, seed=seed), n_stack=4)
    else:
        vec_env = make_vec_env(env_id, n_envs=settings.agent.n_envs, seed=seed)
    episodes: list[tuple[int, float]] = []

    class RecordEpisodes(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    episodes.append((self.num_timesteps, float(info["episode"]["r"])))
            return True

    _sb3_algorithm(algo, vec_env, settings.agent, policy, seed, optimizer).learn(steps, callback=RecordEpisodes())
    vec_env.close()
    return episodes


def _run(job: tuple[str, str, str, int, int, str]) -> list[tuple[int, float]]:
    side, algo, env, seed, steps, bug = job
    return (run_rl_lab if side == "rl-lab" else run_sb3)(algo, env, seed, steps, bug)


def curve(episodes: list[tuple[int, float]], grid: np.ndarray) -> np.ndarray:
    """Mean return of the last ``WINDOW`` episodes ended by each grid step (NaN before the first)."""
    ends = np.array([step for step, _ in episodes])
    returns = np.array([ret for _, ret in episodes])
    out = np.full(len(grid), np.nan)
    for i, step in enumerate(grid):
        n = int(np.searchsorted(ends, step, side="right"))
        if n:
            out[i] = returns[max(0, n - WINDOW) : n].mean()
    return out


def compare(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """Welch's t-test and a BCa bootstrap 95% CI of mean(a) - mean(b), seeds as the samples."""
    if a.std() == 0 and b.std() == 0 and np.isfinite(a).all() and np.isfinite(b).all():
        p = 1.0 if a.mean() == b.mean() else 0.0  # Welch is undefined; the seeds agree exactly or not at all
    else:
        p = stats.ttest_ind(a, b, equal_var=False).pvalue
    if not (np.isfinite(a).all() and np.isfinite(b).all()):  # a diverged run: no interval
        low = high = math.nan
    elif a.std() == 0 and b.std() == 0:  # every resample gives the same difference; BCa is undefined there
        low = high = a.mean() - b.mean()
    else:  # scipy's bias-corrected and accelerated bootstrap, each side resampled on its own
        interval = stats.bootstrap(
            (a, b), lambda x, y, axis: x.mean(axis) - y.mean(axis), n_resamples=BOOTSTRAP, method="BCa", rng=rng
        ).confidence_interval
        low, high = interval.low, interval.high
    return {
        "mean_a": float(a.mean()),
        "mean_b": float(b.mean()),
        "diff": float(a.mean() - b.mean()),
        "ci_low": float(low),
        "ci_high": float(high),
        "p": float(p),
    }


def main() -> None:
    args = OmegaConf.merge(
        OmegaConf.create(
            {"algo": "a2c", "env": "cartpole", "seeds": 5, "steps": None, "jobs": 2, "out": None, "bug": "none"}
        ),
        OmegaConf.from_cli(),
    )
    if args.env not in SB3_SETUP:
        raise SystemExit(f"env={args.env!r} is invalid: valid choices are {', '.join(SB3_SETUP)}")
    if args.algo not in ALGOS:
        raise SystemExit(f"algo={args.algo!r} is invalid: valid choices are {', '.join(ALGOS)}")
    args.steps = args.steps or _settings(args.algo, args.env, 0, 1).agent.n_timesteps  # the zoo's budget
    from rl_lab.bugs import registry

    if args.bug != "none" and args.bug not in registry():
        raise SystemExit(f"bug={args.bug!r} is invalid: valid choices are none, {', '.join(sorted(registry()))}")
    if args.seeds < 2:
        raise SystemExit(f"seeds={args.seeds!r} is invalid: a comparison across seeds needs at least 2")
    name = args.env if args.algo == "a2c" else f"{args.algo}_{args.env}"
    out = result_path(ROOT / "results" / "known_result" / name, args.out)
    command = f"python scripts/known_result.py algo={args.algo} env={args.env} seeds={args.seeds} steps={args.steps}"
    if args.bug != "none":
        command += f" bug={args.bug}"
    sides = ("rl-lab", "sb3")
    jobs = [(side, args.algo, args.env, seed, args.steps, args.bug) for seed in range(args.seeds) for side in sides]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = dict(zip([(job[0], job[3]) for job in jobs], pool.map(_run, jobs), strict=True))
    wall = time.perf_counter() - started

    grid = np.linspace(args.steps / GRID_POINTS, args.steps, GRID_POINTS).astype(int)
    curves = {key: curve(episodes, grid) for key, episodes in runs.items()}
    rng = np.random.default_rng(0)
    metrics = {}
    for name, of in (("final return", lambda c: c[-1]), ("area under the curve", lambda c: np.nanmean(c))):
        per_side = {side: np.array([of(curves[side, s]) for s in range(args.seeds)]) for side in ("rl-lab", "sb3")}
        metrics[name] = (per_side, compare(per_side["rl-lab"], per_side["sb3"], rng))

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        columns = [(side, s) for side in ("rl-lab", "sb3") for s in range(args.seeds)]
        writer.writerow(["step", *[f"{side}_seed{s}" for side, s in columns]])
        for i, step in enumerate(grid):
            writer.writerow([step, *[f"{curves[key][i]:.3f}" for key in columns]])
    _plot(grid, curves, args, out / "curves.png")

    lines = [
        f"# Known result: rl-lab vs stable-baselines3 {args.algo.upper()} on {SB3_SETUP[args.env][0]}",
        "",
        f"Command: `{command}` ({wall / 60:.1f} min wall, {args.jobs} runs at a time, 1 torch thread each)",
        "",
        f"Versions: rl-lab {version('rl-lab')}, stable-baselines3 {version('stable-baselines3')}, "
        f"torch {version('torch')}, gymnasium {version('gymnasium')}, ale-py {version('ale-py')}, "
        f"Python {platform.python_version()}.",
        f"Budget: {args.steps} agent steps per run; seeds 0-{args.seeds - 1} on each side; hyperparameters: "
        f"rl-lab's `conf/agent/{args.algo}_{args.env}.yaml`, passed to SB3 unchanged."
        + (f" rl-lab runs with bug={args.bug}, to show the comparison's power." if args.bug != "none" else ""),
        f"Curve: mean return of the last {WINDOW} training episodes, at {GRID_POINTS} evenly spaced steps.",
        "",
        "| metric | rl-lab (per seed) | SB3 (per seed) | rl-lab mean | SB3 mean "
        "| difference, 95% BCa bootstrap CI | Welch p |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, (per_side, result) in metrics.items():
        lines.append(
            f"| {name} | {', '.join(f'{v:.1f}' for v in per_side['rl-lab'])} "
            f"| {', '.join(f'{v:.1f}' for v in per_side['sb3'])} "
            f"| {result['mean_a']:.1f} | {result['mean_b']:.1f} "
            f"| {result['diff']:+.1f} [{result['ci_low']:+.1f}, {result['ci_high']:+.1f}] | {result['p']:.3g} |"
        )
    differ = [name for name, (_, r) in metrics.items() if r["p"] < 0.05]
    undecided = [name for name, (_, r) in metrics.items() if not np.isfinite(r["p"])]
    if undecided:
        verdict = (
            f"no verdict: {', '.join(undecided)} could not be compared (too few finished episodes, or "
            "no spread between seeds); raise steps."
        )
    elif differ:
        verdict = f"the curves differ significantly (Welch p < 0.05) in {', '.join(differ)}."
    else:
        verdict = (
            "no significant difference (Welch p >= 0.05) in final return or area under the curve. "
            "With this many seeds that bounds, not proves, agreement: the confidence intervals say how "
            "large a difference the data still allow."
        )
    lines += ["", f"Verdict: {verdict}"]
    (out / "verdict.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written: {out}")
    if undecided:
        sys.exit(2)
    if differ:
        sys.exit(1)


def _plot(grid: np.ndarray, curves: dict, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for side, color in (("rl-lab", "tab:blue"), ("sb3", "tab:orange")):
        stack = np.array([curves[side, s] for s in range(args.seeds)])
        ax.plot(grid, np.nanmedian(stack, axis=0), color=color, label=f"{side} (median of {args.seeds} seeds)")
        ax.fill_between(grid, np.nanmin(stack, axis=0), np.nanmax(stack, axis=0), color=color, alpha=0.2)
    ax.set_xlabel("agent steps")
    ax.set_ylabel(f"mean return, last {WINDOW} episodes")
    ax.set_title(f"{args.algo.upper()} on {SB3_SETUP[args.env][0]}: rl-lab vs SB3 (band: min-max over seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(run_script(main))
