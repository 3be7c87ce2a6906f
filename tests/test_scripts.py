"""The scripts that write results/: a default output that is a committed result is refused at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.test_train import REPO


@pytest.mark.parametrize(
    ("script", "args", "committed"),
    [
        ("false_alarms.py", ["env=cartpole"], "results/detectors/false_alarms_cartpole_evaluation.md"),
        ("calibrate_envelope.py", ["env=catch"], "conf/envelopes/catch.yaml"),
        ("calibrate_detectors.py", [], "results/detectors/clean_cartpole_calibration.txt"),
        ("bug_signatures.py", [], "results/zoo/cartpole_signatures.md"),
        ("known_result.py", [], "results/known_result/cartpole"),
        ("probe_matrix.py", [], "results/atlas/probes/cartpole.md"),
        ("diagnoser_accuracy.py", [], "results/diagnoser/accuracy.md"),
        ("detection_report.py", ["multirun/atlas/fast_evaluation"], "results/detectors/detection_fast_evaluation.md"),
    ],
)
def test_a_script_refuses_to_overwrite_a_committed_result_before_any_work(script, args, committed):
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"config error: {REPO / committed} is a committed result and would be overwritten: write elsewhere with "
        f"{'report' if script == 'diagnoser_accuracy.py' else 'out'}=PATH"
    ]
