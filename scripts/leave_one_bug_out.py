"""Does the lab generalize to a bug it has never seen? Leave each zoo bug out and ask.

    python -m rl_lab.atlas tier=fast && python -m rl_lab.atlas tier=fast_evaluation
    python scripts/leave_one_bug_out.py multirun/atlas/fast multirun/atlas/fast_evaluation

For every bug of the evaluation sweep: fit the golden signatures on the fitting sweep without
that bug's runs (``rl_lab.lab.signatures.fit``), then for each of the bug's evaluation runs
(default dose) ask two things:

* **flagged**: is it "not clean"? A detector fired by the signatures' horizon, or the diagnoser's
  top answer is not "no bug".
* **seam in top 3**: is the bug's seam among the three the diagnoser names first
  (``rl_lab.lab.diagnose.likely_seams``: the seams of the exact checks that fired, then those of
  its best candidates)? A bug at a seam that no exact check recomputes and no other zoo bug
  patches cannot pass; the table says which seams another bug shares.

The diagnoser's weights are the ones in ``rl_lab/lab/diagnose.py`` when the script runs
(printed with the result), fixed before this measurement. Writes
``results/diagnoser/leave_one_bug_out.md`` (``out=`` to change it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from rl_lab import bugs
from rl_lab.lab import diagnose
from rl_lab.lab.check import rate_with_ci
from rl_lab.lab.runs import result_path, run_script, write_result
from rl_lab.lab.signatures import Sweep, fit
from rl_lab.lab.sweep import CLEAN, load_sweep

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    paths = [a for a in argv if not a.startswith("out=")]
    if len(paths) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = result_path(
        ROOT / "results" / "diagnoser" / "leave_one_bug_out.md",
        next((a[4:] for a in argv if a.startswith("out=")), None),
    )
    fitting, evaluation = load_sweep(Path(paths[0])), load_sweep(Path(paths[1]))
    registry = bugs.registry()
    seam = {name: set(bugs.seams_of(registry[name])) for name in bugs.zoo()}
    shared = {name: any(seam[name] & seam[other] for other in seam if other != name) for name in seam}
    rows, flagged_total, seam_total, runs_total, shared_runs, shared_hits = [], 0, 0, 0, 0, 0
    for bug in sorted({j.bug for j in evaluation if j.bug != CLEAN}):
        golden = fit(Sweep([j for j in fitting if j.bug != bug]), "leave-one-out")
        runs = [j for j in evaluation if j.bug == bug and j.default_dose]
        flagged = in_top3 = 0
        answers = []
        for job in runs:
            env_golden = golden["envs"][job.env]
            horizon = env_golden["total_steps"]
            candidates, _ = diagnose.rank(job, env_golden)
            top = candidates[0].name
            flagged += bool(diagnose.fired_by(job, horizon)) or top != CLEAN
            in_top3 += bool(seam[bug] & {s for s, _ in diagnose.likely_seams(job, candidates, horizon)})
            answers.append(f"{job.env}: {top}")
        rows.append(
            f"| {bug} | {'+'.join(sorted(seam[bug]))} | {'yes' if shared[bug] else 'no'} | {flagged}/{len(runs)} "
            f"| {in_top3}/{len(runs)} | {', '.join(sorted(set(answers)))} |"
        )
        flagged_total, seam_total, runs_total = flagged_total + flagged, seam_total + in_top3, runs_total + len(runs)
        if shared[bug]:
            shared_runs, shared_hits = shared_runs + len(runs), shared_hits + in_top3
    weights = (
        f"CAP={diagnose.CAP}, DETECTOR_WEIGHT={diagnose.DETECTOR_WEIGHT}, "
        f"CONSISTENCY_WEIGHT={diagnose.CONSISTENCY_WEIGHT}, EVIDENCE_Z={diagnose.EVIDENCE_Z}"
    )
    lines = [
        "# Leave one bug out: the lab on a bug it has never seen",
        "",
        f"Command: `python scripts/leave_one_bug_out.py {' '.join(argv)}`. Signatures fitted on `{paths[0]}` "
        f"without the bug; its runs taken from `{paths[1]}`. Diagnoser weights (fixed before): {weights}.",
        "",
        "| bug left out | its seam | another zoo bug at that seam | flagged not clean | seam in top 3 "
        "| diagnoser's top answers |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Flagged not clean: {rate_with_ci(flagged_total, runs_total, digits=2)} of the left-out bugs' runs.",
        f"Seam in the top 3: {rate_with_ci(seam_total, runs_total, digits=2)} of all runs; "
        f"{rate_with_ci(shared_hits, shared_runs, digits=2)} of the runs of bugs whose seam another zoo bug shares.",
    ]
    write_result(out, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, sys.argv[1:]))
