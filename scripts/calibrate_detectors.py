"""How close clean runs come to each detector's threshold: the margin behind "the clean agent raises no alarm".

    python scripts/calibrate_detectors.py                    # CartPole, seeds 0-2, 500k steps, ~4 min on 2 cores
    python scripts/calibrate_detectors.py seeds=10 steps=100000

Trains the clean agent on several seeds (two at a time), then for each detector prints the
statistic its rule tests, at its most extreme over every clean run, next to the default
threshold (windows of log points: 1,000 steps apart at the default log_interval); and the
events the default detectors fired. Writes
``results/detectors/clean_<env>_calibration.txt``.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from omegaconf import OmegaConf

from rl_lab.lab.runs import result_path, run_script, write_result
from rl_lab.run.runlog import read_events, read_metrics

ROOT = Path(__file__).resolve().parent.parent


def _finite(points, key):
    return [p[key] for p in points if key in p and math.isfinite(p[key])]


def _return_scale(p):
    return max(abs(p.get("value/returns_min", 0.0)), abs(p.get("value/returns_max", 0.0))) + 1.0


def extremes(points: list[dict]) -> dict[str, float]:
    grads = _finite(points, "grads/global_norm")
    spikes = [grads[i] / statistics.median(grads[max(0, i - 50) : i]) for i in range(10, len(grads))]
    ev = _finite(points, "value/explained_variance")
    ev_medians = [statistics.median(ev[i - 10 : i]) for i in range(10, len(ev) + 1)]
    norms = _finite(points, "params/global_norm")
    return {
        "loss_explosion: max value loss / (max|return| + 1)^2  [threshold 10, for 2,000 steps]": max(
            p["losses/value"] / _return_scale(p) ** 2 for p in points
        ),
        "grad_spikes: max gradient norm / running median of 50 points  [threshold 100, 3 in 50,000 steps]": max(spikes),
        "param_norm_growth: max parameter norm / first  [threshold 3]": max(norms) / norms[0],
        "value_divergence: min 10-point median explained variance  [threshold -2 over 10,000 steps]": min(ev_medians),
        "value_divergence: max max|value| / (max|return| + 1)  [threshold 10]": max(
            max(abs(p["value/values_min"]), abs(p["value/values_max"])) / _return_scale(p) for p in points
        ),
        "entropy_collapse: min entropy / log(n_actions)  [threshold 0.02, for 4,000 steps]": min(
            _finite(points, "policy/entropy_normalized")
        ),
    }


def main() -> None:
    args = OmegaConf.merge(
        OmegaConf.create({"env": "cartpole", "seeds": 3, "steps": 500_000, "jobs": 2, "out": None}),
        OmegaConf.from_cli(),
    )
    out = result_path(ROOT / "results" / "detectors" / f"clean_{args.env}_calibration.txt", args.out)
    command = f"python scripts/calibrate_detectors.py env={args.env} seeds={args.seeds} steps={args.steps}"
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [Path(tmp) / f"seed{s}" for s in range(args.seeds)]

        def run(seed: int) -> None:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "rl_lab.train",
                    f"env={args.env}",
                    f"seed={seed}",
                    f"total_steps={args.steps}",
                    "torch_threads=1",
                    "progress=false",
                    f"hydra.run.dir={dirs[seed]}",
                ],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )

        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(run, range(args.seeds)))
        per_seed = [extremes(read_metrics(d)) for d in dirs]
        events = {s: [(e["detector"], e["step"]) for e in read_events(d)] for s, d in enumerate(dirs)}
        finals = [json.loads((d / "summary.json").read_text())["final_return"] for d in dirs]
    lines = [
        f"command: {command}",
        f"clean {args.env}, seeds 0-{args.seeds - 1}, {args.steps} steps each",
        f"final returns (last 100 episodes): {', '.join(f'{r:.1f}' for r in finals)}",
        "",
        "most extreme value over all clean runs (per seed in brackets):",
    ]
    for key in per_seed[0]:
        values = [s[key] for s in per_seed]
        worst = min(values) if "min " in key else max(values)
        lines.append(f"  {key}: {worst:.3g}  [{', '.join(f'{v:.3g}' for v in values)}]")
    lines += ["", "detector events fired by the default detectors:"]
    lines += [f"  seed {s}: {ev if ev else 'none'}" for s, ev in events.items()]
    write_result(out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(run_script(main))
