"""The bug x probe matrix: every zoo bug (and the clean agent) through every probe.

    python scripts/probe_matrix.py              # CartPole's agent (MLP): ~6 min on 2 cores
    python scripts/probe_matrix.py env=pong     # Pong's agent (NatureCNN, image probes only)

Runs ``python -m rl_lab.probe -m bug=none,<every zoo bug that applies to the env> hydra/launcher=joblib``
(one Hydra job per bug, two at a time; a bug for other envs, such as Pong's frame stack on CartPole,
is left out) and writes ``results/atlas/probes/<env>.md`` from the jobs' probes.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from rl_lab import bugs
from rl_lab.envs.probes import POLICY_TOLERANCE, PROBES, VALUE_TOLERANCE
from rl_lab.lab.probing import CONFIRM, EVAL_EVERY, OVERFIT_LR_SCALE, PROBE_GAMMA, matrix_markdown
from rl_lab.lab.runs import result_path, run_script

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> None:
    overrides = [a for a in argv if not a.startswith("out=")]
    env = next((o.split("=", 1)[1] for o in overrides if o.startswith("env=")), "cartpole")
    given = next((a[4:] for a in argv if a.startswith("out=")), None)
    out = result_path(REPO / "results" / "atlas" / "probes" / f"{env}.md", given)
    applicable = [name for name in bugs.zoo() if bugs.applies_to(bugs.registry()[name], env)]
    with tempfile.TemporaryDirectory() as sweep_dir:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "rl_lab.probe",
                "-m",
                f"bug={','.join(['none', *applicable])}",
                "hydra/launcher=joblib",
                "progress=false",
                f"hydra.sweep.dir={sweep_dir}",
                *overrides,
            ],
            check=True,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        reports = {
            path.parent.name.removeprefix("bug="): json.loads(path.read_text())
            for path in sorted(Path(sweep_dir).glob("bug=*/probes.json"))
        }
    reports = {"none": reports.pop("none"), **reports}  # the clean control first
    budgets = ", ".join(f"{p.name} {p.max_updates}" for p in PROBES)
    text = f"""# Bug x probe matrix: {env}

Command: `python scripts/probe_matrix.py {" ".join(overrides)}`
(rl-lab {version("rl-lab")}; one Hydra job per bug, {wall:.0f} s wall on this machine)

Each column is one probe of `rl_lab/envs/probes.py` trained with the `{env}` agent and the row's
bug at its default dose (seed 0), or the overfit-one-batch check. A probe passes when every
analytic answer holds (|V - answer| <= {VALUE_TOLERANCE}, pi(right action) >= {1 - POLICY_TOLERANCE})
at {CONFIRM} evaluations in a row, {EVAL_EVERY} updates apart, within its budget of updates
({budgets}); gamma = {PROBE_GAMMA}. The overfit check fits one rollout at {OVERFIT_LR_SCALE:g}x the
agent's learning rate. The clean agent (`none`) must pass every column. A passing cell shows the updates
(probes) or optimizer steps (overfit) it took.

{matrix_markdown(reports)}
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    # the same results as data: rl_lab.diagnose compares a run's probe results with them
    out.with_suffix(".json").write_text(json.dumps(reports, indent=1) + "\n")
    print(text)
    print(f"written: {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    sys.exit(run_script(main, sys.argv[1:]))
