"""The long Pong runs, as one resumable command: start one, or continue it, for a wall-clock budget.

    python scripts/pong_long_run.py minutes=60                          # the clean run: start or continue
    python scripts/pong_long_run.py run=clean_seed1 minutes=60          # the second clean seed
    python scripts/pong_long_run.py run=off_by_one_frames minutes=60    # Elhage's bug (k = 1), same seed
    python scripts/pong_long_run.py run=fast minutes=60                 # seed 0 with both speed options
    python scripts/pong_long_run.py run=ppo minutes=60                  # PPO (algo=ppo), seed 0
    python scripts/pong_long_run.py minutes=600 device=cuda             # on a GPU machine
    python scripts/pong_long_run.py run=clean_seed1 minutes=0           # only write its results (none committed yet)

Runs (``run=``), ``env=pong`` with the zoo's Atari hyperparameters and a 10M-step budget:

``clean``              ``runs/pong_long``; writes ``results/known_result/pong/long_run.{md,csv,png}``,
                       the trained agent (``agent/``: config.yaml and weights.pt, loadable with
                       ``python -m rl_lab.evaluate results/known_result/pong/agent``), its
                       evaluation (``agent/eval.json``) and a clip of it playing (``agent_playing.gif``).
                       ``seed=0``.
``clean_seed1``        ``runs/pong_long_seed1``, ``seed=1``, trained with today's panel (every exact
                       check); writes ``results/known_result/pong/long_run_seed1.{md,csv,png}``: its
                       curve beside seed 0's, the largest value of each exact check against its
                       threshold, every detector event, and, once it reaches its budget, the same
                       64-episode evaluation as seed 0's (its agent in ``agent_seed1/``).
``fast``               ``runs/pong_fast``, ``seed=0`` with both speed options (``loop=lagged
                       agent.model.conv_dtype=bfloat16``: another algorithm, off by default); writes
                       ``results/known_result/pong/fast.{md,csv,png}`` as ``clean_seed1`` does, beside
                       the clean seed 0 (its agent in ``agent_fast/``): does the faster agent learn?
``ppo``                ``runs/pong_ppo``, ``algo=ppo seed=0 torch_threads=1`` (one core: it runs beside other
                       work): rl-lab's PPO with the zoo's Atari PPO
                       hyperparameters (``conf/agent/ppo_pong.yaml``, schedules annealed over 10M steps);
                       writes ``results/known_result/pong/ppo.{md,csv,png}`` as ``clean_seed1`` does,
                       beside the clean A2C seed 0 and the zoo's PPO figure (its agent in ``agent_ppo/``).
``sb3_ppo``            ``runs/pong_sb3_ppo``: stable-baselines3's PPO with the same hyperparameters (rl-lab's
                       config, handed over by ``rl_lab.agent.reference.sb3_ppo``) on SB3's own Atari stack
                       (``make_atari_env`` + ``VecFrameStack``, as ``scripts/known_result.py``), seed 0, one
                       torch thread; writes ``results/known_result/pong/sb3_ppo.{md,csv,png}``: its curve
                       beside rl-lab's PPO (``run=ppo``) at matching steps, as far as both were run. SB3
                       cannot resume a run exactly: a session continues its weights, Adam's state and its
                       step count (so the schedules), but its envs restart and its random streams are
                       reseeded (``seed`` + the session's number); rl-lab's runs resume exactly.
``off_by_one_frames``  ``runs/pong_off_by_one``, ``bug=off_by_one_frames``; writes
                       ``results/known_result/pong/off_by_one.{md,csv,png}``: its curve against the
                       clean run's, every detector's first firing, its divergence step, and the first
                       step at which its return is significantly below the clean run's. ``seed=0``.

A run's state travels between machines and sessions as one file (``<run dir name>_state.tar.gz``
in ``results/known_result/pong/``, ``long_run_state.tar.gz`` for the clean run: the run
directory without TensorBoard's events, about 15 MB, replaced each time). It is unpacked when
the run directory holds no checkpoint, and written again after every training session.

Trains with ``python -m rl_lab.train``; if the run directory holds a checkpoint it resumes from
it. After ``minutes`` it interrupts the run (SIGTERM: the run writes its checkpoint and summary)
and writes the results for the horizon actually reached. A call that trains nothing (``minutes=0``,
or a finished run) is refused when the run's results are committed: it would only write them again.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from scipy import stats

from rl_lab.lab.check import exact_check_table
from rl_lab.lab.runs import run_script
from rl_lab.run.checkpoint import checkpoint_path, export_weights
from rl_lab.run.config import ConfigError
from rl_lab.run.evaluation import evaluate, record
from rl_lab.run.outputs import is_committed
from rl_lab.run.runlog import FINAL_RETURN_WINDOW, read_events, read_metrics
from rl_lab.run.training import compose_settings

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "known_result" / "pong"
# openai baselines' a2c on Pong (6 runs): crosses 0 near 3.1M steps, +10 near 4M, +18 near 7.8M
BASELINES_A2C = [(3_100_000, 0.0), (4_000_000, 10.0), (7_800_000, 18.0)]
ZOO_A2C = (10_000_000, 17.29, 3.21)  # rl-baselines3-zoo benchmark: mean +- std, stochastic evaluation
ZOO_PPO = (10_000_000, 20.99, 0.11)  # the same benchmark's ppo
ALPHA = 0.01  # one-sided Welch test of the last 100 episodes, bug against clean, at each log point


@dataclass(frozen=True)
class LongRun:
    run_dir: str
    state: str
    report: str
    overrides: tuple[str, ...] = ()
    seed: int = 0
    # a run reported beside the clean seed 0 (report_beside_clean): its title, its curve's legend, its agent's folder
    title: str = ""
    label: str = ""
    agent: str = ""
    algorithm: str = "A2C"  # the algorithm it trains: the published references drawn beside its curve
    trainer: str = "rl-lab"  # who trains it: rl-lab (``rl_lab.train``) or stable-baselines3 (``sb3``)


RUNS = {
    "clean": LongRun("runs/pong_long", "long_run_state.tar.gz", "long_run.md"),
    "clean_seed1": LongRun(
        "runs/pong_long_seed1",
        "long_run_seed1_state.tar.gz",
        "long_run_seed1.md",
        seed=1,
        title="The second clean Pong seed (`env=pong seed=1`), beside the first",
        label="seed 1",
        agent="agent_seed1",
    ),
    "fast": LongRun(
        "runs/pong_fast",
        "fast_state.tar.gz",
        "fast.md",
        ("loop=lagged", "agent.model.conv_dtype=bfloat16"),
        title="Pong with both speed options (`loop=lagged agent.model.conv_dtype=bfloat16`, seed 0), beside the "
        "clean seed 0",
        label="both speed options, seed 0",
        agent="agent_fast",
    ),
    "ppo": LongRun(
        "runs/pong_ppo",
        "ppo_state.tar.gz",
        "ppo.md",
        ("algo=ppo", "torch_threads=1"),
        title="rl-lab's PPO on Pong (`algo=ppo env=pong seed=0`), beside the clean A2C seed 0",
        label="PPO, seed 0",
        agent="agent_ppo",
        algorithm="PPO",
    ),
    "sb3_ppo": LongRun(
        "runs/pong_sb3_ppo",
        "sb3_ppo_state.tar.gz",
        "sb3_ppo.md",
        ("algo=ppo",),
        title="stable-baselines3's PPO on Pong (seed 0), beside rl-lab's",
        label="SB3's PPO, seed 0",
        algorithm="PPO",
        trainer="sb3",
    ),
    "off_by_one_frames": LongRun(
        "runs/pong_off_by_one", "off_by_one_state.tar.gz", "off_by_one.md", ("bug=off_by_one_frames",)
    ),
}


def train_for(run: LongRun, run_dir: Path, minutes: float, device: str) -> None:
    if checkpoint_path(run_dir).exists():
        command = ["-m", "rl_lab.train", f"resume={run_dir}", "progress=false"]
    else:
        command = ["-m", "rl_lab.train", "env=pong", f"seed={run.seed}", f"device={device}", "progress=false"]
        command += [*run.overrides, f"hydra.run.dir={run_dir}"]
    process = subprocess.Popen([sys.executable, *command], cwd=ROOT)
    try:
        process.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # the run checkpoints and writes its summary
        process.wait()


SB3_SAVE_MINUTES = 5.0  # an SB3 session writes its checkpoint this often, between two updates
SB3_EPISODES = "episodes.csv"  # an SB3 run's episodes: the step each ended at, its return


def train_sb3_for(run: LongRun, run_dir: Path, minutes: float, device: str) -> None:
    """One session of SB3's PPO: continue from ``checkpoints/last.pt`` (SB3's ``get_parameters``: the
    policy and Adam's state, with the step count) or start; every ``SB3_SAVE_MINUTES`` and after
    ``minutes``, between two updates, write the checkpoint, the episodes and ``summary.json``."""
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    from rl_lab.agent.reference import sb3_ppo

    torch.set_num_threads(1)  # it runs beside other work, as run=ppo
    hp = compose_settings(["env=pong", *run.overrides]).agent
    path, episodes_path = checkpoint_path(run_dir), run_dir / SB3_EPISODES
    resumed = path.exists()
    before = (  # the run as the last session left it
        json.loads((run_dir / "summary.json").read_text())
        if resumed
        else {"status": "running", "steps": 0, "total_steps": hp.n_timesteps, "wall_time_s": 0.0, "sessions": 0}
    )
    episodes = [(int(s), float(r)) for s, r in _read_rows(episodes_path)] if resumed else []
    seed = run.seed + before["sessions"]
    envs = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=hp.n_envs, seed=seed), n_stack=4)
    model = sb3_ppo(envs, hp, "CnnPolicy", seed)
    if resumed:
        saved = torch.load(path, weights_only=True)
        model.set_parameters(saved["parameters"], exact_match=True, device=device)
        model.num_timesteps = saved["num_timesteps"]
    started, first_step = time.monotonic(), model.num_timesteps

    def save() -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(exist_ok=True)
        torch.save({"parameters": model.get_parameters(), "num_timesteps": model.num_timesteps}, path)
        with open(episodes_path, "w", newline="") as f:
            csv.writer(f).writerows(episodes)
        returns = [r for _, r in episodes]
        windows = [np.mean(returns[max(0, i - FINAL_RETURN_WINDOW + 1) : i + 1]) for i in range(len(returns))]
        summary = {
            **before,
            "status": "finished" if model.num_timesteps >= before["total_steps"] else "interrupted",
            "steps": model.num_timesteps,
            "wall_time_s": before["wall_time_s"] + time.monotonic() - started,
            "sessions": before["sessions"] + 1,
            "final_return": float(windows[-1]) if windows else None,
            "best_return": float(max(windows)) if windows else None,
        }
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    class Session(BaseCallback):
        """Records the episodes; between two updates, saves when due and stops after ``minutes``."""

        stop, next_save = False, started + SB3_SAVE_MINUTES * 60

        def _on_rollout_start(self) -> None:
            now = time.monotonic()
            if self.num_timesteps > first_step and (now >= self.next_save or now >= started + minutes * 60):
                save()
                self.next_save, self.stop = now + SB3_SAVE_MINUTES * 60, now >= started + minutes * 60

        def _on_step(self) -> bool:
            if self.stop:  # the first step after the save: nothing of it is kept
                return False
            episodes.extend(
                (self.num_timesteps, float(info["episode"]["r"])) for info in self.locals["infos"] if "episode" in info
            )
            return True

    session = Session()
    model.learn(before["total_steps"] - model.num_timesteps, callback=session, reset_num_timesteps=False)
    if not session.stop:  # it reached its budget
        save()
    envs.close()


def _read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


# what a run's state holds: rl-lab's run directory, and SB3's episodes (rl-lab's are in its checkpoint)
STATE_FILES = (
    "config.yaml",
    "overrides.yaml",
    "summary.json",
    "metrics.jsonl",
    "events.jsonl",
    "checkpoints/last.pt",
    SB3_EPISODES,
)


def pack(run_dir: Path, state: Path) -> None:
    """The run directory (TensorBoard's events left out: metrics.jsonl holds the same series) in one file."""
    tmp = state.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for name in STATE_FILES:
            if (run_dir / name).exists():
                tar.add(run_dir / name, arcname=name)
    tmp.replace(state)


def is_finished(run_dir: Path, state: Path) -> bool:
    """The run's status, from its directory or else from its packed state (without unpacking it)."""
    if (run_dir / "summary.json").exists():
        text = (run_dir / "summary.json").read_bytes()
    elif state.exists():
        with tarfile.open(state) as tar:
            text = tar.extractfile("summary.json").read()
    else:
        return False
    return json.loads(text)["status"] == "finished"


def unpack(state: Path, run_dir: Path) -> None:
    with tarfile.open(state) as tar:
        tar.extractall(run_dir, filter="data")


def unpacked(run: LongRun) -> Path:
    """Another run's directory, unpacked from its committed state if it holds no checkpoint."""
    run_dir = ROOT / run.run_dir
    if not checkpoint_path(run_dir).exists():
        unpack(OUT / run.state, run_dir)
    return run_dir


def curve(run_dir: Path) -> list[tuple[int, float]]:
    return [(p["step"], p["charts/return_last100"]) for p in read_metrics(run_dir) if "charts/return_last100" in p]


def horizon_line(summary: dict) -> str:
    reached = summary["steps"]
    return (
        f"**Horizon reached: {reached:,} of {summary['total_steps']:,} agent steps** "
        f"({reached / summary['total_steps']:.1%}), {summary['wall_time_s'] / 3600:.2f} h of training wall time "
        f"({reached / summary['wall_time_s']:.0f} steps/s on average over its sessions, which shared the machine's "
        f"2 cores with other work), status `{summary['status']}`."
    )


def write_curve_csv(path: Path, columns: dict[str, list[tuple[int, float]]]) -> None:
    steps = sorted({s for points in columns.values() for s, _ in points})
    steps = steps[:: max(1, len(steps) // 500)]
    lookup = {name: dict(points) for name, points in columns.items()}
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", *columns])
        writer.writerows([s, *(lookup[name].get(s, "") for name in columns)] for s in steps)


def report_clean(run_dir: Path, episodes: int, device: str) -> list[str]:
    summary = json.loads((run_dir / "summary.json").read_text())
    agent_dir = OUT / "agent"
    export_weights(run_dir, agent_dir)
    started = time.perf_counter()
    result = evaluate(agent_dir, episodes)
    eval_wall = time.perf_counter() - started
    clip = record(agent_dir, OUT / "agent_playing.gif", steps=600)
    points = curve(run_dir)
    write_curve_csv(OUT / "long_run.csv", {"return_last100": points})
    _plot({"rl-lab, seed 0 (training episodes)": points}, OUT / "long_run.png", "the long run", "A2C")
    stochastic, deterministic = result["stochastic"], result["deterministic"]
    size = (agent_dir / "weights.pt").stat().st_size / 2**20
    return [
        "# The long Pong run: rl-lab A2C on ale-py's vector env (`env=pong seed=0`)",
        "",
        "Command: `python scripts/pong_long_run.py minutes=...` (resumable; run directory `runs/pong_long`)",
        "",
        horizon_line(summary) + f" Device `{device}`.",
        "",
        f"Training return (mean of the last 100 episodes) at {summary['steps']:,} steps: "
        f"{summary['final_return']:.2f}; best {summary['best_return']:.2f}.",
        f"Evaluation of the final weights, {episodes} whole episodes per mode, seed 10000 ({eval_wall:.0f} s): "
        f"**stochastic {stochastic['mean']:.2f} +- {stochastic['std']:.2f}**, "
        f"deterministic {deterministic['mean']:.2f} +- {deterministic['std']:.2f} (mean +- std over episodes).",
        f"Detector events of the clean run: {_events_line(run_dir)}.",
        "Training return first at or above: "
        + ", ".join(f"{level:+d} at {_first_at(points, level)}" for level in (-19, -15, 0, 10, 18))
        + " (openai baselines' a2c: 0 near 3.1M, +10 near 4M, +18 near 7.8M).",
        "",
        "Published references: openai baselines' a2c crosses 0 near 3.1M steps, +10 near 4M, +18 near 7.8M; "
        f"rl-baselines3-zoo's a2c scores {ZOO_A2C[1]} +- {ZOO_A2C[2]} after 10M steps (stochastic evaluation).",
        "",
        f"The trained agent: `agent/` (config.yaml and weights.pt, {size:.1f} MB, step {clip['step']:,}); "
        "`python -m rl_lab.evaluate results/known_result/pong/agent episodes=64 out=runs/pong_agent.json` plays it, "
        f"and `agent_playing.gif` shows {clip['steps']} agent steps of it, the game beside the network's view "
        f"(in the clip the agent won {clip['won']} points and lost {clip['lost']}).",
        "",
        "Curve: `long_run.csv`, `long_run.png` (the references drawn as points).",
    ]


def report_beside_clean(
    name: str, run: LongRun, run_dir: Path, clean_dir: Path, episodes: int, device: str
) -> list[str]:
    summary = json.loads((run_dir / "summary.json").read_text())
    points, first = curve(run_dir), curve(clean_dir)
    stem = run.report.removesuffix(".md")
    write_curve_csv(OUT / f"{stem}.csv", {"seed0": first, name: points})
    _plot({"A2C seed 0": first, run.label: points}, OUT / f"{stem}.png", f"A2C seed 0 and {run.label}", run.algorithm)
    reached = points[-1][0] if points else 0
    # the first run's return at the last of its log points up to `reached` (the two log at different steps)
    first_then = next((r for s, r in reversed(first) if s <= reached), float("nan"))
    finished = summary["status"] == "finished"
    if finished:
        agent_dir = OUT / run.agent
        export_weights(run_dir, agent_dir)
        mine, theirs = evaluate(agent_dir, episodes), json.loads((OUT / "agent" / "eval.json").read_text())
        evaluation = (
            f"Evaluation of the final weights (`{run.agent}/`), {episodes} whole episodes per mode, seed 10000: "
            f"{_scores(mine)}; seed 0, the same evaluation: {_scores(theirs)}."
        )
    else:
        evaluation = f"Evaluated ({episodes} episodes per mode, as seed 0) once it reaches its budget."
    return [
        f"# {run.title}",
        "",
        f"Command: `python scripts/pong_long_run.py run={name} minutes=...` (resumable; run directory `{run.run_dir}`)",
        "",
        horizon_line(summary) + f" Device `{device}`.",
        "",
        f"Training return (mean of the last 100 episodes) at {reached:,} steps: {summary['final_return']:.2f} "
        f"(best {summary['best_return']:.2f}); A2C seed 0 at the same step: "
        f"{first_then:.2f}.",
        "Training return first at or above: "
        + ", ".join(
            f"{level:+d} at {_first_at(points, level)} (A2C seed 0: {_first_at(first, level)})"
            for level in (-19, -15, 0, 10, 18)
        )
        + ".",
        *_reference_lines(run.algorithm),
        evaluation,
        "",
        f"Detector events, today's panel as trained: {_events_line(run_dir)}.",
        "",
        *exact_check_table([run_dir], compose_settings(["env=pong"]).diagnostics),
        "",
        f"Curve: `{stem}.csv`, `{stem}.png` (beside A2C seed 0, the references drawn as points).",
    ]


def _reference_lines(algorithm: str) -> list[str]:
    if algorithm != "PPO":
        return []
    return [
        f"rl-baselines3-zoo's ppo scores {ZOO_PPO[1]} +- {ZOO_PPO[2]} after 10M steps (stochastic evaluation). "
        "SB3's PPO, with the same hyperparameters on SB3's own Atari stack, runs beside it: "
        "`python scripts/pong_long_run.py run=sb3_ppo minutes=...` (`sb3_ppo.md`: the two curves at matching steps)."
    ]


MATCHING_EVERY = 50_000  # agent steps between the rows of the matching-steps table


def report_sb3_beside_ppo(run: LongRun, run_dir: Path, ppo_dir: Path) -> list[str]:
    """SB3's PPO curve beside rl-lab's at matching steps, and the last 100 episodes of each at the
    last step both reached (Welch's t-test, its 95% interval of the difference of means)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    episodes = [(int(s), float(r)) for s, r in _read_rows(run_dir / SB3_EPISODES)]
    returns = np.array([r for _, r in episodes])
    theirs = [
        (s, float(returns[max(0, i - FINAL_RETURN_WINDOW + 1) : i + 1].mean())) for i, (s, _) in enumerate(episodes)
    ]
    ours = curve(ppo_dir)
    _plot({"rl-lab's PPO, seed 0": ours, run.label: theirs}, OUT / "sb3_ppo.png", "rl-lab's PPO and SB3's", "PPO")
    write_curve_csv(OUT / "sb3_ppo.csv", {"rl_lab_ppo": ours, "sb3_ppo": theirs})
    both = min(ours[-1][0], summary["steps"]) if ours else 0

    def at(points: list[tuple[int, float]], step: int) -> float:
        return next((r for s, r in reversed(points) if s <= step), float("nan"))

    rows = [
        f"| {step:,} | {at(ours, step):.2f} | {at(theirs, step):.2f} |"
        for step in range(MATCHING_EVERY, both + 1, MATCHING_EVERY)
    ]
    ours_windows = episode_windows(ppo_dir)
    last_ours = max((s for s in ours_windows if s <= both), default=None)
    theirs_last = returns[[s <= both for s, _ in episodes]][-FINAL_RETURN_WINDOW:] if len(returns) else returns
    if last_ours is None or len(theirs_last) < 2:
        test = "Too few episodes yet for a comparison of the last 100."
    else:
        result = stats.ttest_ind(ours_windows[last_ours], theirs_last, equal_var=False)
        interval = result.confidence_interval(0.95)
        test = (
            f"The last {FINAL_RETURN_WINDOW} episodes by {both:,} steps (rl-lab's at its log point {last_ours:,}): "
            f"rl-lab {ours_windows[last_ours].mean():.2f}, SB3 {theirs_last.mean():.2f}; difference "
            f"{ours_windows[last_ours].mean() - theirs_last.mean():+.2f} [95% CI {interval.low:+.2f}, "
            f"{interval.high:+.2f}] (Welch's t-test, p = {result.pvalue:.2f})."
        )
    return [
        f"# {run.title}",
        "",
        f"Command: `python scripts/pong_long_run.py run=sb3_ppo minutes=...` (resumable; run directory "
        f"`{run.run_dir}`); rl-lab's side: `run=ppo` (`ppo.md`).",
        "",
        "Both sides: the zoo's Atari PPO hyperparameters as rl-lab's config holds them "
        "(`conf/agent/ppo_pong.yaml`, schedules annealed over 10M steps), seed 0, one torch thread. rl-lab steps "
        "ale-py's vector env; SB3 its own stack (`make_atari_env` + `VecFrameStack`), whose episodes are whole "
        "games (its `Monitor` is inside the life-loss wrapper), as rl-lab's are. SB3's sessions continue its "
        "weights, Adam's state and the step count, but restart its envs and reseed it (seed + session).",
        "",
        horizon_line(summary) + f" Sessions: {summary['sessions']}.",
        "",
        f"Mean return of the last 100 episodes at matching steps, as far as both were run ({both:,} steps):",
        "",
        "| agent steps | rl-lab's PPO | SB3's PPO |",
        "|---|---|---|",
        *(rows or ["| (none yet) | | |"]),
        "",
        test,
        f"rl-baselines3-zoo's ppo scores {ZOO_PPO[1]} +- {ZOO_PPO[2]} after 10M steps (stochastic evaluation).",
        "",
        "Curve: `sb3_ppo.csv`, `sb3_ppo.png` (both PPO curves; the references drawn as points).",
    ]


def _scores(result: dict) -> str:
    """An evaluation's mean +- std return over episodes, stochastic and deterministic."""
    return ", ".join(
        f"{mode} {result[mode]['mean']:.2f} +- {result[mode]['std']:.2f}" for mode in ("stochastic", "deterministic")
    )


def _first_at(points: list[tuple[int, float]], level: float) -> str:
    step = next((s for s, r in points if r >= level), None)
    return f"{step:,}" if step is not None else "never"


def _events_line(run_dir: Path) -> str:
    events = read_events(run_dir)
    return ", ".join(f"`{e['detector']}` ({e['kind']}) at {e['step']:,}" for e in events) or "none"


def episode_windows(run_dir: Path) -> dict[int, np.ndarray]:
    """For each log point: the returns of the last 100 episodes then (from the checkpoint's episode record)."""
    record_ = torch.load(checkpoint_path(run_dir), weights_only=True)["log"]["episode_returns"]
    returns = np.asarray(record_, dtype=float)
    out = {}
    for point in read_metrics(run_dir):
        n = int(point.get("charts/episodes", 0))
        if n >= FINAL_RETURN_WINDOW:
            out[point["step"]] = returns[n - FINAL_RETURN_WINDOW : n]
    return out


def report_off_by_one(run_dir: Path, clean_dir: Path) -> list[str]:
    summary = json.loads((run_dir / "summary.json").read_text())
    bug, clean = curve(run_dir), curve(clean_dir)
    bug_windows, clean_windows = episode_windows(run_dir), episode_windows(clean_dir)
    below = [
        step
        for step in sorted(bug_windows)
        if step in clean_windows
        and stats.ttest_ind(bug_windows[step], clean_windows[step], equal_var=False, alternative="less").pvalue < ALPHA
    ]
    tested = [s for s in sorted(bug_windows) if s in clean_windows]
    stays_from = next((s for s in tested if all(t in set(below) for t in tested if t >= s)), None)
    write_curve_csv(OUT / "off_by_one.csv", {"clean": clean, "off_by_one_frames": bug})
    _plot(
        {"clean, seed 0": clean, "bug=off_by_one_frames (k = 1), seed 0": bug},
        OUT / "off_by_one.png",
        "Elhage's off-by-one frames at Pong scale",
        "A2C",
        events=read_events(run_dir),
    )
    firsts: dict[str, dict] = {}
    for e in read_events(run_dir):
        firsts.setdefault(e["detector"], e)
    rows = [f"| `{name}` | {e['kind']} | {e['step']:,} | {e['message']} |" for name, e in firsts.items()]
    clean_at = dict(clean)
    reached = summary["steps"]
    return [
        "# Elhage's bug at Pong scale: `bug=off_by_one_frames` (k = 1) against the clean run",
        "",
        "Command: `python scripts/pong_long_run.py run=off_by_one_frames minutes=...` "
        "(resumable; run directory `runs/pong_off_by_one`; both runs `env=pong seed=0`)",
        "",
        horizon_line(summary),
        "",
        f"Training return (last 100 episodes) at {reached:,} steps: {summary['final_return']:.2f} "
        f"(best {summary['best_return']:.2f}); the clean run at the same step: "
        f"{clean_at.get(bug[-1][0], float('nan')) if bug else float('nan'):.2f}.",
        f"Divergence step (first divergence-class event): {summary['divergence_step']}.",
        f"Return significantly below the clean run's (one-sided Welch test of the last 100 episodes at each "
        f"log point, p < {ALPHA}; {len(tested):,} log points tested, so expect a few chance hits): first at "
        f"{below[0] if below else 'never'}, and at every log point from {stays_from if stays_from else 'never'} "
        f"to the horizon ({len(below):,} points in all).",
        "",
        "First firing of each detector:",
        "",
        "| detector | kind | step | message |",
        "|---|---|---|---|",
        *(rows or ["| (none) | | | |"]),
        "",
        "Curve: `off_by_one.csv`, `off_by_one.png` (the bug's detector firings marked).",
    ]


def _plot(
    curves: dict[str, list[tuple[int, float]]], path: Path, title: str, algorithm: str, events: list | None = None
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, points in curves.items():
        if points:
            ax.plot(*zip(*points, strict=True), label=label)
    ax.plot(*zip(*BASELINES_A2C, strict=True), "o", color="tab:green", label="openai baselines a2c (its curve)")
    ax.errorbar([ZOO_A2C[0]], [ZOO_A2C[1]], yerr=[ZOO_A2C[2]], fmt="s", color="tab:red", label="zoo a2c at 10M")
    if algorithm == "PPO":
        ax.errorbar([ZOO_PPO[0]], [ZOO_PPO[1]], yerr=[ZOO_PPO[2]], fmt="D", color="tab:brown", label="zoo ppo at 10M")
    for e in events or []:
        ax.axvline(e["step"], color="tab:purple", alpha=0.3, lw=0.8)
    ax.set_xlabel("agent steps")
    ax.set_ylabel("mean return, last 100 episodes")
    ax.set_ylim(-21.5, 21.5)
    ax.set_title(f"{algorithm} on Pong: {title}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


TRAINERS = {"rl-lab": train_for, "sb3": train_sb3_for}


def main() -> None:
    args = OmegaConf.merge(
        OmegaConf.create({"run": "clean", "minutes": 60.0, "device": "cpu", "episodes": 64}), OmegaConf.from_cli()
    )
    if args.run not in RUNS:
        raise ConfigError(f"run={args.run!r} is invalid: valid choices are {', '.join(RUNS)}")
    run = RUNS[args.run]
    run_dir, state = ROOT / run.run_dir, OUT / run.state
    finished = is_finished(run_dir, state)
    if (args.minutes <= 0 or finished) and is_committed(OUT / run.report):
        raise ConfigError(
            f"run={args.run} would train nothing ({'finished' if finished else f'minutes={args.minutes}'}) "
            f"and only write its committed results again ({OUT / run.report}): "
            + ("it is done" if finished else "give minutes > 0 to continue it")
        )
    if not checkpoint_path(run_dir).exists() and state.exists():
        unpack(state, run_dir)
        print(f"unpacked {state} into {run_dir}")
    if args.minutes > 0:
        TRAINERS[run.trainer](run, run_dir, args.minutes, args.device)
    if not checkpoint_path(run_dir).exists():
        raise ConfigError(f"{run.run_dir} holds no checkpoint: run with minutes > 0 first")
    if not state.exists() or state.stat().st_mtime < checkpoint_path(run_dir).stat().st_mtime:
        pack(run_dir, state)
        print(f"run state: {state} ({state.stat().st_size / 2**20:.1f} MB)")
    if args.run == "clean":
        lines = report_clean(run_dir, args.episodes, args.device)
    elif run.trainer == "sb3":
        lines = report_sb3_beside_ppo(run, run_dir, unpacked(RUNS["ppo"]))
    else:
        clean_dir = unpacked(RUNS["clean"])
        if args.run == "off_by_one_frames":
            lines = report_off_by_one(run_dir, clean_dir)
        else:
            lines = report_beside_clean(args.run, run, run_dir, clean_dir, args.episodes, args.device)
    (OUT / run.report).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(run_script(main))
