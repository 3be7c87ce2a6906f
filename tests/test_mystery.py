"""Mystery mode: bug=mystery plants a hidden zoo bug (or none); nothing the learner sees names it;
rl_lab.reveal does."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rl_lab.bugs.mystery import CLEAN, pick, pool

import rl_lab
from rl_lab import bugs
from rl_lab.agent.seams import A2CSeams, SharedSeams

ROOT = Path(__file__).resolve().parent.parent


def _changed(seams: SharedSeams) -> set[str]:
    """The fields of a seams record (A2C's or PPO's) that differ from the clean one's."""
    clean = type(seams)()
    return {f.name for f in dataclasses.fields(seams) if getattr(seams, f.name) is not getattr(clean, f.name)}


def test_each_algorithm_has_its_pool_and_a_run_reveals_its_own_pick(tmp_path):
    from rl_lab.agent.seams import PPOSeams
    from rl_lab.lab.reveal import planted

    a2c, ppo = pool(), pool("ppo")
    assert "surrogate_max" in ppo and "surrogate_max" not in a2c and "sign_flip" not in ppo
    assert all("ppo" in bugs.algorithms_of(bugs.registry()[name]) for name in ppo if name != CLEAN)
    assert {pick(n, "ppo")[0] for n in range(len(ppo))} == set(ppo)  # one cycle: every answer once
    env_side = {"observation_replaced_by_noise", "reward_noise", "sticky_actions"}  # the environment's own faults
    assert (
        env_side <= set(a2c) and env_side <= set(ppo) and "time_limit_twice" not in a2c
    )  # a bug of some ENVS only is not
    number = next(n for n in range(len(ppo)) if pick(n, "ppo")[0] == "surrogate_max")
    # a PPO run plants from PPO's pool: the run is valid, and reveal reads the algorithm from its config
    assert bugs.validate({"mystery": {"dose": number}}, "cartpole", PPOSeams) == {"mystery": float(number)}
    assert _changed(bugs.inject(PPOSeams(), {"mystery": {"dose": number}})) == {"clipped_surrogate"}
    (tmp_path / "config.yaml").write_text(
        f"algo: {{_target_: rl_lab.agent.ppo.PPO}}\nbug: {{mystery: {{dose: {number}}}}}\n"
    )
    assert planted(tmp_path) == ("surrogate_max", pick(number, "ppo")[1]) != pick(number)


def test_pick_is_a_fixed_function_of_the_number_and_covers_the_pool():
    assert [pick(n) for n in range(20)] == [pick(n) for n in range(20)]
    assert {pick(n)[0] for n in range(400)} == set(pool())


@pytest.mark.parametrize("cycle", [0, 1, 7])
def test_every_cycle_of_numbers_plants_every_answer_exactly_once(cycle):
    size = len(pool())
    answers = [pick(n)[0] for n in range(cycle * size, (cycle + 1) * size)]
    assert sorted(answers) == sorted(pool())  # each answer once: no repeats, none missing


def test_cycles_differ_in_order():
    size = len(pool())
    assert [pick(n)[0] for n in range(size)] != [pick(n)[0] for n in range(size, 2 * size)]


def test_pick_rejects_a_number_that_is_not_whole():
    assert CLEAN in pool() and "missing_eval_mode" not in pool()  # needs dropout: the config would tell
    with pytest.raises(ValueError, match="whole number"):
        pick(2.5)


@pytest.mark.parametrize("number", range(12))
def test_mystery_plants_exactly_the_picked_bug(number):
    name, dose = pick(number)
    planted = bugs.inject(A2CSeams(), {"mystery": {"dose": number}})
    if name == CLEAN:
        assert _changed(planted) == set()
    else:
        assert _changed(planted) == set(bugs.seams_of(bugs.registry()[name]))
        assert dose in getattr(bugs.registry()[name], "MYSTERY_DOSES", (bugs.registry()[name].DOSE,))


