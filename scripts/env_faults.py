"""Runs whose environment is at fault, seen from their own numbers: the learning detectors' false
alarms on fresh clean seeds and their power on dose series of env-side faults, at full length.

    python scripts/env_faults.py env=catch steps=100000     # 24 fault runs x 100k steps, ~20 min on 2 cores
    python scripts/env_faults.py env=cartpole               # 26 fault runs x 500k steps, ~35 min
    python scripts/env_faults.py algo=ppo env=cartpole      # PPO's: 27 fault runs x 100k steps (its budget)

Clean runs: the ``calibration``, ``evaluation`` and ``holdout`` seeds, shared with
``scripts/false_alarms.py`` under ``runs/clean/<name>_<steps>/`` (name: the env, or
``<algo>_<env>`` for another algorithm than A2C; the detectors' references come from its
calibration seeds only). Fault runs: every env-side bug of the zoo (seam ``wrap_env``) that
applies to the env, over a dose series, on the first ``evaluation_bugs`` seed, under
``runs/env_faults/<name>_<steps>/``: the generic faults (noise in place of the observation, noise
in half of it, the observation repeated, noise in the reward) and sticky actions at probabilities
0.05, 0.1, 0.2 and 0.5, and the other env-side bugs at the doses listed in ``DOSES``. Finished
runs are reused (``train=false`` reports the finished ones and lists the rest); every run is
replayed through today's detectors (``rl_lab.instruments.detectors.replay``).

Random play's return is measured here (``random_episodes`` episodes of uniform actions in the
env as configured). Writes ``results/detectors/env_faults_<name>.md``: the clean runs any learning
detector fired on (with the one-sided 95% upper bound), and per fault run its final return, its
improvement over random play against the clean calibration median's, the first learning event,
and whether any exact check fired. The goal it is measured against (issue 39): every run whose
improvement over random play is below 70% of clean's is flagged by half its budget.
"""

from __future__ import annotations

import functools
import json
import statistics
import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from rl_lab import bugs
from rl_lab.envs import make_envs
from rl_lab.instruments.detectors import CONSISTENCY, LEARNING, replay
from rl_lab.lab.check import rate_with_ci, upper_bound
from rl_lab.lab.runs import (
    RunSpec,
    algo_overrides,
    clean_name,
    clean_specs,
    result_path,
    run_script,
    train_missing,
    write_result,
)
from rl_lab.lab.seeds import seed_set
from rl_lab.run.runlog import read_metrics
from rl_lab.run.training import FINAL_STATUSES, build_detectors, compose_settings

ROOT = Path(__file__).resolve().parent.parent
PROBABILITIES = (0.05, 0.1, 0.2, 0.5)
DOSES = {"frame_skip_twice": (2, 4), "time_limit_twice": (100, 200, 400), "truncation_as_termination": (0.5, 1.0)}
GOAL_IMPROVEMENT, GOAL_LATENCY = 0.7, 0.5  # below 70% of clean's improvement over random: flagged by half the budget


def env_bugs(env: str) -> list[str]:
    """The zoo's env-side bugs that apply to ``env``."""
    registry = bugs.registry()
    return [n for n in bugs.zoo() if bugs.seams_of(registry[n]) == ("wrap_env",) and bugs.applies_to(registry[n], env)]


def series(env: str) -> dict[str, tuple[str, ...]]:
    """The fault runs: a name -> its ``rl_lab.train`` overrides."""
    return {
        f"{name} {dose:g}": (f"bug={name}", f"bug.{name}.dose={dose}")
        for name in env_bugs(env)
        for dose in DOSES.get(name, PROBABILITIES)
    }


def random_return(env_config: dict, episodes: int, seed: int = 0) -> float:
    """The mean return of uniform random actions over ``episodes`` episodes of the env."""
    envs = make_envs(env_config, 16)
    rng = np.random.default_rng(seed)
    envs.reset(seed=seed)
    returns, running = [], np.zeros(16)
    while len(returns) < episodes:
        _, reward, terminated, truncated, _ = envs.step(rng.integers(0, envs.single_action_space.n, 16))
        running += reward
        for i in np.flatnonzero(np.logical_or(terminated, truncated)):
            returns.append(running[i])
            running[i] = 0.0
    envs.close()
    return float(np.mean(returns[:episodes]))


def finished(spec: RunSpec) -> bool:
    """Whether a run has ended (finished or diverged), so its numbers are final."""
    summary = spec.run_dir / "summary.json"
    return summary.exists() and json.loads(summary.read_text())["status"] in FINAL_STATUSES


@functools.cache  # read once: the report asks for some runs' return several times
def final_return(spec: RunSpec) -> float:
    return json.loads((spec.run_dir / "summary.json").read_text())["final_return"]


