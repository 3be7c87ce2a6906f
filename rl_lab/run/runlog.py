"""What a run writes: TensorBoard events, a metrics file with the same series,
a run summary, and a live status line on the console.

Layout of a run directory::

    config.yaml        the resolved config the run started with
    tb/                TensorBoard event files (``tensorboard --logdir <run>/tb``)
    metrics.jsonl      one JSON object per log point: {"step": ..., "<group>/<name>": value, ...}
                       (non-finite values are written as NaN / Infinity, as Python's json reads them)
    events.jsonl       one JSON object per detector firing: step, detector, kind, metric, value, threshold
    summary.json       status, steps, wall time, final and best return; rewritten at every log point
    checkpoints/last.pt
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from rl_lab.instruments.detectors import Event

FINAL_RETURN_WINDOW = 100  # episodes in the "final return" mean, as SB3's ep_info_buffer


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float) + "\n")
    os.replace(tmp, path)


def write_jsonl_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    """One JSON object per line, via a temporary file and rename (as :func:`write_json_atomic`)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows))
    os.replace(tmp, path)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def read_metrics(run_dir: Path | str) -> list[dict[str, float]]:
    """All log points of a run, oldest first."""
    return _read_jsonl(Path(run_dir) / "metrics.jsonl")


def read_events(run_dir: Path | str) -> list[dict[str, Any]]:
    """All detector firings of a run, oldest first."""
    return _read_jsonl(Path(run_dir) / "events.jsonl")


class RunLog:
    """Writes every scalar to TensorBoard and to ``metrics.jsonl``; keeps the episode record."""

    def __init__(self, run_dir: Path, total_steps: int, start_step: int, progress: bool):
        self.run_dir = run_dir
        self.metrics_path, self.events_path = run_dir / "metrics.jsonl", run_dir / "events.jsonl"
        if start_step > 0:  # resumed: drop what came after the checkpoint
            for path in (self.metrics_path, self.events_path):
                if path.exists():
                    kept = [
                        line
                        for line in path.read_text().splitlines()
                        if line.strip() and json.loads(line)["step"] <= start_step
                    ]
                    path.write_text("".join(line + "\n" for line in kept))
        self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=start_step if start_step > 0 else None)
        self.metrics_file = self.metrics_path.open("a")
        self.events_file = self.events_path.open("a")
        self.bar = tqdm(
            total=total_steps,
            initial=start_step,
            disable=not progress,
            unit="step",
            dynamic_ncols=True,
            mininterval=1.0,
            smoothing=0.1,
        )
        self.episode_returns: list[float] = []
        self.unlogged: list[tuple[float, int]] = []  # (return, length) of episodes ended since the last log point
        self.best_return = -math.inf

    def add_episodes(self, episodes: list[tuple[float, int]]) -> None:
        self.episode_returns.extend(ret for ret, _ in episodes)
        self.unlogged.extend(episodes)

    def take_unlogged(self) -> list[tuple[float, int]]:
        """The episodes ended since the last log point (then none are)."""
        ended, self.unlogged = self.unlogged, []
        return ended

    @property
    def final_return(self) -> float:
        recent = self.episode_returns[-FINAL_RETURN_WINDOW:]
        return sum(recent) / len(recent) if recent else math.nan

    def log(self, step: int, scalars: dict[str, float], events: list[Event] = (), model: nn.Module | None = None):
        """One log point: every scalar, every detector firing, and histograms when given a model."""
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, step)
        self.metrics_file.write(json.dumps({"step": step, **scalars}) + "\n")
        self.metrics_file.flush()
        for event in events:
            self.writer.add_scalar(f"detectors/{event.detector}", event.value, step)
            self.writer.add_text("detectors", f"step {step}: **{event.detector}** ({event.kind}) {event.message}", step)
            self.events_file.write(json.dumps(event.to_dict()) + "\n")
            self.bar.write(f"[step {step}] detector {event.detector} fired: {event.message}")
        self.events_file.flush()
        if model is not None:
            for name, p in model.named_parameters():
                self.writer.add_histogram(f"params/{name}", p.detach(), step)
                if p.grad is not None:
                    self.writer.add_histogram(f"grads/{name}", p.grad.detach(), step)
        if not math.isnan(self.final_return):
            self.best_return = max(self.best_return, self.final_return)
        self.bar.set_postfix_str(
            f"return(last {FINAL_RETURN_WINDOW}) {self.final_return:.1f}  "
            f"sps {scalars.get('charts/sps', math.nan):.0f}",
            refresh=False,
        )

    def advance(self, n_steps: int) -> None:
        self.bar.update(n_steps)

    def state_dict(self) -> dict[str, Any]:
        return {
            "episode_returns": list(self.episode_returns),
            "unlogged": [list(episode) for episode in self.unlogged],
            "best_return": self.best_return,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.episode_returns = list(state["episode_returns"])
        self.unlogged = [(float(ret), int(length)) for ret, length in state.get("unlogged", [])]
        self.best_return = state["best_return"]

    def close(self) -> None:
        self.bar.close()
        self.writer.flush()
        self.writer.close()
        self.metrics_file.close()
        self.events_file.close()
