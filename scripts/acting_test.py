"""The acting test's power: how soon ``acting_distribution`` flags actions that are not a draw from
the acting policy, by dose (issue 36).

    python scripts/acting_test.py                    # CartPole 100k and Catch 30k, 3 seeds x 5 departures each, ~20 min
    python scripts/acting_test.py envs=[catch] seeds=evaluation_bugs out=/tmp/acting_test.md

Two departures from "each action is sampled from the policy that chose it", each a zoo bug:
uniform actions mixed in at a rate (``epsilon_exploration``, doses 0.01, 0.02, 0.05 and 0.1), and
actions drawn from the previous step's policy (``previous_step_policy``, dose 1). Each runs on
every seed of the set (default ``evaluation_bugs``, seeds no threshold was set on) for the env's
budget (the goal of the issue: a mix rate of 0.05 flagged within 100,000 steps on CartPole and
30,000 on Catch). The detector's threshold is not fitted to anything: it is Ville's bound for an
e-process, log10 e-value >= 5 (a false-alarm probability of at most 1e-5 per run, any length).
The false alarms on clean runs at full length are measured by ``scripts/false_alarms.py``, which
replays every detector, this one among them. Finished runs under ``runs/acting_test/`` are reused.
Writes ``results/acting_test/power.md`` and ``power.png`` (the share of seeds flagged by each step).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

from rl_lab.lab.check import rate_with_ci
from rl_lab.lab.runs import RunSpec, result_path, run_script, train_missing, write_result
from rl_lab.lab.seeds import seed_set
from rl_lab.run.config import ConfigError
from rl_lab.run.runlog import read_events

ROOT = Path(__file__).resolve().parent.parent
DETECTOR = "acting_distribution"
BUDGETS = {"cartpole": 100_000, "catch": 30_000}  # the goal for a mix rate of 0.05
DEPARTURES = [
    ("uniform mix", "epsilon_exploration", 0.01),
    ("uniform mix", "epsilon_exploration", 0.02),
    ("uniform mix", "epsilon_exploration", 0.05),
    ("uniform mix", "epsilon_exploration", 0.1),
    ("previous step's policy", "previous_step_policy", 1.0),
]


def main() -> None:
    args = OmegaConf.merge(
        OmegaConf.create({"envs": list(BUDGETS), "seeds": "evaluation_bugs", "out": None}), OmegaConf.from_cli()
    )
    for env in args.envs:
        if env not in BUDGETS:
            raise ConfigError(f"envs: {env!r} is invalid: valid choices are {', '.join(BUDGETS)}")
    out = result_path(ROOT / "results" / "acting_test" / "power.md", args.out)
    seeds = seed_set(args.seeds)
    runs = {}
    for env in args.envs:
        for _, bug, dose in DEPARTURES:
            for seed in seeds:
                overrides = (f"env={env}", f"bug={bug}", f"bug.{bug}.dose={dose}", f"seed={seed}")
                run_dir = ROOT / "runs" / "acting_test" / env / f"{bug}_{dose}_seed{seed}"
                runs[env, bug, dose, seed] = RunSpec((*overrides, f"total_steps={BUDGETS[env]}"), run_dir)
    trained = train_missing(list(runs.values()))
    command = f"python scripts/acting_test.py envs=[{','.join(args.envs)}] seeds={args.seeds}"
    lines = [
        f"# The acting test's power, on `{args.seeds}` seeds {seeds}",
        "",
        f"Command: `{command}` ({trained} runs trained by that call, {len(runs) - trained} reused).",
        f"Detector `{DETECTOR}`: log10 of the e-process (`policy/acting_evidence`) >= 5, Ville's bound "
        "(rl_lab/instruments/definition.py, `ActingTest`); nothing in it was fitted.",
        "",
        "| env | budget | departure | dose | flagged by the budget | steps at which each seed was flagged | "
        "final return (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    curves = {}
    for env in args.envs:
        for name, bug, dose in DEPARTURES:
            flagged, finals = [], []
            for seed in seeds:
                run_dir = runs[env, bug, dose, seed].run_dir
                steps = [e["step"] for e in read_events(run_dir) if e["detector"] == DETECTOR]
                flagged.append(min(steps) if steps else None)
                finals.append(json.loads((run_dir / "summary.json").read_text())["final_return"])
            caught = sorted(s for s in flagged if s is not None)
            shown = ", ".join("-" if s is None else f"{s:,}" for s in flagged)
            median = sorted(finals)[len(finals) // 2]
            lines.append(
                f"| {env} | {BUDGETS[env]:,} | {name} | {dose:g} | {rate_with_ci(len(caught), len(seeds), 2)} | "
                f"{shown} | {median:.2f} |"
            )
            curves[f"{env}: {name} {dose:g}"] = (caught, len(seeds), BUDGETS[env])
    lines += ["", "`-`: not flagged within the budget. The intervals are Clopper-Pearson's, over seeds.", ""]
    _plot(curves, out.with_suffix(".png"))
    write_result(out, "\n".join(lines))


def _plot(curves: dict[str, tuple[list[int], int, int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted({label.split(":")[0] for label in curves})
    fig, axes = plt.subplots(1, len(envs), figsize=(5.5 * len(envs), 3.8), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        for label, (caught, n, budget) in curves.items():
            if label.startswith(env + ":"):
                steps = [0, *caught, budget]
                shares = [0.0, *[(i + 1) / n for i in range(len(caught))], len(caught) / n]
                ax.step(steps, shares, where="post", label=label.split(": ", 1)[1])
        ax.set(title=f"{env}: share of seeds flagged", xlabel="agent steps", ylim=(-0.02, 1.02))
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(run_script(main))
