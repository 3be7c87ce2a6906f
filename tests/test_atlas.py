"""The atlas: a tier's sweep, its report, the regression check against golden signatures, the
diagnoser. CI's reduced regression check is here: the `ci` tier (conf/atlas/ci.yaml), run
afresh, must match the golden signatures committed in results/atlas/ci/golden.json."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from rl_lab.lab.atlas import TierSettings, load_tier, multiruns
from rl_lab.lab.signatures import significant, welch
from rl_lab.lab.sweep import load_sweep, rescore

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_CI = ROOT / "results" / "atlas" / "ci" / "golden.json"


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd)


def test_the_ci_tier_matches_its_golden_signatures(ci_sweep):
    done = _run("rl_lab.check", str(ci_sweep), f"golden={GOLDEN_CI}")
    assert done.returncode == 0, done.stdout
    assert "true-positive rate 10/10 = 1.000 [95% CI 0.692, 1.000]" in done.stdout  # Clopper-Pearson
    assert "false-positive rate 0/4 = 0.000 [95% CI 0.000, 0.602]" in done.stdout


def test_the_ppo_ci_tier_matches_its_golden_signatures(ppo_ci_sweep):
    done = _run("rl_lab.check", str(ppo_ci_sweep), f"golden={ROOT / 'results' / 'atlas' / 'ppo_ci' / 'golden.json'}")
    assert done.returncode == 0, done.stdout
    assert "true-positive rate 9/9 = 1.000" in done.stdout and "false-positive rate 0/4 = 0.000" in done.stdout
    jobs = [p.parent.name for p in ppo_ci_sweep.glob("*/summary.json")]
    assert len(jobs) == 13 and all("algo=ppo" in job for job in jobs)  # every job trained PPO, the clean ones too


def test_a_ppo_run_is_read_against_ppo_signatures_only(ppo_ci_sweep, tmp_path):
    from rl_lab.lab.diagnose import likely_seams

    golden = json.loads((ROOT / "results" / "atlas" / "ppo_ci" / "golden.json").read_text())
    assert golden["algo"] == "ppo" and "" in golden["envs"]["cartpole"]["clean"]  # algo=ppo is no context
    bugged = next(ppo_ci_sweep.glob("*bug=surrogate_max,*"))
    for tool, args in (("rl_lab.diagnose", [str(bugged)]), ("rl_lab.check", [str(ppo_ci_sweep)])):
        done = _run(tool, *args, f"golden={GOLDEN_CI}")
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert f"the golden signatures {GOLDEN_CI} are of algo=a2c, the runs of algo=ppo" in done.stderr
    # by default a PPO run is diagnosed against PPO's fast tier (10,000 steps; this run has 1,024)
    done = _run("rl_lab.diagnose", str(bugged))
    assert done.returncode == 0 and "verdict: most like surrogate_max" in done.stdout, done.stdout + done.stderr
    assert "the signatures were fitted at 10,000" in done.stdout
    # PPO's gradient check is of its minibatch pass: a gradient that fired alone points there
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"step": 256, "detector": "gradient_consistency"}) + "\n")
    job = SimpleNamespace(path=tmp_path, algorithm="ppo")
    assert likely_seams(job, [], 1024) == [("minibatch_forward", "gradient_consistency fired at 256")]


def test_check_fails_on_a_false_alarm_and_on_a_missed_bug(ci_sweep, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(ci_sweep, sweep)
    clean = next(sweep.glob("bug=none,env=cartpole,seed=1,*")) / "summary.json"
    summary = json.loads(clean.read_text())
    clean.write_text(json.dumps({**summary, "detectors": {"plateau": 3000}}))
    done = _run("rl_lab.check", str(sweep), f"golden={GOLDEN_CI}")
    assert done.returncode == 1 and "false alarm: clean cartpole seed 1" in done.stdout, done.stdout
    clean.write_text(json.dumps(summary))
    missed = next(sweep.glob("bug=off_by_one_frames,*")) / "summary.json"
    missed.write_text(json.dumps({**json.loads(missed.read_text()), "detectors": {}}))
    done = _run("rl_lab.check", str(sweep), f"golden={GOLDEN_CI}")
    assert (
        done.returncode == 1 and "off_by_one_frames" in done.stdout and "REGRESSION: 1 bug(s) not caught" in done.stdout
    )


def test_rescore_brings_a_run_recorded_by_an_older_panel_up_to_todays(ci_sweep, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(ci_sweep, sweep)
    older = next(sweep.glob("bug=off_by_one_frames,*")) / "summary.json"
    today = json.loads(older.read_text())
    assert today["detectors"]  # what the live panel recorded
    older.write_text(json.dumps({**today, "detectors": {"retired_detector": 40}}))  # as an older panel had it
    events = older.parent / "events.jsonl"
    live_events = events.read_text()
    events.write_text('{"step": 40, "detector": "retired_detector"}\n')
    records = {run: (run / "events.jsonl").read_text() for run in sweep.iterdir() if (run / "summary.json").exists()}
    changed = {run.name: rescore(run) for run in sorted(records)}
    assert changed.pop(older.parent.name) == sorted({"retired_detector", *today["detectors"]})
    assert not any(changed.values())  # replay records exactly what the live panel did
    assert events.read_text() == live_events  # every event, as the live run wrote it
    assert all((run / "events.jsonl").read_text() == text for run, text in records.items() if run != older.parent)
    rescored = json.loads(older.read_text())
    assert rescored["detectors"] == today["detectors"] and "detectors replayed" in rescored["notes"][-1]
    assert rescore(older.parent) == []  # nothing left to change


def test_report_writes_markdown_plots_and_golden_signatures(ci_sweep, tmp_path):
    done = _run("rl_lab.report", str(ci_sweep), f"out={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    text = (tmp_path / "README.md").read_text()
    assert "Detection latency" in text and "| off_by_one_frames |" in text
    benchmark = json.loads((ci_sweep / "benchmark.json").read_text())
    assert benchmark["runs_trained"] == sum(benchmark["runs"].values()) == len(load_sweep(ci_sweep))
    runs = len(load_sweep(ci_sweep))
    assert "Benchmark: wall time" in text and f"{runs} of {runs} runs trained" in text
    # each bug against its own seam's checks: off_by_one_frames at the first log point
    assert "### Caught at its own seam" in text
    assert "| off_by_one_frames | training_forward | act_train_consistency | 1,000 | 1/1 |" in text
    assert (tmp_path / "plots" / "cartpole" / "off_by_one_frames.png").stat().st_size > 1000
    golden = json.loads((tmp_path / "golden.json").read_text())
    signature = golden["envs"]["cartpole"]["bugs"]["off_by_one_frames"]
    assert signature["must_fire"] == ["act_train_consistency", "gradient_consistency"]
    assert golden["envs"]["cartpole"]["bugs"]["missing_eval_mode"]["context"] == ["agent.model.dropout=0.2"]


def test_diagnoser_names_the_bug_and_clears_the_clean_run(ci_sweep):
    bugged = next(ci_sweep.glob("bug=off_by_one_frames,*"))
    done = _run("rl_lab.diagnose", str(bugged), f"golden={GOLDEN_CI}")
    assert done.returncode == 0, done.stderr
    assert "verdict: most like off_by_one_frames" in done.stdout
    assert "detector act_train_consistency fired" in done.stdout
    clean = next(ci_sweep.glob("bug=none,env=cartpole,seed=0,*"))
    done = _run("rl_lab.diagnose", str(clean), f"golden={GOLDEN_CI}")
    assert "verdict: no bug found" in done.stdout, done.stdout


def test_a_short_clean_run_gets_no_seams_to_look_at_and_no_advice(tmp_path):
    """A 5,000-step clean run against the shipped signatures (20,000 steps): it sits earlier on every
    curve, which once read as "error goes up" (a flipped sign) beside the verdict "no bug found"."""
    run = tmp_path / "clean"
    subprocess.run(
        [sys.executable, "-m", "rl_lab.train", "total_steps=5000", "progress=false", f"hydra.run.dir={run}"],
        check=True,
        capture_output=True,
    )
    done = _run("rl_lab.diagnose", str(run))
    assert done.returncode == 0, done.stderr
    assert "verdict: no bug found" in done.stdout and "WARNING: the run has 5,000 steps" in done.stdout
    assert "look first at the seams" not in done.stdout and "advice:" not in done.stdout, done.stdout


def test_a_mistyped_tier_fails_before_any_job(tmp_path):
    done = _run("rl_lab.atlas", "tier=ci", "bugs=[sign_fip]", f"out={tmp_path / 'a'}")
    assert done.returncode == 2 and "bug 'sign_fip' in tier 'ci' is invalid: valid choices are" in done.stderr
    done = _run("rl_lab.atlas", "tier=ci", "doses={shuffled_labels: [0.5, 2.0]}", f"out={tmp_path / 'b'}")
    assert done.returncode == 2 and "bug.shuffled_labels.dose=2.0 is invalid: must lie in [0, 1]" in done.stderr
    assert "no job was launched" in done.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing created before the check
    done = _run("rl_lab.atlas", "tier=slow")
    assert (
        done.returncode == 2
        and "tier='slow' is invalid: valid choices are ci, fast, fast_evaluation, pong" in done.stderr
    )


def test_tier_gives_bugs_with_a_context_their_own_control():
    runs = multiruns(load_tier(TierSettings(tier="fast")))
    dropout = [(part, r[0]) for part, r in runs if "agent.model.dropout=0.2" in r]
    # the bug with its own control at the bug's seeds and at the further clean seeds, nothing else
    assert dropout == [("zoo", "bug=missing_eval_mode,none"), ("clean", "bug=none")]
    zoo = [r for part, r in runs if part == "zoo"]
    assert all(r[0].endswith(",none") and r[1] == "seed=0,1,2" for r in zoo)  # every context has its control
    clean = [r for part, r in runs if part == "clean"]
    assert all(r[:2] == ["bug=none", "seed=3,4,5,6,7,8,9"] for r in clean)  # every context, as many clean seeds
    assert sorted(tuple(r[2:]) for r in clean) == sorted(tuple(r[2:]) for r in zoo)
    assert {part for part, _ in runs} == {"zoo", "clean", "doses"}


def test_welch_marks_only_differences_that_pass_the_test():
    clean = [10.0, 11.0, 9.5, 10.5, 10.2, 9.8]
    assert significant(welch([20.0, 21.0, 19.0], clean))
    assert not significant(welch([10.1, 9.7, 10.4], clean))
    assert math.isnan(welch([20.0], clean)["p"])  # one seed is not evidence
    assert welch([20.0, 21.0, 19.0], clean)["g"] > 5


def test_load_sweep_names_a_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_sweep(tmp_path / "nothing")


def test_a_fired_exact_check_outweighs_learning_detectors_that_differ(ci_sweep, tmp_path):
    # a dose other than the golden one can add or drop learning detectors; the exact check still decides
    golden = json.loads(GOLDEN_CI.read_text())
    signature = golden["envs"]["cartpole"]["bugs"]["off_by_one_frames"]
    signature["must_fire"] = [*signature["must_fire"], "no_learning", "critic_fit"]
    (tmp_path / "golden.json").write_text(json.dumps(golden))
    bugged = next(ci_sweep.glob("bug=off_by_one_frames,*"))
    done = _run("rl_lab.diagnose", str(bugged), f"golden={tmp_path / 'golden.json'}")
    assert "verdict: most like off_by_one_frames" in done.stdout, done.stdout


def test_diagnose_reads_a_longer_run_at_the_signatures_step_and_warns_for_a_shorter_one(ci_sweep, tmp_path):
    """A run is compared with the golden signatures at their step: what came after is ignored."""
    golden = json.loads(GOLDEN_CI.read_text())
    horizon = golden["envs"]["cartpole"]["total_steps"]
    run = next(ci_sweep.glob("bug=none,*seed=0*"))
    at_horizon = _run("rl_lab.diagnose", str(run), f"golden={GOLDEN_CI}")
    # the same run, with its signatures' horizon halved: read up to there, with a note saying so
    golden["envs"]["cartpole"]["total_steps"] = horizon // 2
    (tmp_path / "half.json").write_text(json.dumps(golden))
    halved = _run("rl_lab.diagnose", str(run), f"golden={tmp_path / 'half.json'}")
    assert f"is read up to step {horizon // 2:,}" in halved.stdout, halved.stdout
    assert "read up to" not in at_horizon.stdout and "WARNING" not in at_horizon.stdout
    golden["envs"]["cartpole"]["total_steps"] = horizon * 2
    (tmp_path / "double.json").write_text(json.dumps(golden))
    doubled = _run("rl_lab.diagnose", str(run), f"golden={tmp_path / 'double.json'}")
    assert f"WARNING: the run has {horizon:,} steps but the signatures were fitted at {2 * horizon:,}" in doubled.stdout


def test_diagnose_warns_when_the_probe_results_are_of_another_env(ci_sweep, tmp_path):
    run = next(ci_sweep.glob("bug=none,*seed=0*"))
    probes = {"env": "catch", "bug": {}, "passed": True, "probes": [], "overfit": {"passed": True}}
    (tmp_path / "probes.json").write_text(json.dumps(probes))
    done = _run("rl_lab.diagnose", str(run), f"golden={GOLDEN_CI}", f"probes={tmp_path / 'probes.json'}")
    assert "WARNING: the probe results" in done.stdout and "are of env 'catch', the run of 'cartpole'" in done.stdout


def test_look_shows_by_default_the_series_that_gives_off_by_one_frames_away(ci_sweep):
    bugged = next(ci_sweep.glob("bug=off_by_one_frames,*"))
    header = _run("rl_lab.look", str(bugged)).stdout.splitlines()[0]
    assert "charts/return_last100" in header and "policy/act_train_kl" in header
    dropout = next(ci_sweep.glob("*bug=missing_eval_mode,*"))  # dropout: no act/train KL logged, nothing refused
    done = _run("rl_lab.look", str(dropout))
    assert done.returncode == 0 and "policy/act_train_kl" not in done.stdout.splitlines()[0], done.stderr


def test_look_prints_two_runs_side_by_side_and_the_detectors_that_fired(ci_sweep, tmp_path):
    bugged, clean = next(ci_sweep.glob("bug=off_by_one_frames,*")), next(ci_sweep.glob("bug=none,*seed=0*"))
    done = _run(
        "rl_lab.look",
        str(bugged),
        f"other={clean}",
        "series=[policy/act_train_kl]",
        "points=2",
        f"png={tmp_path / 'look.png'}",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # the CI tier logs at 1,000 and 2,000: both points, one row each
    assert "policy/act_train_kl [" in lines[0] and len([line for line in lines if line.strip()[:1].isdigit()]) == 2
    assert re.search(r"act_train_consistency at [\d,]+ \(policy/act_train_gap\)", done.stdout), done.stdout
    assert (tmp_path / "look.png").stat().st_size > 1000


def _readme_block(first_line: str) -> str:
    """The fenced code block of README.md that begins with ``first_line``."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index(first_line)
    return readme[start : readme.index("```", start)]


