"""The clean envelope of an environment: how low a clean run ever is at each step, on the
calibration seeds (``conf/seeds.yaml``), for the ``BelowEnvelope`` detectors.

    python scripts/calibrate_envelope.py env=cartpole            # 10 seeds x 500k steps, ~15 min on 2 cores
    python scripts/calibrate_envelope.py env=catch steps=100000

Trains the clean agent on the ``calibration`` seed set at ``steps`` (default: the env's budget;
finished runs under ``runs/clean/<env>_<steps>/`` are reused), then for the return and the
explained variance (a median over ``smooth_steps``, as the detector reads it) takes, at each
log point, the lowest value of any calibration run; buckets of ``bucket`` log points keep their
lowest. Writes ``conf/envelopes/<env>.yaml`` (read by ``rl_lab.instruments.detectors.BelowEnvelope``)
with ``patience_steps`` = ``patience`` x ``steps``, and prints how often each calibration run was
below the envelope (by construction never, bar the smoothing). The false-alarm rate is measured
on other seeds: ``scripts/false_alarms.py``.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from rl_lab.instruments.detectors import _Windowed
from rl_lab.lab.runs import RunSpec, train_missing
from rl_lab.lab.seeds import seed_set
from rl_lab.run.config import CONFIG_DIR
from rl_lab.run.runlog import read_metrics
from rl_lab.run.training import compose_settings

ROOT = Path(__file__).resolve().parent.parent
METRICS = {"charts/return_last100": 0, "value/explained_variance": 10_000}  # metric -> smooth_steps


def smoothed(points: list[dict], metric: str, smooth_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The metric's median over the last ``smooth_steps`` at each log point, read exactly as the
    detector reads it (its window: :class:`rl_lab.instruments.detectors._Windowed`)."""
    window = _Windowed(metric, smooth_steps)
    steps, values = [], []
    for point in points:
        if window._push(point["step"], point) is not None:
            steps.append(point["step"])
            values.append(statistics.median(window._values()))
    return np.asarray(steps), np.asarray(values, dtype=float)


def main() -> None:
    args = OmegaConf.merge(
        OmegaConf.create({"env": "cartpole", "steps": None, "seeds": "calibration", "bucket": 5, "patience": 0.1}),
        OmegaConf.from_cli(),
    )
    steps = args.steps or compose_settings([f"env={args.env}"]).total_steps
    seeds = seed_set(args.seeds)
    root = ROOT / "runs" / "clean" / f"{args.env}_{steps}"
    specs = [RunSpec((f"env={args.env}", f"seed={s}", f"total_steps={steps}"), root / f"seed{s}") for s in seeds]
    trained = train_missing(specs)
    points = [read_metrics(spec.run_dir) for spec in specs]
    command = f"python scripts/calibrate_envelope.py env={args.env} steps={steps}"
    metrics = {}
    for metric, smooth in METRICS.items():
        series = [smoothed(p, metric, smooth) for p in points]
        grid = sorted(set.intersection(*(set(s.tolist()) for s, _ in series)))
        lows = np.min([np.interp(grid, s, v) for s, v in series], axis=0)
        buckets = range(0, len(grid), args.bucket)
        metrics[metric] = {
            "smooth_steps": smooth,
            "steps": [int(grid[i]) for i in buckets],
            "low": [round(float(lows[i : i + args.bucket].min()), 6) for i in buckets],
        }
    envelope = {
        "provenance": f"{command}: clean runs on seeds {seeds} ({args.seeds}), {steps:,} steps each",
        "detector": {"patience_steps": int(args.patience * steps)},
        "metrics": metrics,
    }
    out = CONFIG_DIR / "envelopes" / f"{args.env}.yaml"
    out.parent.mkdir(exist_ok=True)
    out.write_text(f"# Written by {command}; do not edit.\n" + OmegaConf.to_yaml(OmegaConf.create(envelope)))
    print(f"{trained} runs trained, {len(specs) - trained} reused under {root}")
    for metric, data in metrics.items():
        print(f"{metric}: {len(data['steps'])} points, low from {data['low'][0]:.3g} to {data['low'][-1]:.3g}")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
