"""Run one tier of the bug atlas: the zoo x seeds x doses, with clean controls.

usage: python -m rl_lab.atlas [tier=fast] [out=DIR] [any field of the tier file=VALUE]

    python -m rl_lab.atlas tier=ci                                  # the regression tier, ~1 min
    python -m rl_lab.atlas tier=ppo_ci                              # PPO's regression tier, ~1 min
    python -m rl_lab.atlas tier=fast                                # conf/atlas/fast.yaml -> multirun/atlas/fast
    python -m rl_lab.atlas tier=fast seeds=[10,11,12] out=/tmp/atlas
    python -m rl_lab.report multirun/atlas/fast                     # then: the report and golden signatures
    python -m rl_lab.check multirun/atlas/fast                      # ... and the regression check

settings:
    tier          a file of conf/atlas/ (ci, fast, fast_evaluation, pong, ppo_ci)
    algo          the algorithm every job trains (conf/algo/: a2c, ppo; default the tier's, else a2c)
    out           the sweep directory (default multirun/atlas/<tier>)
    envs, total_steps, seeds, clean_seeds, bugs, doses, overrides, launcher
                  override the tier file's fields (see conf/atlas/fast.yaml)

Every job is composed and range-checked before the first starts; a failed job does not stop
the others; running a tier again into the same directory skips its finished jobs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from rl_lab.cli import fail, parse
from rl_lab.lab.atlas import TierSettings, benchmark_line, load_tier, multiruns, run_tier
from rl_lab.run.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    args = parse(TierSettings, sys.argv[1:] if argv is None else argv, __doc__, "rl_lab.atlas")
    try:
        tier = load_tier(args)
        runs = multiruns(tier)
    except ConfigError as error:
        fail("rl_lab.atlas", str(error))
    out = Path(tier.out)
    try:
        walls = run_tier(tier, out, runs)
    except ConfigError as error:
        fail("rl_lab.atlas", str(error))
    from rl_lab.lab.sweep import sweep_jobs

    counts = {"zoo": 0, "clean": 0, "doses": 0}
    for part, run in runs:
        counts[part] += len(sweep_jobs(run))
    benchmark = {
        "walls_s": {k: round(v, 1) for k, v in walls.items() if k != "trained"},
        "runs": counts,
        "runs_trained": walls["trained"],
        "cpu_count": os.cpu_count(),
    }
    (out / "benchmark.json").write_text(json.dumps(benchmark, indent=1))
    print(f"tier {args.tier}: {out}: {benchmark_line(benchmark)}")
    print(f"next: python -m rl_lab.check {out}   (against the committed golden signatures)")
    print(f"      python -m rl_lab.report {out}  (its report and golden signatures, into {out / 'report'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