@pytest.fixture
def users_detector(tmp_path) -> Path:
    """README's example detector, written where a user keeps it: their own directory."""
    (tmp_path / "my_detectors.py").write_text(_readme_block("# my_detectors.py"))
    (tmp_path / "my_detectors.yaml").write_text(_readme_block("# my_detectors.yaml"))
    return tmp_path


def test_readme_example_detector_catches_learned_then_lost_and_not_steady_learning(users_detector):
    sys.path.insert(0, str(users_detector))
    try:
        from my_detectors import ReturnDrop
    finally:
        sys.path.remove(str(users_detector))
    elhage = [-0.6, -0.2, 0.2, 0.1, -0.3, -0.6]  # learned to +0.2, then back to random play
    steady = [-0.6, -0.2, 0.2, 0.5, 0.8, 0.85, 0.8, 0.9]
    for series, expected in ((elhage, 4), (steady, None)):
        detector = ReturnDrop(return_range=[-1, 1])
        fired = [i for i, r in enumerate(series) if detector.observe(i * 1000, {"charts/return_last100": r})]
        assert (fired[0] if fired else None) == expected
    assert ReturnDrop().check(0, {"charts/return_last100": 0.0}) is None  # no env scale: no verdict


def test_check_replays_a_users_detector_over_a_sweep_and_reports_it_per_detector(ci_sweep, users_detector):
    done = _run("rl_lab.check", str(ci_sweep), "detectors=my_detectors.yaml", cwd=users_detector)
    assert done.returncode == 0, done.stderr
    assert f"1 detector(s) from my_detectors.yaml, replayed over {len(load_sweep(ci_sweep))} runs" in done.stdout
    assert "detector return_drop (learning):" in done.stdout
    clean = sum(job.bug == "none" for job in load_sweep(ci_sweep))
    # the false-alarm rate is given one way everywhere: the two-sided 95% Clopper-Pearson interval
    assert re.search(
        rf"false alarms on clean runs \d+/{clean} = 0\.\d{{3}} \[95% CI 0\.\d{{3}}, 0\.\d{{3}}\]", done.stdout
    )


