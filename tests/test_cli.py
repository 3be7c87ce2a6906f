"""The commands' one idiom: --help is safe and useful, unknown settings are one-line errors,
and rl-lab installed as a package (not editable) trains from any directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMMANDS = ["train", "probe", "atlas", "report", "check", "diagnose", "evaluate", "reveal", "bugs", "look", "elhage"]


def _cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd, env=env)


# -h is --help's short form: the Hydra apps read it one way (train), the others one other (check)
@pytest.mark.parametrize(("command", "flag"), [(c, "--help") for c in COMMANDS] + [("train", "-h"), ("check", "-h")])
def test_help_prints_usage_with_examples_and_does_nothing_else(tmp_path, command, flag):
    done = _cli(f"rl_lab.{command}", flag, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "usage: python -m rl_lab." in done.stdout and f"python -m rl_lab.{command} " in done.stdout
    assert len(done.stdout.splitlines()) < 40  # a usage text, not a config dump
    assert list(tmp_path.iterdir()) == []  # no run, no directory, no log


def test_train_help_lists_the_envs_it_can_run_and_not_the_atlas_tiers(tmp_path):
    text = _cli("rl_lab.train", "--help", cwd=tmp_path).stdout
    envs = sorted(p.stem for p in (REPO / "conf" / "env").glob("*.yaml"))
    assert f"env={'|'.join(envs)}" in text
    assert "tier" not in text and "atlas" not in text


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("atlas", ["tier=fast", "sweep_dir=/tmp/x"], "unknown setting 'sweep_dir': valid settings are tier, algo, out"),
        ("atlas", ["tier=slow"], "tier='slow' is invalid: valid choices are ci, fast, fast_evaluation, pong"),
        ("atlas", ["seeds=abc"], "seeds=abc is invalid: seeds must be a list[int]"),
        ("check", [], "sweep is required"),
        ("check", ["multirun/x", "max_fpr=2"], "max_fpr=2.0 is invalid: must lie in [0, 1]"),
        ("report", ["a", "b"], "unexpected word 'b'"),
        ("diagnose", ["RUN", "top=0"], "top=0 is invalid"),
        ("evaluate", ["run=RUN"], "is invalid: not a run directory"),
        ("reveal", ["RUN"], "no run"),
        ("bugs", ["show", "nope"], "name='nope' is invalid: valid choices are activation_swapped"),
        ("bugs", ["show", "sign_flp"], "wrong_gather_dim (did you mean sign_flip or value_sign_flip"),
        ("look", ["RUN", "colour=red"], "unknown setting 'colour'"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_and_what_is_allowed(tmp_path, command, args, message):
    args = [a.replace("RUN", str(tmp_path)) for a in args]
    done = _cli(f"rl_lab.{command}", *args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rl_lab.{command}: error: ") and message in lines[0], done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_non_editable_install_trains_checks_and_diagnoses_from_another_directory(tmp_path, ci_sweep):
    """pip install (not editable) puts conf/, bugs/ and the golden signatures inside rl_lab and
    nothing named bugs at the top."""
    source, target = tmp_path / "source", tmp_path / "site"
    source.mkdir()
    for part in ("pyproject.toml", "README.md", "rl_lab", "bugs", "conf", "results"):  # a copy: no build/ here
        if (REPO / part).is_dir():
            shutil.copytree(REPO / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / part, source / part)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target)]
    subprocess.run([*pip, str(source)], check=True, capture_output=True)
    assert (target / "rl_lab" / "conf" / "config.yaml").is_file() and (
        target / "rl_lab" / "bugs" / "sign_flip.py"
    ).is_file()
    assert not (target / "bugs").exists() and not (target / "conf").exists()
    shipped = sorted(
        str(p.relative_to(target / "rl_lab" / "results")) for p in (target / "rl_lab" / "results").rglob("*.*")
    )
    assert (
        "atlas/ci/golden.json" in shipped
        and "atlas/fast/golden.json" in shipped
        and "atlas/probes/cartpole.json" in shipped
    )
    assert all(p.endswith((".json", ".py", ".pyc")) for p in shipped), shipped  # not the plots, the runs' states
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}  # the installed copy first, ahead of the checkout's editable one
    where = _cli("rl_lab.bugs", "list", cwd=work, env=env)
    assert "sign_flip" in where.stdout, where.stderr
    done = _cli("rl_lab.train", "total_steps=400", "progress=false", "bug=sign_flip", cwd=work, env=env)
    assert done.returncode == 0, done.stderr
    assert "finished: 400 steps" in done.stdout
    run_dirs = list((work / "runs" / "cartpole").iterdir())
    assert len(run_dirs) == 1 and (run_dirs[0] / "summary.json").is_file()
    located = _cli("rl_lab.look", str(run_dirs[0]), "series=list", cwd=work, env=env)
    assert "charts/return_last100" in located.stdout
    checked = _cli("rl_lab.check", str(ci_sweep), cwd=work, env=env)  # the shipped ci golden
    assert checked.returncode == 0 and "OK: no regression" in checked.stdout, checked.stdout + checked.stderr
    diagnosed = _cli("rl_lab.diagnose", str(next(ci_sweep.glob("bug=off_by_one_frames,*"))), cwd=work, env=env)
    assert diagnosed.returncode == 0 and "off_by_one_frames" in diagnosed.stdout, diagnosed.stderr
    for command, args, option in [
        ("rl_lab.check", [str(ci_sweep), "golden=nowhere.json"], "golden"),
        ("rl_lab.diagnose", [str(run_dirs[0]), "golden=nowhere.json"], "golden"),
        ("rl_lab.diagnose", [str(run_dirs[0]), "probes=nowhere.json"], "probes"),
    ]:
        missing = _cli(command, *args, cwd=work, env=env)
        lines = missing.stderr.strip().splitlines()
        assert missing.returncode == 2 and len(lines) == 1, missing.stderr
        assert "nowhere.json" in lines[0] and f"give {option}=PATH" in lines[0]
    imported = subprocess.run(
        [sys.executable, "-c", "import rl_lab; print(rl_lab.__file__)"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    assert imported.stdout.startswith(str(target))


def _checkout(tmp_path: Path) -> Path:
    """A clean git checkout of this tree as it is (tracked and new files; ignored ones such as .venv left out)."""
    checkout = tmp_path / "checkout"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    for name in filter(None, listed.stdout.split("\0")):
        if (REPO / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, checkout / name)
    # uncompressed: the tree holds 100 MB of committed results, and the copy lives for one test
    git = ["git", "-c", "user.name=rl-lab", "-c", "user.email=rl-lab@localhost", "-c", "core.compression=0"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "checkout"]):
        subprocess.run([*git, *step], cwd=checkout, check=True, capture_output=True)
    return checkout


def test_no_command_changes_a_clean_checkout(tmp_path):
    """Every command, run as README shows it from a clean checkout, leaves `git status` clean: its
    outputs go to runs/, multirun/ or beside them, never over a committed result. Two lanes of
    commands run side by side (each lane's commands depend on the one before)."""
    checkout = _checkout(tmp_path)
    tiny = ["envs=[cartpole]", "bugs=[sign_flip]", "seeds=[0]", "clean_seeds=[0]", "total_steps=400", "doses={}"]
    lanes = [
        [
            ("rl_lab.train", "total_steps=400", "progress=false", "hydra.run.dir=runs/clean"),
            ("rl_lab.evaluate", "results/known_result/pong/agent", "episodes=1"),  # refused: committed
            ("rl_lab.evaluate", "runs/clean", "episodes=1"),
            ("rl_lab.look", "runs/clean"),
            ("rl_lab.diagnose", "runs/clean"),
            ("rl_lab.probe", "seed=1"),
            ("rl_lab.bugs", "list"),
        ],
        [
            ("rl_lab.train", "total_steps=400", "progress=false", "bug=mystery", "hydra.run.dir=runs/mystery"),
            ("rl_lab.reveal", "runs/mystery"),
            ("rl_lab.atlas", "tier=ci", *tiny),
            ("rl_lab.report", "multirun/atlas/ci"),
            ("rl_lab.check", "multirun/atlas/ci"),
            ("rl_lab.elhage", "seeds=1", "total_steps=1000", "env=cartpole"),
        ],
    ]

    def run_lane(lane: list[tuple[str, ...]]) -> list[tuple[tuple[str, ...], subprocess.CompletedProcess]]:
        return [(args, _cli(*args, cwd=checkout)) for args in lane]

    with ThreadPoolExecutor(len(lanes)) as pool:
        done = [result for lane in pool.map(run_lane, lanes) for result in lane]
    for args, result in done:
        expected = (2,) if "results/known_result/pong/agent" in args else (0, 1)  # 1: a probe or check verdict
        assert result.returncode in expected, f"{args}: {result.stderr[-1500:]}"
    refused = next(result for args, result in done if "results/known_result/pong/agent" in args)
    assert "committed result" in refused.stderr
    atlas = next(result for args, result in done if args[0] == "rl_lab.atlas")
    assert "next: python -m rl_lab.check multirun/atlas/ci" in atlas.stdout  # README's path: check first
    assert (checkout / "multirun" / "atlas" / "ci" / "report" / "golden.json").is_file()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=checkout, capture_output=True, text=True).stdout
    assert status == "", status
