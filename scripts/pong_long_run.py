"""The long Pong run, as one resumable command: start it, or continue it, for a wall-clock budget.

    python scripts/pong_long_run.py minutes=60               # this machine: start or continue runs/pong_long
    python scripts/pong_long_run.py minutes=600 device=cuda  # on a GPU machine (copy runs/pong_long there and back)
    python scripts/pong_long_run.py minutes=0                # only evaluate and write the results again

The run's state travels between machines and sessions as one file, ``state`` (default
``results/known_result/pong/long_run_state.tar.gz``: the run directory without TensorBoard's
events, about 20 MB, replaced each time): it is unpacked when ``run_dir`` holds no checkpoint,
and written again after every training session.

Trains ``python -m rl_lab.train env=pong`` (the zoo's Atari hyperparameters, 10M-step
budget) in ``run_dir``; if the directory holds a checkpoint it resumes from it. After
``minutes`` it interrupts the run (Ctrl-C: the run writes its checkpoint and summary),
evaluates the last checkpoint with ``rl_lab.evaluate`` (stochastic and deterministic
policy), and writes ``results/known_result/pong/``: the training curve (CSV, PNG) against
the published references, and ``long_run.md`` naming the horizon actually reached.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from omegaconf import OmegaConf

from rl_lab.run.checkpoint import checkpoint_path
from rl_lab.run.evaluation import evaluate
from rl_lab.run.runlog import read_metrics

ROOT = Path(__file__).resolve().parent.parent
# openai baselines' a2c on Pong (6 runs): crosses 0 near 3.1M steps, +10 near 4M, +18 near 7.8M
BASELINES_A2C = [(3_100_000, 0.0), (4_000_000, 10.0), (7_800_000, 18.0)]
ZOO_A2C = (10_000_000, 17.29, 3.21)  # rl-baselines3-zoo benchmark: mean +- std, stochastic evaluation


def train_for(run_dir: Path, minutes: float, device: str) -> None:
    if checkpoint_path(run_dir).exists():
        command = ["-m", "rl_lab.train", f"resume={run_dir}", "progress=false"]
    else:
        command = [
            "-m",
            "rl_lab.train",
            "env=pong",
            "seed=0",
            f"device={device}",
            "progress=false",
            f"hydra.run.dir={run_dir}",
        ]
    process = subprocess.Popen([sys.executable, *command], cwd=ROOT)
    try:
        process.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # the run checkpoints and writes its summary
        process.wait()


STATE_FILES = ("config.yaml", "overrides.yaml", "summary.json", "metrics.jsonl", "events.jsonl", "checkpoints/last.pt")


def pack(run_dir: Path, state: Path) -> None:
    """The run directory (TensorBoard's events left out: metrics.jsonl holds the same series) in one file."""
    tmp = state.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for name in STATE_FILES:
            if (run_dir / name).exists():
                tar.add(run_dir / name, arcname=name)
    tmp.replace(state)


def unpack(state: Path, run_dir: Path) -> None:
    with tarfile.open(state) as tar:
        tar.extractall(run_dir, filter="data")


def main() -> None:
    args = OmegaConf.merge(
        OmegaConf.create(
            {
                "minutes": 60.0,
                "run_dir": "runs/pong_long",
                "device": "cpu",
                "episodes": 16,
                "state": "results/known_result/pong/long_run_state.tar.gz",
            }
        ),
        OmegaConf.from_cli(),
    )
    run_dir, state = (ROOT / args.run_dir).resolve(), ROOT / args.state
    if not checkpoint_path(run_dir).exists() and state.exists():
        unpack(state, run_dir)
        print(f"unpacked {state} into {run_dir}")
    if args.minutes > 0:
        train_for(run_dir, args.minutes, args.device)
        pack(run_dir, state)
        print(f"run state: {state} ({state.stat().st_size / 2**20:.1f} MB)")
    if not checkpoint_path(run_dir).exists():
        raise SystemExit(f"run_dir={str(run_dir)!r} holds no checkpoint: run with minutes > 0 first")
    summary = json.loads((run_dir / "summary.json").read_text())
    started = time.perf_counter()
    result = evaluate(run_dir, args.episodes)
    eval_wall = time.perf_counter() - started
    points = [(p["step"], p["charts/return_last100"]) for p in read_metrics(run_dir) if "charts/return_last100" in p]

    out = ROOT / "results" / "known_result" / "pong"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "long_run.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "return_last100"])
        writer.writerows(points[:: max(1, len(points) // 500)])
    _plot(points, out / "long_run.png")
    stochastic, deterministic = result["stochastic"], result["deterministic"]
    reached = summary["steps"]
    lines = [
        "# The long Pong run: rl-lab A2C on ale-py's vector env (`env=pong`)",
        "",
        f"Command: `python scripts/pong_long_run.py minutes=...` (resumable; run directory `{args.run_dir}`)",
        "",
        f"**Horizon reached: {reached:,} of {summary['total_steps']:,} agent steps** "
        f"({reached / summary['total_steps']:.1%}), {summary['wall_time_s'] / 3600:.2f} h of training wall time, "
        f"status `{summary['status']}`, device `{args.device}`.",
        "",
        f"Training return (mean of the last 100 episodes) at {reached:,} steps: {summary['final_return']:.2f}; "
        f"best {summary['best_return']:.2f}.",
        f"Evaluation of the last checkpoint, {args.episodes} episodes each ({eval_wall:.0f} s): "
        f"stochastic {stochastic['mean']:.2f} +- {stochastic['std']:.2f}, "
        f"deterministic {deterministic['mean']:.2f} +- {deterministic['std']:.2f}.",
        "",
        "Published references (not reached unless the horizon above says so): openai baselines' a2c "
        "crosses 0 near 3.1M steps, +10 near 4M, +18 near 7.8M; rl-baselines3-zoo's a2c scores "
        f"{ZOO_A2C[1]} +- {ZOO_A2C[2]} after 10M steps (stochastic evaluation).",
        "",
        "Curve: `long_run.csv`, `long_run.png` (the references drawn as points).",
    ]
    (out / "long_run.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _plot(points: list[tuple[int, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if points:
        ax.plot(*zip(*points, strict=True), label="rl-lab, seed 0 (training episodes)")
    ax.plot(*zip(*BASELINES_A2C, strict=True), "o", color="tab:green", label="openai baselines a2c (its curve)")
    ax.errorbar([ZOO_A2C[0]], [ZOO_A2C[1]], yerr=[ZOO_A2C[2]], fmt="s", color="tab:red", label="zoo a2c at 10M")
    ax.set_xlabel("agent steps")
    ax.set_ylabel("mean return, last 100 episodes")
    ax.set_ylim(-21.5, 21.5)
    ax.set_title("A2C on Pong: the long run against published references")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
