"""Measure the diagnoser on mystery runs: top-1 and top-3 accuracy, and its clean-run false alarms.

    python scripts/diagnoser_accuracy.py                       # fast tier: CartPole and Catch, 3 runs per answer
    python scripts/diagnoser_accuracy.py envs=[cartpole] per_answer=2 out=/tmp/mystery
    python scripts/diagnoser_accuracy.py tier=ppo_fast out=multirun/mystery_ppo report=results/diagnoser/accuracy_ppo.md

For every possible answer of ``bug=mystery`` (each zoo bug in its pool, and "none"; the pool of the
tier's algorithm), the first ``per_answer`` mystery numbers that plant it are trained with the tier's budget on
training seeds the golden signatures never saw (the i-th number of each answer on ``seed`` + i,
default the first of the ``mystery`` seed set, ``conf/seeds.yaml``), as one Hydra multirun per repeat.
Each run is then diagnosed blind (``rl_lab.diagnose``, against ``results/atlas/<tier>/golden.json``)
and compared with what ``rl_lab.reveal`` says it planted. Writes
``results/diagnoser/accuracy.md``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from omegaconf import OmegaConf
from rl_lab.bugs.mystery import CLEAN, pick, pool

from rl_lab.lab.atlas import TierSettings, load_tier
from rl_lab.lab.check import rate_with_ci
from rl_lab.lab.diagnose import env_signatures, load_run, rank
from rl_lab.lab.reveal import planted
from rl_lab.lab.runs import result_path, run_script, write_result
from rl_lab.lab.seeds import seed_set

ROOT = Path(__file__).resolve().parent.parent


def numbers_for(algorithm: str, per_answer: int) -> list[list[int]]:
    """The first ``per_answer`` mystery numbers that plant each answer of ``algorithm``'s pool, as
    ``per_answer`` lists: the i-th list holds each answer's i-th number."""
    answers = pool(algorithm)
    found: dict[str, list[int]] = defaultdict(list)
    n = 0
    while any(len(found[a]) < per_answer for a in answers):
        name = pick(n, algorithm)[0]
        if len(found[name]) < per_answer:
            found[name].append(n)
        n += 1
    return [sorted(found[a][i] for a in answers) for i in range(per_answer)]


def main(argv: list[str]) -> int:
    args = OmegaConf.merge(
        OmegaConf.create(
            {
                "envs": ["cartpole", "catch"],
                "per_answer": 3,
                "seed": seed_set("mystery")[0],
                "tier": "fast",
                "train": True,
                "out": str(ROOT / "multirun" / "mystery"),
                "report": None,
            }
        ),
        OmegaConf.from_dotlist(argv),
    )
    report = result_path(ROOT / "results" / "diagnoser" / "accuracy.md", args.report, "report")
    tier = load_tier(TierSettings(tier=args.tier))
    golden = json.loads((ROOT / "results" / "atlas" / args.tier / "golden.json").read_text())
    started = time.perf_counter()
    # repeat i trains each answer's i-th number on seed + i: two numbers can plant the same bug and
    # dose, and on one seed they would be the same run
    algo = [] if tier.algo == "a2c" else [f"algo={tier.algo}"]  # as the atlas names its jobs
    for i, numbers in enumerate(numbers_for(tier.algo, args.per_answer) if args.train else []):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "rl_lab.train",
                "-m",
                *algo,
                "bug=mystery",
                f"bug.mystery.dose={','.join(map(str, numbers))}",
                f"env={','.join(args.envs)}",
                f"seed={args.seed + i}",
                f"total_steps={tier.total_steps}",
                *tier.overrides,
                *tier.launcher,
                f"hydra.sweep.dir={args.out}",
            ],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    wall = time.perf_counter() - started

    rows = []
    for run_dir in sorted(p.parent for p in Path(args.out).glob("*/summary.json")):
        job = load_run(run_dir)
        truth = planted(run_dir)[0]
        ranked = [c.name for c in rank(job, env_signatures(golden, job))[0]]
        rows.append((job.env, truth, ranked[0], truth in ranked[:3]))
    lines = [
        "# The diagnoser on mystery runs",
        "",
        f"Command: `python scripts/diagnoser_accuracy.py{''.join(' ' + a for a in argv)}`",
        "",
        f"{len(rows)} mystery runs of `algo={tier.algo}` ({args.per_answer} per possible answer and environment: the "
        f"{len(pool(tier.algo)) - 1} zoo bugs of its mystery pool and no bug), {tier.total_steps:,} agent steps each, "
        "the i-th run of each "
        f"answer on training seed {args.seed} + i (the golden signatures come from seeds 0-9); "
        + (f"{wall:.0f} s to train." if args.train else f"trained earlier into `{os.path.relpath(args.out, ROOT)}`.")
        + " Each run diagnosed "
        f"blind with `python -m rl_lab.diagnose RUN_DIR` against `results/atlas/{args.tier}/golden.json`.",
        "",
        "| env | runs with a bug | top-1 | top-3 | clean runs | false alarms (a bug named) |",
        "|---|---|---|---|---|---|",
    ]
    for env in [*args.envs, "all"]:
        sub = [r for r in rows if env in ("all", r[0])]
        bugged = [r for r in sub if r[1] != CLEAN]
        clean = [r for r in sub if r[1] == CLEAN]
        top1 = sum(r[2] == r[1] for r in bugged)
        top3 = sum(r[3] for r in bugged)
        alarms = sum(r[2] != CLEAN for r in clean)
        lines.append(
            f"| {env} | {len(bugged)} | {rate_with_ci(top1, len(bugged), 2)} | {rate_with_ci(top3, len(bugged), 2)} | "
            f"{len(clean)} | {rate_with_ci(alarms, len(clean), 2)} |"
        )
    lines += [
        "",
        "Per planted answer (top-1 verdicts over its runs, both environments):",
        "",
        "| planted | verdicts |",
        "|---|---|",
    ]
    by_truth: dict[str, list[str]] = defaultdict(list)
    for env, truth, top, _ in rows:
        by_truth[truth].append(f"{env}: {top}")
    lines += [f"| {truth} | {', '.join(v)} |" for truth, v in sorted(by_truth.items())]
    write_result(report, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, sys.argv[1:]))
