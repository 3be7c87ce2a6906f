"""Cost of the diagnostics on Pong: steps/s with the panel off and on at the default interval.

    python scripts/bench_diagnostics.py                # >= 3 repeats x 24,000 steps x 2, ~2 min a repeat on 2 cores

Same run (env=pong, seed 0) twice per repeat, each in a fresh process, order alternating.
"On" is the default config: the full panel and every detector at each log point
(log_interval agent steps). "Off" is diagnostics.enabled=false: losses and episode
statistics only, at the same interval. Goal: at most 5% cost. The cost is taken per repeat
(a pair measured side by side) and printed with its 95% interval; repeats go on (up to
``max_repeats``) until that interval is within ``precision`` of the speed ratio.
"""

from __future__ import annotations

import json

from omegaconf import OmegaConf

CONTESTANTS = {"diagnostics_off": ["diagnostics.enabled=false"], "diagnostics_on": []}


def main() -> None:
    defaults = {"steps": 24_000, "repeats": 3, "precision": 0.02, "max_repeats": 8, "only": None}
    args = OmegaConf.merge(OmegaConf.create(defaults), OmegaConf.from_cli())
    from rl_lab.lab.benchmark import compare, paired_ratio, rl_lab_sps

    if args.only:  # child process: one measurement, printed as JSON
        print(json.dumps({"sps": rl_lab_sps(["env=pong", *CONTESTANTS[args.only]], args.steps)}))
        return
    print(
        f"command: python scripts/bench_diagnostics.py steps={args.steps} repeats={args.repeats} "
        f"precision={args.precision} max_repeats={args.max_repeats}"
    )
    pair = ("diagnostics_on", "diagnostics_off")
    results = compare(
        __file__, list(CONTESTANTS), args.steps, args.repeats, None, pair, args.precision, args.max_repeats
    )
    ratio, low, high = paired_ratio(results[pair[0]], results[pair[1]])
    print(
        f"cost of diagnostics at the default interval: {100 * (1 - ratio):.1f}% of steps/s "
        f"[95% CI {100 * (1 - high):.1f}%, {100 * (1 - low):.1f}%] over {len(results[pair[0]])} paired repeats "
        "(goal: at most 5%)"
    )


if __name__ == "__main__":
    main()
