"""Probe environments, the overfit-one-batch check and ``python -m rl_lab.probe``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rl_lab.envs import make_envs
from rl_lab.envs.probes import PROBES, DiscountProbe, PolicyValueProbe
from rl_lab.lab.probing import (
    PROBE_GAMMA,
    matrix_markdown,
    overfit_one_batch,
    run_all,
    run_probe,
    variants_for,
)
from rl_lab.run.training import build_agent
from tests.test_train import settings_for

REPO = Path(__file__).resolve().parent.parent
PROBE = {p.name: p for p in PROBES}


def _optimal_return(env, gamma: float, seed: int) -> tuple[float, float]:
    """(first observation's state, discounted return) of one episode under the best action."""
    obs, _ = env.reset(seed=seed)
    first, ret, discount, done = env.state, 0.0, 1.0, False
    while not done:
        state = env.state
        action = max(range(env.n_actions), key=lambda a: env.reward(state, a, env.t))
        obs, reward, done, truncated, _ = env.step(action)
        assert not truncated
        ret += discount * reward
        discount *= gamma
    return first, ret


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_value_answers_are_the_discounted_returns_of_the_best_policy(probe):
    env = probe.env()
    checks = {c.state: c.target for c in env.checks(PROBE_GAMMA) if c.action is None}
    seen = {}
    for seed in range(20):
        first, ret = _optimal_return(env, PROBE_GAMMA, seed)
        seen[first] = ret
    for state, target in checks.items():
        if state in seen:  # episodes start in the first state; later states are checked below
            assert seen[state] == pytest.approx(target)


def test_discount_probe_walks_three_states_and_pays_at_the_end():
    env = DiscountProbe()
    obs, _ = env.reset(seed=0)
    steps = [env.step(0) for _ in range(3)]
    assert obs.tolist() == [-1.0] and [s[0].tolist() for s in steps[:2]] == [[0.0], [1.0]]
    assert [s[1] for s in steps] == [0.0, 0.0, 1.0]
    assert [s[2] for s in steps] == [False, False, True]
    # V(-1) = gamma^2, V(0) = gamma, V(1) = 1
    assert [c.target for c in env.checks(0.5)] == [0.25, 0.5, 1.0]


def test_image_variant_gives_each_state_its_own_band():
    env = PolicyValueProbe(image=True)
    images = [env.encode(s) for s in (-1.0, 0.0, 1.0)]
    assert all(im.dtype == np.uint8 and im.shape == env.observation_space.shape for im in images)
    assert all(im.max() == 255 and im.min() == 0 for im in images)
    overlap = [(images[i] & images[j]).any() for i, j in ((0, 1), (0, 2), (1, 2))]
    assert not any(overlap)


def test_clean_agent_passes_every_probe_in_both_variants():
    results = run_all(settings_for())
    assert [(r.probe, r.variant) for r in results] == [(p.name, v) for p in PROBES for v in ("vector", "image")]
    failed = [(r.probe, r.variant, r.measured, r.error) for r in results if not r.passed]
    assert not failed
    # solved with room to spare: at most half of each budget
    assert all(r.updates <= PROBE[r.probe].max_updates // 2 for r in results)


@pytest.mark.parametrize(
    ("bug", "probe"),
    [
        ("value_sign_flip", "value"),
        ("time_reversed_returns", "discount"),
        ("shuffled_labels", "backprop"),
        ("sign_flip", "policy"),
        ("wrong_gather_dim", "policy_value"),
    ],
)
def test_bug_fails_the_probe_that_localizes_it(bug, probe):
    result = run_probe(PROBE[probe], "vector", settings_for(f"bug={bug}"))
    assert not result.passed
    assert result.updates == PROBE[probe].max_updates or result.error


def test_nan_in_a_probe_is_a_failure_with_its_error():
    result = run_probe(PROBE["policy"], "vector", settings_for("bug=numerical_overflow"))
    assert not result.passed and "ValueError" in result.error


def test_cnn_agent_takes_image_probes_only_and_solves_the_value_probe():
    settings = settings_for("env=pong")
    assert variants_for(settings) == ("image",)
    result = run_probe(PROBE["value"], "image", settings)
    assert result.passed, result.measured


def test_unknown_variant_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="variant='rgb' is invalid: valid choices are vector, image"):
        run_probe(PROBE["value"], "rgb", settings_for())


def _overfit(*overrides: str):
    settings = settings_for(*overrides)
    envs = make_envs(settings.env, settings.agent.n_envs)
    try:
        return overfit_one_batch(build_agent(settings, envs, seed=0))
    finally:
        envs.close()


def test_clean_agent_overfits_one_batch():
    result = _overfit()
    assert result.passed and result.batch_size == 40
    assert result.value_loss_end <= 0.01 * result.value_loss_start
    assert result.mean_action_prob >= 0.9


@pytest.mark.parametrize("bug", ["value_sign_flip", "broadcast_shape", "sign_flip"])
def test_loss_bugs_keep_the_batch_from_fitting(bug):
    assert not _overfit(f"bug={bug}").passed


def test_matrix_lists_failures_and_the_bugs_no_probe_catches():
    def report(*outcomes):
        probes = [{"probe": "value", "variant": "vector", "passed": outcomes[0], "updates": 30}]
        return {"probes": probes, "overfit": {"passed": outcomes[1], "steps": 900}}

    text = matrix_markdown({"none": report(True, True), "a": report(False, True), "b": report(True, True)})
    assert "| a | **FAIL** | pass 900 | 1 of 2 |" in text
    assert "Bugs no probe catches: b." in text


def _cli(*overrides: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rl_lab.probe", "progress=false", f"hydra.run.dir={tmp_path}", *overrides],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_clean_agent_passes_and_writes_its_results(tmp_path):
    done = _cli(tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all checks passed" in done.stdout and "overfit one batch (40 samples)" in done.stdout
    report = json.loads((tmp_path / "probes.json").read_text())
    assert report["passed"] and len(report["probes"]) == 10


def test_cli_exits_1_and_names_the_failed_probes(tmp_path):
    done = _cli("bug=numerical_overflow", tmp_path=tmp_path)
    assert done.returncode == 1
    assert "failed: policy/vector, policy/image, policy_value/vector, policy_value/image" in done.stdout


def test_cli_refuses_an_algorithm_whose_seams_it_does_not_drive(tmp_path):
    done = _cli("algo=ppo", tmp_path=tmp_path)
    assert done.returncode == 1 and not (tmp_path / "probes.json").exists()
    assert done.stderr.strip() == (
        "config error: algo=ppo is invalid for rl_lab.probe: its probes drive A2C's seams; valid choices are algo=a2c"
    )


def test_cli_bad_bug_name_lists_the_choices(tmp_path):
    done = _cli("bug=sign_flp", tmp_path=tmp_path)
    assert done.returncode != 0 and "sign_flip" in done.stderr