def test_check_replay_reproduces_the_recorded_detectors(ci_sweep, tmp_path):
    """Replaying the default detectors gives each run the first firings it recorded live."""
    from omegaconf import OmegaConf

    from rl_lab.lab.check import replayed_firings
    from rl_lab.run.config import CONFIG_DIR

    detectors = OmegaConf.load(CONFIG_DIR / "diagnostics" / "default.yaml").detectors
    jobs = load_sweep(ci_sweep)
    firings, _ = replayed_firings(jobs, detectors)
    assert {job.path: firings[job.path] for job in jobs} == {job.path: job.summary["detectors"] for job in jobs}


def test_check_refuses_a_detectors_file_it_cannot_use_in_one_line(ci_sweep, users_detector):
    done = _run("rl_lab.check", str(ci_sweep), "detectors=nowhere.yaml", cwd=users_detector)
    assert done.returncode == 2 and "detectors='nowhere.yaml' is invalid: no such file" in done.stderr
    (users_detector / "bad.yaml").write_text("mine:\n  _target_: my_detectors.NoSuchDetector\n")
    done = _run("rl_lab.check", str(ci_sweep), "detectors=bad.yaml", cwd=users_detector)
    assert done.returncode == 2 and "detectors='bad.yaml' is invalid: cannot build detector 'mine'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_seed_sets_that_set_a_number_and_those_that_measure_it_are_disjoint():
    from rl_lab.lab.seeds import FITTING, MEASURING, SEED_SETS

    assert set(SEED_SETS) == {*FITTING, *MEASURING}
    fitting = {seed for name in FITTING for seed in SEED_SETS[name]}
    measuring = {seed for name in MEASURING for seed in SEED_SETS[name]}
    assert not fitting & measuring
    assert set(SEED_SETS["evaluation_bugs"]) <= set(SEED_SETS["evaluation"]) and len(SEED_SETS["evaluation"]) >= 20
    for fit, evaluation in (("fast", "fast_evaluation"), ("ppo_fast", "ppo_fast_evaluation")):
        tier = load_tier(TierSettings(tier=evaluation))
        assert tier.seeds == SEED_SETS["evaluation_bugs"] and tier.clean_seeds == SEED_SETS["evaluation"]
        assert load_tier(TierSettings(tier=fit)).clean_seeds == SEED_SETS["atlas_clean"]
        # the out-of-sample tier runs its fitting tier's jobs (less the dose series) on other seeds
        same = ("algo", "envs", "total_steps", "bugs", "overrides")
        assert [load_tier(TierSettings(tier=fit))[k] for k in same] == [tier[k] for k in same]


