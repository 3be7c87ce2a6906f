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


def test_what_the_workshop_sends_the_learner_to_in_readme_is_there():
    """The workshop names README's parts in quotes ("Probes", "The zoo at Pong scale", the table
    "Detectors"); each must be a heading or a bold paragraph title of README."""
    workshop = " ".join((ROOT / "rl_lab" / "workshop" / "README.md").read_text().split())
    readme = README.read_text()
    named = set(re.findall(r'"([^"]+)"[^".]{0,40}(?:in|of) the (?:repository|top-level) README', workshop))
    named |= set(re.findall(r'(?:repository|top-level) README \("([^"]+)", under "([^"]+)"\)', workshop)[0])
    named |= set(re.findall(r'the table "([^"]+)" in the (?:repository|top-level) README', workshop))
    assert {"Probes", "The zoo at Pong scale", "Detectors"} <= named, named
    titles = {t.strip() for t in re.findall(r"^#+ (.+)$|^\*\*([^*]+)\*\*", readme, re.M) for t in t if t}
    missing = sorted(name for name in named if name not in titles)
    assert not missing, f"the workshop names parts README does not have: {missing}"


def test_readmes_probe_table_says_what_each_probe_points_at():
    from rl_lab.envs.probes import PROBES

    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|$", README.read_text(), re.M))
    assert {probe.name: probe.env.tests for probe in PROBES} == {
        name: rows.get(name, "").strip() for name in (probe.name for probe in PROBES)
    }
    assert "overfit" in rows


def test_the_answer_keys_first_signs_of_sign_flip_are_what_the_workshop_command_prints(tmp_path):
    """Q2.1: the order in which the detectors fire on the workshop's sign_flip run, as the key states it."""
    key = " ".join((ROOT / "rl_lab" / "workshop" / "answers.md").read_text().split())
    stated = re.search(r"prints, in order, (.+?) \(checked by", key).group(1)
    expected = [
        (name, int(step.replace(",", ""))) for name, step in re.findall(r"`(\w+)` at (?:step )?([\d,]+)", stated)
    ]
    names = [name for name, _ in expected]
    assert names[0] == "policy_loss_consistency" and names.index("learns_worse") < names.index("entropy_collapse")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rl_lab.train",
            "total_steps=20000",
            "bug=sign_flip",
            "progress=false",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    fired = re.search(r"detectors fired: (.+);", done.stdout).group(1)
    printed = [(name, int(step)) for name, step in re.findall(r"(\w+) at step (\d+)", fired)]
    assert printed == expected, done.stdout


def test_the_elhage_demos_time_is_the_same_in_readme_and_in_its_usage():
    """The demo's one time estimate (10 runs of 100k Catch steps, two at a time), stated alike where it is stated."""
    from rl_lab import elhage

    readme = re.search(r"\*\*See it happen\*\* \(about (\d+) minutes on 2 cores\)", _readme())
    usage = re.search(r"python -m rl_lab.elhage +# Catch, 5 seeds x 2 arms x 100k steps, ~(\d+) min", elhage.__doc__)
    assert readme and usage and readme.group(1) == usage.group(1)
