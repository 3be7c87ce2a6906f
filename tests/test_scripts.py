"""The scripts that write results/: a default output that is a committed result is refused at once."""

from __future__ import annotations

import json
import runpy
import sys

import pytest
import torch

from tests.test_train import REPO


@pytest.mark.parametrize(
    ("script", "args", "committed"),
    [
        ("false_alarms.py", ["env=cartpole"], "results/detectors/false_alarms_cartpole_evaluation.md"),
        ("learns_worse.py", ["env=catch"], "results/detectors/learns_worse_catch.md"),
        ("env_faults.py", ["env=catch"], "results/detectors/env_faults_catch.md"),
        ("area_candidates.py", ["env=catch"], "results/detectors/area_candidates_catch.md"),
        ("calibrate_envelope.py", ["env=catch"], "conf/envelopes/catch.yaml"),
        ("calibrate_detectors.py", [], "results/detectors/clean_cartpole_calibration.txt"),
        ("bug_signatures.py", [], "results/zoo/cartpole_signatures.md"),
        ("known_result.py", [], "results/known_result/cartpole"),
        ("probe_matrix.py", [], "results/atlas/probes/cartpole.md"),
        ("diagnoser_accuracy.py", [], "results/diagnoser/accuracy.md"),
        ("detection_report.py", ["multirun/atlas/fast_evaluation"], "results/detectors/detection_fast_evaluation.md"),
        ("conv_dtype.py", [], "results/throughput/conv_dtype.md"),
        ("speed_options.py", ["option=bf16_conv"], "results/throughput/conv_dtype.md"),
    ],
)
def test_a_script_refuses_to_overwrite_a_committed_result_before_any_work(script, args, committed, monkeypatch, capsys):
    # in this process (runpy), as `python scripts/NAME.py ARGS` runs it: no interpreter to start per script
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", [script, *args])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(REPO / "scripts" / script), run_name="__main__")
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"config error: {REPO / committed} is a committed result and would be overwritten: write elsewhere with "
        f"{'report' if script == 'diagnoser_accuracy.py' else 'out'}=PATH"
    ]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["minutes=0"], "run=clean would train nothing (finished) and only write its committed results again"),
        (["run=clean", "minutes=30"], "run=clean would train nothing (finished)"),
        (["run=clean_seed1", "minutes=30"], "run=clean_seed1 would train nothing (finished)"),
        (["run=off_by_one_frames", "minutes=0"], "run=off_by_one_frames would train nothing (minutes=0"),
        (
            ["run=nope"],
            "run='nope' is invalid: valid choices are clean, clean_seed1, fast, ppo, sb3_ppo, off_by_one_frames",
        ),
    ],
)
def test_the_long_pong_runs_never_rewrite_committed_results_without_training(args, error, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["pong_long_run.py", *args])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(REPO / "scripts" / "pong_long_run.py"), run_name="__main__")
    assert stopped.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"config error: {error}"), line


PROFILE_OPTIONS = "valid options: algo, env, iterations, repeats, seed, top"
BENCH_OPTIONS = "valid options: steps, repeats, precision, max_repeats, ratio, contestants, only"


@pytest.mark.parametrize(
    ("script", "args", "error"),
    [
        (
            "profile_loop.py",
            ["iterations=abc"],
            f"'abc' of type 'str' could not be converted to Integer; {PROFILE_OPTIONS}",
        ),
        ("profile_loop.py", ["warmup=3"], f"Key 'warmup' not in 'Options'; {PROFILE_OPTIONS}"),
        ("bench_throughput.py", ["stepz=100"], f"Key 'stepz' not in 'Options'; {BENCH_OPTIONS}"),
        ("speed_options.py", ["option=fp8"], "option='fp8' is invalid: valid choices are bf16_conv, lagged"),
        (
            "bench_throughput.py",
            ["ratio=rl"],
            "ratio='rl' is invalid: valid choices are rl_lab, rl_lab_bf16_conv, rl_lab_lagged, rl_lab_bf16_lagged, sb3",
        ),
        (
            "bench_throughput.py",
            ["contestants=[rl_lab,sb4]"],
            "contestants: 'sb4' is invalid: valid choices are rl_lab, rl_lab_bf16_conv, rl_lab_lagged, rl_",
        ),
    ],
)
def test_a_measuring_script_refuses_a_bad_option_in_one_line_with_the_valid_ones(
    script, args, error, monkeypatch, capsys
):
    monkeypatch.setattr(sys, "argv", [script, *args])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(REPO / "scripts" / script), run_name="__main__")
    assert stopped.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("config error: ") and error in line, line


@pytest.mark.slow
def test_profile_loop_times_every_part_and_option_and_compares_their_weights(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["profile_loop.py", "env=cartpole", "iterations=2", "repeats=2", "top=3"])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(REPO / "scripts" / "profile_loop.py"), run_name="__main__")
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert "environment steps" in out and "aten::" in out
    assert "eager     largest |weight - eager's| 0\n" in out  # the reference against itself
    for option in ("compiled", "bf16", "threads1"):
        assert f"update         {option}" in out and f"acting passes  {option}" in out


@pytest.mark.slow
def test_an_sb3_long_run_session_continues_the_weights_adam_and_the_schedules(tmp_path):
    script = runpy.run_path(str(REPO / "scripts" / "pong_long_run.py"))  # its functions, main not run
    # rollouts of 128 steps: each zero-minute session is one rollout and one update, then stops
    run = script["LongRun"](
        "unused", "unused", "unused", ("algo=ppo", "agent.n_steps=16", "agent.batch_size=64"), trainer="sb3"
    )
    saved = []
    for session in (1, 2):
        script["train_sb3_for"](run, tmp_path, 0.0, "cpu")
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert (summary["status"], summary["steps"], summary["sessions"]) == ("interrupted", 128 * session, session)
        saved.append(torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True))
    assert saved[1]["num_timesteps"] == 256
    # the second session trained the first one's weights on: Adam's step count went on from 8 (one
    # update: 4 epochs of 2 minibatches), and its learning rate is the schedule's at 256 of 10M steps
    adam = [s["parameters"]["policy.optimizer"] for s in saved]
    assert [a["state"][0]["step"].item() for a in adam] == [8, 16]
    assert adam[1]["param_groups"][0]["lr"] == pytest.approx(2.5e-4 * (1 - 256 / 10_000_000), rel=1e-12)
    assert not torch.equal(
        saved[0]["parameters"]["policy"]["action_net.weight"], saved[1]["parameters"]["policy"]["action_net.weight"]
    )