def test_the_return_test_separates_where_the_seeds_part():
    from rl_lab.lab.detection import return_test_step
    from tests.test_timeline import STEPS, job

    rng = np.random.default_rng(0)

    def runs(bug: str, n: int, slowed_from: int | None) -> list:
        curve = [s / 10 + (0 if slowed_from is None or s < slowed_from else -(s - slowed_from)) for s in STEPS]
        return [
            job(bug, seed, {"charts/return_last100": list(curve + rng.normal(0, 1, len(STEPS)))}) for seed in range(n)
        ]

    clean, slowed = runs("none", 10, None), runs("sign_flip", 3, 1000)
    assert return_test_step(slowed, clean) == 1100  # the first log point past 1,000 where the seeds part
    assert return_test_step(clean[:3], clean[3:]) is None  # clean runs never separate
    assert return_test_step(slowed[:1], clean) is None  # one seed: no test


def test_detection_counts_both_columns_from_the_events(ci_sweep):
    from rl_lab.lab.detection import detection

    pairs, alarms = detection(load_sweep(ci_sweep))
    by_bug = {p.bug: p for p in pairs}
    # every ci bug trips an exact check at the first log point; the generic detectors see fewer of them
    assert all(p.flagged["with consistency"] == p.runs == 1 for p in pairs)
    assert sum(p.flagged["generic"] for p in pairs) < len(pairs)
    assert by_bug["off_by_one_frames"].first["with consistency"] == 1000
    assert alarms["generic"] == alarms["with consistency"] == (0, 4)