def main() -> None:
    defaults = {"algo": "a2c", "env": "cartpole", "steps": None, "random_episodes": 1000, "train": True, "out": None}
    args = OmegaConf.merge(OmegaConf.create(defaults), OmegaConf.from_cli())
    runs_name = clean_name(args.algo, args.env)  # cartpole for A2C, ppo_cartpole for PPO
    out = result_path(ROOT / "results" / "detectors" / f"env_faults_{runs_name}.md", args.out)
    settings = compose_settings([*algo_overrides(args.algo), f"env={args.env}"])
    steps = args.steps or settings.total_steps
    base = (*algo_overrides(args.algo), f"env={args.env}", f"total_steps={steps}")
    fault_root = ROOT / "runs" / "env_faults" / f"{runs_name}_{steps}"
    clean = {
        seeds: clean_specs(ROOT / "runs", args.algo, args.env, steps, seed_set(seeds))
        for seeds in ("calibration", "evaluation", "holdout")
    }
    seed = seed_set("evaluation_bugs")[0]
    faults = {
        name: RunSpec((*base, *overrides, f"seed={seed}"), fault_root / name.replace(" ", "_") / f"seed{seed}")
        for name, overrides in series(args.env).items()
    }
    pending = []
    if not args.train:  # report the fault runs finished so far (a long series continues next session)
        pending = [name for name, spec in faults.items() if not finished(spec)]
        faults = {name: spec for name, spec in faults.items() if name not in pending}
    everything = [*clean["calibration"], *faults.values(), *clean["evaluation"], *clean["holdout"]]
    trained = train_missing(everything)
    bank = build_detectors(settings.diagnostics)
    kinds = {name: detector.kind for name, detector in bank.detectors.items()}

    def events(spec: RunSpec) -> dict[str, int]:
        first: dict[str, int] = {}
        for event in replay(read_metrics(spec.run_dir), build_detectors(settings.diagnostics)):
            first.setdefault(event.detector, event.step)
        return first

    def first_of(fired: dict[str, int], kind: str) -> tuple[str, int] | None:
        return min(((d, s) for d, s in fired.items() if kinds.get(d) == kind), key=lambda x: x[1], default=None)

    random = random_return(settings.env, args.random_episodes)
    median = statistics.median(final_return(spec) for spec in clean["calibration"])
    goal = random + GOAL_IMPROVEMENT * (median - random)
    fresh = clean["evaluation"] + clean["holdout"]
    alarms = {spec.run_dir.name: hit for spec in fresh if (hit := first_of(events(spec), LEARNING))}
    options = "".join(a + " " for a in algo_overrides(args.algo)) + f"env={args.env} steps={steps}"
    command = f"python scripts/env_faults.py {options}" + ("" if args.train else " train=false")
    lines = [
        f"# Env-side faults seen from the run's own numbers, on {runs_name} at {steps:,} steps",
        "",
        f"Command: `{command}` ({trained} runs trained by that call, {len(everything) - trained} reused). "
        f"Every learning detector of the default panel (`conf/diagnostics/default.yaml`, references from the "
        f"`calibration` seeds), replayed over each run's log points.",
        "",
        "## False alarms",
        "",
        f"Fresh clean runs (`evaluation` and `holdout` seeds, {len(fresh)} runs, full length): a learning detector "
        f"fired on **{len(alarms)}/{len(fresh)}** "
        f"(one-sided 95% upper bound {upper_bound(len(alarms), len(fresh)):.3f})"
        + ("." if not alarms else ": " + ", ".join(f"{s} (`{d}` at {t:,})" for s, (d, t) in alarms.items()) + "."),
        "",
        "## Power",
        "",
        f"Random play: {random:.3g} (mean of {args.random_episodes:,} episodes of uniform actions); clean calibration "
        f"median final return {median:.3g}. A run is in the goal when its improvement over random play is below "
        f"{GOAL_IMPROVEMENT:.0%} of the clean median's: a final return below {goal:.3g}; it should be flagged by "
        f"{GOAL_LATENCY:.0%} of the budget ({GOAL_LATENCY * steps:,.0f} steps). Seed {seed} (`evaluation_bugs`). "
        f"Fresh clean runs that end there too: {sum(final_return(spec) < goal for spec in fresh)}/{len(fresh)}.",
        "",
        "| fault | dose | final return | improvement, of clean's | in the goal | first learning event | of budget "
        "| exact checks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    goal_runs, flagged, missed, seen = 0, 0, [], 0
    for name, spec in faults.items():
        fired, ret = events(spec), final_return(spec)
        learning, exact = first_of(fired, LEARNING), first_of(fired, CONSISTENCY)
        in_goal = ret < goal
        on_time = learning is not None and learning[1] <= GOAL_LATENCY * steps
        goal_runs += in_goal
        flagged += in_goal and on_time
        seen += on_time
        if in_goal and not on_time:
            missed.append(name)
        fault, dose = name.split()
        improvement = (ret - random) / (median - random)
        lines.append(
            f"| `{fault}` | {dose} | {ret:.3g} | {improvement:.0%} | {'yes' if in_goal else 'no'} | "
            + ("-" if learning is None else f"`{learning[0]}` at {learning[1]:,}")
            + f" | {'-' if learning is None else f'{learning[1] / steps:.0%}'} | "
            + ("none" if exact is None else f"`{exact[0]}` at {exact[1]:,}")
            + " |"
        )
    lines += [
        "",
        f"Runs in the goal flagged by {GOAL_LATENCY:.0%} of the budget: **{rate_with_ci(flagged, goal_runs)}**.",
        "Missed: " + (", ".join(missed) if missed else "none") + ".",
        f"Every fault run, whatever its return, flagged by {GOAL_LATENCY:.0%} of the budget: "
        f"**{rate_with_ci(seen, len(faults))}**; by an exact check: none is expected (the checks compare the "
        "agent with its env).",
    ]
    if pending:
        lines += [
            "",
            f"Not run yet ({len(pending)}; `python scripts/env_faults.py {options}` trains them, "
            f"reusing every finished run): {', '.join(pending)}.",
        ]
    write_result(out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(run_script(main))
