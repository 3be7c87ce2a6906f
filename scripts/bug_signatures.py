"""Each zoo bug's signature on CartPole: its diagnostics against the clean agent's, one seed.

    python scripts/bug_signatures.py                      # 100k steps per run, 2 at a time, ~6 min on 2 cores
    python scripts/bug_signatures.py steps=60000 seed=1

Writes ``results/zoo/cartpole_signatures.md``: per run, the status, the medians of a few
diagnostics over the second half of the run, and each detector's first firing. Bugs that
need their own control (missing_eval_mode: dropout; entropy_sign_flip: an entropy bonus)
run next to a clean agent with the same settings. One seed: a map, not a statistical test
(the sweeps and the atlas do those).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from rl_lab import bugs
from rl_lab.lab.runs import result_path, run_script, write_result
from rl_lab.run.runlog import read_metrics

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = {
    "return": "charts/return_last100",
    "expl. var.": "value/explained_variance",
    "entropy/max": "policy/entropy_normalized",
    "grad norm": "grads/global_norm",
    "logits range": "policy/logits_range",
    "1st layer act.": "activations/policy_body.2/norm",
    "param norm": "params/global_norm",
    "min value": "value/values_min",
    "approx KL": "policy/approx_kl",
}
CONTROLS = {"missing_eval_mode": ["agent.model.dropout=0.2"], "entropy_sign_flip": ["agent.ent_coef=0.1"]}


def _runs() -> list[tuple[str, list[str]]]:
    runs = [("none", [])]
    for name in bugs.zoo():
        extra = CONTROLS.get(name, [])
        runs.append((name, [f"bug={name}", *extra]))
        if extra:
            runs.append((f"none ({' '.join(extra)})", extra))
    return runs


def _train(overrides: list[str], run_dir: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rl_lab.train",
            *overrides,
            "torch_threads=1",
            "progress=false",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def _row(label: str, run_dir: Path, steps: int) -> str:
    summary = json.loads((run_dir / "summary.json").read_text())
    half = [p for p in read_metrics(run_dir) if p["step"] > steps // 2]
    cells = []
    for key in COLUMNS.values():
        values = [p[key] for p in half if key in p and math.isfinite(p[key])]
        cells.append(f"{np.median(values):.3g}" if values else "-")
    fired = ", ".join(f"{k} @{v}" for k, v in summary["detectors"].items()) or "-"
    return f"| {label} | {summary['status']} | " + " | ".join(cells) + f" | {fired} |"


def main() -> None:
    args = OmegaConf.merge(
        OmegaConf.create({"steps": 100_000, "seed": 0, "jobs": 2, "out": None}), OmegaConf.from_cli()
    )
    out = result_path(ROOT / "results" / "zoo" / "cartpole_signatures.md", args.out)
    common = ["env=cartpole", f"total_steps={args.steps}", f"seed={args.seed}"]
    runs = _runs()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [Path(tmp) / f"run{i}" for i in range(len(runs))]
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda r: _train([*common, *r[0][1]], r[1]), zip(runs, dirs, strict=True)))
        rows = [_row(label, d, args.steps) for (label, _), d in zip(runs, dirs, strict=True)]
    command = f"python scripts/bug_signatures.py steps={args.steps} seed={args.seed}"
    lines = [
        "# Bug signatures on CartPole-v1",
        "",
        f"Command: `{command}`",
        "",
        f"One seed ({args.seed}), {args.steps} agent steps per run; each cell is the median over the second half",
        "of the run. Detectors: first firing step.",
        "",
        "| run | status | " + " | ".join(COLUMNS) + " | detectors fired |",
        "|---|---|" + "---|" * len(COLUMNS) + "---|",
        *rows,
    ]
    write_result(out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(run_script(main))
