"""Cost of the diagnostics on Pong: steps/s with the panel off and on at the default interval.

    python scripts/bench_diagnostics.py                # 3 repeats x 24,000 steps x 2, ~6 min on 2 cores

Same run (env=pong, seed 0) twice per repeat, each in a fresh process, order alternating.
"On" is the default config: the full panel and every detector at each log point
(log_interval agent steps). "Off" is diagnostics.enabled=false: losses and episode
statistics only, at the same interval. Goal: at most 5% cost.
"""

from __future__ import annotations

import json

from omegaconf import OmegaConf

CONTESTANTS = {"diagnostics_off": ["diagnostics.enabled=false"], "diagnostics_on": []}


def main() -> None:
    args = OmegaConf.merge(OmegaConf.create({"steps": 24_000, "repeats": 3, "only": None}), OmegaConf.from_cli())
    from rl_lab.lab.benchmark import compare, rl_lab_sps

    if args.only:  # child process: one measurement, printed as JSON
        print(json.dumps({"sps": rl_lab_sps(["env=pong", *CONTESTANTS[args.only]], args.steps)}))
        return
    print(f"command: python scripts/bench_diagnostics.py steps={args.steps} repeats={args.repeats}")
    medians = compare(__file__, list(CONTESTANTS), args.steps, args.repeats)
    cost = 1 - medians["diagnostics_on"] / medians["diagnostics_off"]
    print(f"cost of diagnostics at the default interval: {100 * cost:.1f}% of steps/s (goal: at most 5%)")


if __name__ == "__main__":
    main()
