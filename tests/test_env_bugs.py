"""The env-side bugs: each wrapper does what its card says, dose 0 is the env untouched, and the
agent's exact checks stay silent on them, by design (they compare the agent with its env)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rl_lab import bugs
from rl_lab.agent.seams import A2CSeams
from rl_lab.envs import make_classic_env
from rl_lab.instruments.detectors import CONSISTENCY, LEARNING
from rl_lab.run.training import build_detectors, compose_settings, train

ENV_BUGS = sorted(name for name in bugs.zoo() if bugs.seams_of(bugs.registry()[name]) == ("wrap_env",))


def _wrapped(name: str, dose: float, n_envs: int = 4, limit: int | None = None):
    seams = bugs.inject(A2CSeams(), {name: {"dose": dose}})
    return seams.wrap_env(make_classic_env("CartPole-v1", n_envs, max_episode_steps=limit))


def _clean(n_envs: int = 4, limit: int | None = None):
    return make_classic_env("CartPole-v1", n_envs, max_episode_steps=limit)


def _play(envs, steps: int, seed: int = 3, actions_seed: int = 0) -> list[tuple]:
    rng = np.random.default_rng(actions_seed)
    out = [envs.reset(seed=seed)]
    for _ in range(steps):
        out.append(envs.step(rng.integers(0, 2, envs.num_envs)))
    return out


def test_the_zoo_has_at_least_five_env_side_bugs_each_with_a_cited_story():
    assert len(ENV_BUGS) >= 5
    for name in ENV_BUGS:
        story = bugs.registry()[name].__doc__.split("Seam:")[0]
        assert "#" in story or "20" in story, f"{name}'s story cites no report"


@pytest.mark.parametrize("name", [n for n in ENV_BUGS if n not in ("frame_skip_twice", "time_limit_twice")])
def test_dose_zero_is_the_env_untouched(name):
    for got, want in zip(_play(_wrapped(name, 0.0), 60), _play(_clean(), 60), strict=True):
        for a, b in zip(got[:-1], want[:-1], strict=True):
            np.testing.assert_array_equal(a, b)


def test_sticky_actions_at_dose_1_repeat_each_episodes_first_action():
    envs = _wrapped("sticky_actions", 1.0, n_envs=1)
    twin = _clean(n_envs=1)
    envs.reset(seed=0), twin.reset(seed=0)
    first = envs.step(np.array([1]))[0]
    np.testing.assert_array_equal(first, twin.step(np.array([1]))[0])
    for _ in range(3):  # whatever is chosen, action 1 is executed until the episode ends
        np.testing.assert_array_equal(envs.step(np.array([0]))[0], twin.step(np.array([1]))[0])


def test_frame_skip_twice_steps_the_env_dose_times_and_sums_the_reward():
    envs, twin = _wrapped("frame_skip_twice", 3, n_envs=1), _clean(n_envs=1)
    envs.reset(seed=0), twin.reset(seed=0)
    obs, reward, *_ = envs.step(np.array([1]))
    for _ in range(3):
        want, *_ = twin.step(np.array([1]))
    np.testing.assert_array_equal(obs, want)
    assert reward[0] == 3.0


def test_frame_skip_twice_reports_an_inner_end_with_its_final_observation():
    envs = _wrapped("frame_skip_twice", 2, n_envs=2, limit=5)  # ends at env step 5: an inner step
    envs.reset(seed=0)
    for _ in range(2):
        _, reward, terminated, truncated, _ = envs.step(np.array([0, 1]))
        assert not (terminated.any() or truncated.any())
    _, reward, terminated, truncated, info = envs.step(np.array([0, 1]))
    ended = np.logical_or(terminated, truncated)
    assert ended.all() and info["_final_obs"].all() and (reward == 1.0).all()  # the reward up to the end only


def test_truncation_as_termination_reports_time_limit_ends_as_terminations():
    _, _, terminated, truncated, _ = _play(_wrapped("truncation_as_termination", 1.0, limit=3), 3)[-1]
    assert terminated.all() and not truncated.any()
    _, _, terminated, truncated, _ = _play(_clean(limit=3), 3)[-1]
    assert truncated.all() and not terminated.any()


def test_time_limit_twice_truncates_at_the_outer_limit_and_restarts_the_episode():
    envs = _wrapped("time_limit_twice", 4, n_envs=2)
    obs, _ = envs.reset(seed=0)
    for _ in range(3):
        obs, _, terminated, truncated, _ = envs.step(np.array([0, 1]))
        assert not truncated.any()
    last = obs
    obs, _, terminated, truncated, info = envs.step(np.array([0, 1]))
    assert truncated.all() and not terminated.any() and info["_final_obs"].all()
    assert all(np.abs(o).max() <= 0.05 for o in obs)  # CartPole's reset state lies in [-0.05, 0.05]
    assert not np.allclose(np.stack(info["final_obs"]), last)


def test_observation_faults_at_dose_1():
    noise = _play(_wrapped("observation_replaced_by_noise", 1.0), 5)
    clean = _play(_clean(), 5)
    assert not np.isclose(noise[-1][0], clean[-1][0]).any()
    partly = _play(_wrapped("observation_partly_noise", 1.0), 50)
    kept = np.mean([np.isclose(p[0], c[0]).mean() for p, c in zip(partly, _play(_clean(), 50), strict=True)])
    assert 0.4 < kept < 0.6  # half the entries, each with probability one half
    repeated = _play(_wrapped("observation_repeated", 1.0), 5)
    for step in repeated[1:]:
        np.testing.assert_array_equal(step[0], repeated[0][0])  # the first observation, stuck


def test_reward_noise_adds_standard_normal_noise_at_the_dose():
    got = np.concatenate([s[1] for s in _play(_wrapped("reward_noise", 0.5, n_envs=8), 400)[1:]])
    want = np.concatenate([s[1] for s in _play(_clean(n_envs=8), 400)[1:]])
    noise = got - want
    hit = noise != 0
    assert 0.45 < hit.mean() < 0.55 and abs(noise[hit].std() - 1.0) < 0.1


@pytest.mark.parametrize("name", ENV_BUGS)
def test_the_exact_checks_stay_silent_on_an_env_side_bug(tmp_path, name):
    dose = {"time_limit_twice": ["bug.time_limit_twice.dose=20"]}.get(name, [])
    settings = compose_settings([f"bug={name}", *dose, "total_steps=2000", "progress=false", "torch_threads=1"])
    summary = train(settings, tmp_path)
    consistency = {n for n, d in build_detectors(settings.diagnostics).detectors.items() if d.kind == CONSISTENCY}
    assert summary["status"] == "finished"
    assert not consistency & set(summary["detectors"]), summary["detectors"]


def _job_with_events(tmp_path, *events: tuple[str, str, int]):
    from types import SimpleNamespace

    lines = [json.dumps({"detector": name, "kind": kind, "step": step}) for name, kind, step in events]
    (tmp_path / "events.jsonl").write_text("".join(line + "\n" for line in lines))
    return SimpleNamespace(path=tmp_path)


def test_the_diagnoser_says_look_at_the_environment_only_when_no_exact_check_fired(tmp_path):
    from rl_lab.lab.diagnose import environment_note

    note = environment_note(_job_with_events(tmp_path, ("learns_worse", LEARNING, 9000)))
    assert note.startswith("look at the environment: learns_worse fired at 9,000")
    exact = ("record_consistency", CONSISTENCY, 40_000)  # an exact check, even later: the agent's own part
    assert environment_note(_job_with_events(tmp_path, ("learns_worse", LEARNING, 9000), exact)) is None
    assert environment_note(_job_with_events(tmp_path)) is None