def test_user_bugs_do_not_change_what_a_number_plants(tmp_path):
    before = [pick(n) for n in range(40)]
    (tmp_path / "my_extra_bug.py").write_text(
        '"""A user bug.\n\nStory: x. Seam: y. Dose: z. Symptoms: w."""\n'
        'SEAM = "entropy"\nDOSE = 1.0\nSYMPTOM = "none"\n\ndef inject(seams, dose):\n    return seams\n'
    )
    bugs.load([tmp_path])
    assert "my_extra_bug" in bugs.registry() and "my_extra_bug" not in pool()
    assert [pick(n) for n in range(40)] == before


def test_mystery_is_not_a_zoo_bug():
    assert "mystery" in bugs.registry() and "mystery" not in bugs.zoo()


def test_nothing_in_a_mystery_run_names_the_bug_and_reveal_does(tmp_path):
    number = next(n for n in range(100) if pick(n)[0] == "off_by_one_frames")
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rl_lab.train",
            "bug=mystery",
            f"bug.mystery.dose={number}",
            "total_steps=3000",
            "progress=false",
            f"hydra.run.dir={run_dir}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = done.stdout + done.stderr
    for path in Path(run_dir).rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".json", ".jsonl", ".txt", ".log", ""):
            seen += path.read_text(errors="ignore")
        seen += str(path)
    for word in ("off_by_one", "frames", "training_forward"):
        assert word not in seen
    assert "act_train_consistency" in seen  # the evidence is there; the name is not
    revealed = subprocess.run(
        [sys.executable, "-m", "rl_lab.reveal", str(run_dir)], capture_output=True, text=True, cwd=ROOT
    )
    assert revealed.returncode == 0 and f"off_by_one_frames (dose {pick(number)[1]:g})" in revealed.stdout


def test_the_workshop_answers_list_what_pick_plants_and_the_pool_size():
    text = (Path(rl_lab.__file__).parent / "workshop" / "answers.md").read_text()
    listed = re.findall(r"(\d+) ([a-z_]+)(?: \(([\d.]+)\))?[,.]", " ".join(text.split("They plant", 1)[1].split()))
    size = len(pool())
    assert [(int(n), name) for n, name, _ in listed[:size]] == [(n, pick(n)[0]) for n in range(size)]
    assert all(float(dose) == pick(int(n))[1] for n, _, dose in listed[:size] if dose)
    assert f"Numbers 0-{size - 1} are one cycle" in text
    assert f"({size - 1} bugs and no bug)" in (Path(rl_lab.__file__).parent / "workshop" / "README.md").read_text()


def test_the_workshop_answers_list_what_pick_plants_for_ppo():
    text = (Path(rl_lab.__file__).parent / "workshop" / "answers.md").read_text()
    listed = re.findall(
        r"(\d+) ([a-z_]+)(?: \(([\d.]+)\))?[,.]", " ".join(text.split("PPO's numbers plant", 1)[1].split())
    )
    size = len(pool("ppo"))
    assert [(int(n), name) for n, name, _ in listed[:size]] == [(n, pick(n, "ppo")[0]) for n in range(size)]
    assert all(float(dose) == pick(int(n), "ppo")[1] for n, _, dose in listed[:size] if dose)
    assert f"Numbers 0-{size - 1} are one cycle of PPO's pool ({size - 1} bugs and no bug)" in " ".join(text.split())
    readme = " ".join((Path(rl_lab.__file__).parent / "workshop" / "README.md").read_text().split())
    assert f"numbers 0-{size - 1} plant each of its answers ({size - 1} bugs and no bug) once" in readme


def test_the_pool_leaves_out_bugs_that_need_a_context_or_some_envs():
    assert "missing_eval_mode" not in pool() and "timeout_as_terminal" not in pool()  # CONTEXT
    assert "frame_stack_not_reset" not in pool()  # ENVS: Pong only