def test_an_exact_check_points_at_its_seam_for_a_bug_no_signature_knows(ci_sweep, tmp_path):
    golden = json.loads(GOLDEN_CI.read_text())
    del golden["envs"]["cartpole"]["bugs"]["off_by_one_frames"]  # the lab has never seen this bug
    (tmp_path / "golden.json").write_text(json.dumps(golden))
    bugged = next(ci_sweep.glob("bug=off_by_one_frames,*"))
    done = _run("rl_lab.diagnose", str(bugged), f"golden={tmp_path / 'golden.json'}")
    assert done.returncode == 0, done.stderr
    assert "look first at the seams: training_forward (act_train_consistency fired at 1,000)" in done.stdout


def test_diagnose_evidence_says_where_each_value_was_read():
    """The return is read where the run ended (a running mean already), not over the window of the
    other series, which are medians over the second half of the log points."""
    from rl_lab.lab.diagnose import read_where

    steps = np.array([1_000.0, 2_000.0, 3_000.0, 4_000.0])
    assert read_where("charts/return_last100", steps) == "at step 4,000"
    assert read_where("grads/global_norm", steps) == "(median over steps 3,000-4,000)"


def test_look_shows_evenly_spaced_points_the_last_one_included():
    from rl_lab.look import table

    run = [{"step": s, "x": float(s)} for s in range(1_000, 11_000, 1_000)]  # ten log points
    rows = table({"run": run}, ["x"], points=3)[1:]
    assert [int(row.split()[0].replace(",", "")) for row in rows] == [1_000, 5_000, 10_000]


def test_report_says_which_exact_checks_fired_for_a_bug_no_check_watches():
    from rl_lab.lab.report import _exact_fired

    silent = [SimpleNamespace(summary={"detectors": {"learns_worse": 9000}}) for _ in range(3)]
    assert _exact_fired(silent) == "no exact check fired in its runs"  # a learning detector is not an exact check
    loud = [*silent, SimpleNamespace(summary={"detectors": {"record_consistency": 40}})]
    assert _exact_fired(loud) == "exact checks that fired in its runs: record_consistency"
