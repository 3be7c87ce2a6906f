"""Diagnose a run: which known bug (or seam) its diagnostics and probes look like
(the command: ``python -m rl_lab.diagnose``).

Compares the run with the golden signatures of the atlas (``python -m rl_lab.report``) for
its environment, in its own context (a run with dropout is compared with the runs that had
it). Each diagnostic of the run is placed against the clean control's seeds (z: how many
clean standard deviations away); each candidate, a bug or "no bug", is scored by how far
the run's diagnostics lie from that candidate's (in the same units, each capped at
``CAP``) plus ``DETECTOR_WEIGHT`` for every detector that fired in one and not the other
(``CONSISTENCY_WEIGHT`` for an exact consistency check that fired in the run and not in the
candidate's: a correct agent never fires one, so it rules out every bug that does not),
and, with probe results, ``PROBE_WEIGHT`` for every probe that passed in one and failed in
the other (the probe matrix, ``results/atlas/probes/<env>.json``). Lowest score first.

Prints the ranked candidates with their evidence (diagnostic, steps, distance from the clean
band; detectors and the step they fired), the seam each bug patches, and the troubleshooting advice
for the run's symptoms (loss goes up, explodes, oscillates, plateaus). A run that looks
like the clean control gets "no bug found", with the same evidence.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rl_lab import bugs
from rl_lab.instruments.detectors import CONSISTENCY, LEARNING
from rl_lab.lab.probing import PROBED_ALGORITHM
from rl_lab.lab.signatures import FEATURES, SHORT, features, golden_algorithm, require_algorithm
from rl_lab.lab.sweep import CLEAN, Job, read_job
from rl_lab.run.runlog import read_events

CAP = 6.0  # a diagnostic counts at most this many clean standard deviations
DETECTOR_WEIGHT = 2.0
CONSISTENCY_WEIGHT = 6.0
PROBE_WEIGHT = 1.0
SPREAD_FLOOR = {"linear": 0.05, "log": 0.1}  # the smallest clean spread used (units of the feature)
EVIDENCE_Z = 2.0  # a diagnostic this far from the clean band (in clean standard deviations) is evidence

# Full Stack Deep Learning's troubleshooting lecture (Lecture 7): what an error curve's shape commonly means.
# the seam each exact check of conf/diagnostics/default.yaml recomputes (rl_lab/agent/seams.py): where
# to look when it fires. Kept here, not in the run's config, which must not name seams (bug=mystery).
CHECK_SEAMS = {
    "act_train_consistency": "training_forward",
    "act_eval_consistency": "acting_mode",
    "entropy_consistency": "entropy",
    "log_prob_consistency": "log_prob",
    "value_loss_consistency": "value_loss",
    "stale_gradient": "optimizer_step",
    "input_scale": "preprocess",
    "policy_loss_consistency": "policy_loss",
    "returns_consistency": "compute_returns",
    "clip_consistency": "optimizer_step",
    "optimizer_step_consistency": "optimizer_step",
    "trainable_parameters": "build_model",
    "initialisation_consistency": "build_model",
    "action_sampling": "choose_action",
    "preprocess_consistency": "preprocess",
    "record_consistency": "record_transition",
    "next_observation_consistency": "next_observation",
    "policy_gradient_consistency": "policy_loss",
    "value_gradient_consistency": "value_loss",
    "entropy_gradient_consistency": "entropy",
    "function_consistency": "build_model",
    "acting_distribution": "choose_action",
    "minibatch_consistency": "minibatches",
    "old_log_prob_consistency": "log_prob",
    "first_ratio_consistency": "minibatch_forward",
    "ratio_consistency": "probability_ratio",
    "advantage_norm_consistency": "normalize_advantages",
    "surrogate_consistency": "clipped_surrogate",
    "surrogate_gradient_consistency": "clipped_surrogate",
    "value_clip_consistency": "clip_values",
    "schedule_consistency": "schedule",
}
# Checks of the whole update, which a bug at any of its seams fires: named after the checks of one
# seam that fired with them. Where none did, the gradient went wrong between the network's outputs
# and its parameters: the graph of the algorithm's training pass.
GENERIC_CHECK_SEAMS = {
    "a2c": {"gradient_consistency": "training_forward"},
    "ppo": {"gradient_consistency": "minibatch_forward"},
}

ADVICE = {
    "goes up": "Error goes up: commonly a flipped sign somewhere in the loss function or gradient.",
    "explodes": "Error explodes: usually a numerical issue (check every exp, log and division), "
    "but can also be a learning rate that is too high.",
    "oscillates": "Error oscillates: lower the learning rate and inspect the data for shuffled labels "
    "or incorrect augmentation.",
    "plateaus": "Error plateaus: increase the learning rate and remove regularization, then inspect the "
    "loss function and the data pipeline for correctness.",
}


@dataclass
class Candidate:
    name: str  # a bug, or "none"
    score: float
    evidence: list[str] = field(default_factory=list)


def _clean_band(values: list[float], kind: str) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    spread = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return statistics.mean(finite), max(spread, SPREAD_FLOOR[kind])


def _z(value: float, band: tuple[float, float]) -> float:
    mean, spread = band
    if not (math.isfinite(value) and math.isfinite(mean)):
        return math.nan
    return (value - mean) / spread


def _median(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def _feature_text(key: str, value: float, band: tuple[float, float], z: float) -> str:
    shown = (lambda v: f"{10**v:.3g}") if FEATURES[key] == "log" else (lambda v: f"{v:.3g}")
    return f"{SHORT[key]} {shown(value)} (clean {shown(band[0])}, z = {z:+.1f})"


def symptoms(job: Job, z: dict[str, float], horizon: int) -> list[str]:
    """The lecture's symptom names (error goes up, explodes, oscillates, plateaus) that fit the run.
    A run shorter than the signatures' ``horizon`` sits earlier on every curve than the clean band
    it is placed in (its return lower, its value loss higher), so its distances are not read as
    symptoms there: only its detectors are."""
    fired = job.summary["detectors"]
    if job.summary["steps"] < horizon:
        z = {}
    found = []
    if job.summary["status"] == "diverged" or {"nonfinite", "loss_explosion", "grad_spikes", "value_divergence"} & set(
        fired
    ):
        found.append("explodes")
    if z.get("losses/value", 0) > EVIDENCE_Z or (
        z.get("charts/return_last100", 0) < -EVIDENCE_Z and "entropy_collapse" in fired
    ):
        found.append("goes up")
    if "oscillation" in fired:
        found.append("oscillates")
    if z.get("charts/return_last100", 0) < -2 or "plateau" in fired:
        found.append("plateaus")
    return found


def _probe_failures(report: dict[str, Any]) -> set[str]:
    failed = {f"{p['probe']}/{p['variant']}" for p in report["probes"] if not p["passed"]}
    return failed | ({"overfit"} if not report["overfit"]["passed"] else set())


def read_where(key: str, log_steps: np.ndarray) -> str:
    """Where a feature's value was read (:func:`rl_lab.lab.signatures.late_median`): the return
    where the run ended (it is a running mean already), any other series as its median over the
    second half of the log points."""
    if not log_steps.size:
        return "over the run"
    if key == "charts/return_last100":
        return f"at step {int(log_steps[-1]):,}"
    return f"(median over steps {int(log_steps[len(log_steps) // 2]):,}-{int(log_steps[-1]):,})"


def rank(
    job: Job,
    env_golden: dict[str, Any],
    probes: dict[str, Any] | None = None,
    probe_matrix: dict[str, Any] | None = None,
) -> tuple[list[Candidate], dict[str, float]]:
    """Candidates (bugs of the golden signatures in the run's context, and "none") ranked by score."""
    context = " ".join(job.context)
    clean = env_golden["clean"].get(context) or env_golden["clean"][""]
    bands = {k: _clean_band(clean["features"][k], kind) for k, kind in FEATURES.items()}
    horizon = env_golden["total_steps"]  # read the run up to the signatures' horizon: equal steps
    run = features(job, horizon)
    z_run = {k: _z(run[k], bands[k]) for k in FEATURES}
    fired = fired_by(job, horizon)
    exact = {e["detector"] for e in read_events(job.path) if e.get("kind") == CONSISTENCY and e["step"] <= horizon}
    run_probe_failures = _probe_failures(probes) if probes else None
    log_steps = job.series("charts/episodes")[0]
    log_steps = log_steps[log_steps <= horizon]

    signatures = {CLEAN: {"features": {k: [bands[k][0]] for k in FEATURES}, "must_fire": []}}
    signatures.update({b: s for b, s in env_golden["bugs"].items() if " ".join(s["context"]) in ("", context)})
    candidates = []
    for name, sig in signatures.items():
        distances, evidence = [], []
        for key in FEATURES:
            z_bug = _z(_median(sig["features"][key]), bands[key])
            if not (math.isfinite(z_bug) and math.isfinite(z_run[key])):
                continue
            distances.append(min(abs(z_run[key] - z_bug), CAP))
            agrees = abs(z_run[key]) >= EVIDENCE_Z and (z_run[key] > 0) == (z_bug > 0) and abs(z_bug) >= EVIDENCE_Z
            if agrees:
                evidence.append(
                    f"{_feature_text(key, run[key], bands[key], z_run[key])} {read_where(key, log_steps)}, "
                    "as this bug's runs"
                )
        score = statistics.mean(distances) if distances else CAP
        # a run that ends before a detector's usual firing cannot be expected to show it
        reached = int(log_steps[-1]) if log_steps.size else horizon
        usual = sig.get("detectors", {})
        expected = {d for d in sig["must_fire"] if usual.get(d, {}).get("median_step", 0) <= reached}
        mismatched = expected.symmetric_difference(fired)
        score += sum(CONSISTENCY_WEIGHT if d in exact else DETECTOR_WEIGHT for d in mismatched)
        evidence += [
            f"detector {d} fired at step {fired[d]:,}, as expected for it" for d in sorted(expected & set(fired))
        ]
        evidence += [f"detector {d} did not fire (it does for this bug)" for d in sorted(expected - set(fired))]
        if run_probe_failures is not None and probe_matrix and name in probe_matrix:
            expected_failures = _probe_failures(probe_matrix[name])
            score += PROBE_WEIGHT * len(expected_failures.symmetric_difference(run_probe_failures))
            evidence += [
                f"probe {p} failed, as it does for this bug" for p in sorted(expected_failures & run_probe_failures)
            ]
        if name != CLEAN and not expected:
            evidence.append("its runs raised no detector in the golden sweep (a known gap): ranked after no bug")
        candidates.append(Candidate(name, score, evidence))
    # A bug whose own runs raised nothing the detectors could count on (no `must_fire`) is, to the
    # instruments, a clean run: it never outranks "none", whatever the curves' small differences say.
    clean_score = next(c.score for c in candidates if c.name == CLEAN)

    def order(c: Candidate) -> tuple[float, bool]:
        undistinguished = c.name != CLEAN and not signatures[c.name]["must_fire"]
        return (max(c.score, clean_score) if undistinguished else c.score, undistinguished)

    return sorted(candidates, key=order), z_run


def likely_seams(job: Job, candidates: list[Candidate], horizon: int, top: int = 3) -> list[tuple[str, str]]:
    """The seams to look at first, with why: those of the exact checks that fired (in the order they
    fired; a check recomputes its seam, so this holds for a bug no signature knows), then those of
    the ranked candidate bugs."""
    seams: dict[str, str] = {}
    generic = GENERIC_CHECK_SEAMS[job.algorithm]
    named = {**CHECK_SEAMS, **generic}
    exact = sorted(
        (e["step"], e["detector"] in generic, e["detector"]) for e in read_events(job.path) if e["detector"] in named
    )
    for step, _, name in exact:
        if step <= horizon:
            seams.setdefault(named[name], f"{name} fired at {step:,}")
    registry = bugs.registry()
    for candidate in candidates:
        if candidate.name != CLEAN:
            for seam in bugs.seams_of(registry[candidate.name]):
                seams.setdefault(seam, f"like {candidate.name}")
    return list(seams.items())[:top]


def load_run(run_dir: Path) -> Job:
    job = read_job(Path(run_dir))
    if job is None:
        raise FileNotFoundError(f"{run_dir} is not a run directory of rl_lab.train (no config.yaml or summary.json)")
    return job


def read_probe_matrix(golden_path: Path, golden: dict[str, Any], env_golden: dict[str, Any]) -> dict | None:
    """The probe matrix of the signatures' env (``results/atlas/probes/<env>.json``, beside the tiers),
    if there is one for their algorithm: the probes run A2C's seams, so other algorithms have none."""
    path = golden_path.parent.parent / "probes" / f"{env_golden.get('env_name', '')}.json"
    if golden_algorithm(golden) != PROBED_ALGORITHM or not path.exists():
        return None
    return json.loads(path.read_text())


def env_signatures(golden: dict[str, Any], job: Job, source: Path | str = "given") -> dict[str, Any]:
    """The golden signatures of the run's environment; ValueError for another algorithm's or env's."""
    require_algorithm(golden, source, [job])
    env_id = job.summary.get("env")
    for env_golden in golden["envs"].values():
        if env_golden.get("env_id") == env_id:
            return env_golden
    known = ", ".join(str(g.get("env_id")) for g in golden["envs"].values())
    raise ValueError(f"the golden signatures have no environment {env_id!r}: they cover {known}")


def fired_by(job: Job, step: int) -> dict[str, int]:
    """The detectors that had fired by ``step``, with their first step."""
    return {name: first for name, first in job.summary["detectors"].items() if first <= step}


def horizon_note(job: Job, horizon: int) -> str | None:
    """A warning when the run and the signatures end at different steps, else None."""
    steps = job.summary["steps"]
    if steps > horizon:
        return (
            f"note: the run has {steps:,} steps and the signatures {horizon:,}: the run is read up to step "
            f"{horizon:,}, as they were"
        )
    if steps < horizon:
        return (
            f"WARNING: the run has {steps:,} steps but the signatures were fitted at {horizon:,}: a shorter run "
            "sits earlier on every curve, so its distances from the clean band overstate a difference; train "
            f"total_steps={horizon} to compare like with like"
        )
    return None


def environment_note(job: Job) -> str | None:
    """ "Look at the environment" when the run learns worse than clean (a learning detector fired,
    at any step of the run) and no exact check of the agent ever fired: the agent then used what
    its env returned, consistently, and a fault of the env itself (a wrapper, a sensor, a time limit:
    the env-side bugs, seam ``wrap_env``) is one that no exact check can see. None otherwise."""
    events = read_events(job.path)
    learning = [e for e in events if e.get("kind") == LEARNING]
    if not learning or any(e.get("kind") == CONSISTENCY for e in events):
        return None
    first = min(learning, key=lambda e: e["step"])
    return (
        f"look at the environment: {first['detector']} fired at {first['step']:,} and every exact check of "
        "the agent stayed at 0, so the agent used what its env returned, consistently; a fault of the env "
        "itself (a wrapper, a sensor, a time limit) is one no exact check can see (python -m rl_lab.bugs "
        "list: the env-side bugs, seam wrap_env)"
    )


def report(
    job: Job, candidates: list[Candidate], z_run: dict[str, float], top: int, horizon: int, notes: list[str] = ()
) -> str:
    lines = [
        f"run {job.path} ({job.summary['env']}, seed {job.seed}, {job.summary['steps']:,} steps, "
        f"{job.summary['status']}, final return {job.summary['final_return']:.3g})"
    ]
    lines += [n for n in [horizon_note(job, horizon), *notes] if n]
    outliers = sorted(
        ((abs(z), k) for k, z in z_run.items() if math.isfinite(z) and abs(z) >= EVIDENCE_Z), reverse=True
    )
    far = ", ".join(f"{SHORT[k]} z = {z_run[k]:+.1f}" for _, k in outliers) or "none"
    fired = ", ".join(f"{n} at {s:,}" for n, s in fired_by(job, horizon).items()) or "none"
    lines.append(f"diagnostics beyond {EVIDENCE_Z:g} clean standard deviations: {far}")
    lines.append(f"detectors fired: {fired}")
    clean = candidates[0].name == CLEAN
    if clean:
        lines.append("verdict: no bug found (the run looks like the clean control's seeds)")
    else:
        lines.append(f"verdict: most like {candidates[0].name}")
    lines.append("ranked candidates (lower score = closer):")
    for i, c in enumerate(candidates[:top], 1):
        seam = "-" if c.name == CLEAN else "+".join(bugs.seams_of(bugs.registry()[c.name]))
        lines.append(f"  {i}. {c.name:22s} score {c.score:5.2f}  seam: {seam}")
        for item in c.evidence[:5]:
            lines.append(f"       - {item}")
    # a run that looks clean points at no bug's seam; only an exact check that fired still names one
    if seams := likely_seams(job, [] if clean else candidates, horizon):
        lines.append("look first at the seams: " + "; ".join(f"{seam} ({why})" for seam, why in seams))
    if note := environment_note(job):
        lines.append(note)
    found = [] if clean else symptoms(job, z_run, horizon)
    lines.append(
        "symptoms: " + (", ".join(found) if found else "none of the four (goes up, explodes, oscillates, plateaus)")
    )
    lines += [f"  advice: {ADVICE[s]}" for s in found]
    return "\n".join(lines)
