"""What README (and the workshop and the bug cards) quote of the commands' output is what they print:
every series name a run logs, the CI tier's closing line, the main command's closing line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from rl_lab.run.runlog import read_metrics

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "rl_lab" / "workshop").glob("*.md")), *sorted((ROOT / "bugs").glob("*.py"))]
SERIES = re.compile(r"`((?:losses|grads|params|activations|policy|inputs|value|charts|diagnostics|data)/[^`\s]*)`")


def _readme() -> str:
    return " ".join(README.read_text().split())  # a quoted line may wrap


def test_every_series_the_docs_name_is_one_a_run_logs(ci_sweep):
    logged = {key for run in ci_sweep.iterdir() if run.is_dir() for p in read_metrics(run) for key in p}
    named = {(doc.name, name) for doc in DOCS for name in SERIES.findall(doc.read_text())}
    assert len(named) > 20
    wrong = sorted(
        (doc, name)
        for doc, name in named
        if not (name in logged or (name.endswith("/") and any(k.startswith(name) for k in logged)))
    )
    assert not wrong, f"series named in the docs that no run logs: {wrong}"


def test_readmes_ci_tier_line_is_what_check_prints(ci_sweep):
    quoted = re.search(r"It ends with `(true-positive rate [^`]+)` and `(OK: [^`]+)`", _readme())
    assert quoted, "README no longer quotes the CI tier's closing line"
    done = subprocess.run([sys.executable, "-m", "rl_lab.check", str(ci_sweep)], capture_output=True, text=True)
    printed = " ".join(done.stdout.split())
    assert quoted.group(1) in printed and quoted.group(2) in printed, done.stdout


def test_readmes_main_command_closing_line_is_what_train_prints(tmp_path):
    quoted = re.search(r"at the end `(finished: [^`]+)`", _readme())
    assert quoted, "README no longer quotes the main command's closing line"
    pattern = re.escape(quoted.group(1)).replace(r"\.\.\.", ".+").replace("500000", r"\d+")
    done = subprocess.run(
        [sys.executable, "-m", "rl_lab.train", "total_steps=400", "progress=false", f"hydra.run.dir={tmp_path}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert re.search(pattern, done.stdout), (pattern, done.stdout)
