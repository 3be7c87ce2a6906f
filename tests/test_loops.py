"""The loop's order (rl_lab/agent/loops.py): serial is SB3's A2C and the default; lagged collects
rollout k+1 with the weights from before update k while update k runs, reproducibly, resumably,
with the exact checks still exact."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir

from rl_lab.agent.loops import LaggedLoop, SerialLoop
from rl_lab.envs import make_envs
from rl_lab.run.config import CONFIG_DIR, ConfigError, to_settings
from rl_lab.run.runlog import read_metrics
from rl_lab.run.training import build_agent, prepare_run, train


def _compose(*overrides: str):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=["progress=false", *overrides])


def _settings(*overrides: str):
    return to_settings(_compose(*overrides))


def _agent(loop: str, *overrides: str):
    settings = _settings("env=catch", f"loop={loop}", *overrides)
    agent = build_agent(settings, make_envs(settings.env, settings.agent.n_envs), settings.seed)
    return agent, (SerialLoop(agent) if loop == "serial" else LaggedLoop(agent))


def _weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _numbers(run_dir) -> list[dict]:
    return [{k: v for k, v in p.items() if k != "charts/sps"} for p in read_metrics(run_dir)]


def test_the_serial_loop_is_the_default():
    assert _settings().loop["_target_"] == "rl_lab.agent.loops.SerialLoop"


def test_the_lagged_loops_first_update_is_the_serial_one_bit_for_bit():
    serial, serial_loop = _agent("serial")  # each agent seeds torch's global generator: one after the other
    first, _, _ = serial_loop.iterate(prefetch=True)
    lagged, lagged_loop = _agent("lagged")
    lagged_first, _, _ = lagged_loop.iterate(prefetch=True)
    assert torch.equal(first.obs, lagged_first.obs) and torch.equal(first.actions, lagged_first.actions)
    for a, b in zip(_weights(serial.model), _weights(lagged.model), strict=True):
        assert torch.equal(a, b)
    lagged_loop.close()


@pytest.mark.parametrize("prefetch", [True, False])
def test_rollout_k_plus_1_acts_with_the_weights_from_before_update_k(prefetch):
    agent, loop = _agent("lagged")
    initial = _weights(agent.model)
    loop.iterate(prefetch=prefetch)  # update 0: initial -> theta_1
    after_first = _weights(agent.model)
    second, _, _ = loop.iterate(prefetch=prefetch)  # trains rollout 1, collected with the initial weights
    assert any(not torch.equal(a, b) for a, b in zip(initial, after_first, strict=True))
    for name_and_parameter, weights in zip(agent.model.named_parameters(), initial, strict=True):
        assert torch.equal(second.acting_parameters[name_and_parameter[0]], weights)
    with torch.no_grad():
        agent.model.eval()
        recomputed = torch.func.functional_call(agent.model, second.acting_parameters, (second.obs.flatten(0, 1),))
    assert torch.allclose(recomputed[0], second.logits.flatten(0, 1), atol=1e-6)
    loop.close()


def test_prefetching_or_not_gives_the_same_numbers():
    runs = []
    for prefetch in (True, False):
        agent, loop = _agent("lagged")
        for _ in range(4):
            loop.iterate(prefetch)
        runs.append(_weights(agent.model))
        loop.close()
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


def test_the_lagged_loop_trains_another_algorithm_than_the_serial_one():
    serial, serial_loop = _agent("serial")
    for _ in range(3):
        serial_loop.iterate(True)
    lagged, lagged_loop = _agent("lagged")
    for _ in range(3):
        lagged_loop.iterate(True)
    lagged_loop.close()
    assert any(not torch.equal(a, b) for a, b in zip(_weights(serial.model), _weights(lagged.model), strict=True))


def test_a_lagged_run_reproduces_and_its_exact_checks_stay_silent(tmp_path):
    common = ("env=catch", "loop=lagged", "total_steps=6000", "log_interval=400", "log_every_update_until=800")
    first = train(_settings(*common), tmp_path / "a")
    train(_settings(*common), tmp_path / "b")
    assert _numbers(tmp_path / "a") == _numbers(tmp_path / "b")
    assert first["status"] == "finished" and first["detectors"] == {}, first["detectors"]
    points = read_metrics(tmp_path / "a")
    assert max(p["policy/act_train_gap"] for p in points) < 1e-5
    # the gradient check on a lagged rollout: the update's weights are the reference
    gaps = [p["grads/grad_gap"] for p in points if "grads/grad_gap" in p]  # Pong: every 4th log point
    assert gaps and max(gaps) < 1e-4
    assert max(p["policy/act_eval_gap"] for p in points) < 1e-5
    assert all(p["data/record_gap"] == 0 and p["data/next_obs_gap"] == 0 for p in points)


@pytest.mark.parametrize(
    ("bug", "detector"),
    [
        ("off_by_one_frames", "act_train_consistency"),  # the update's input: act_train's second half
        ("greedy_acting", "action_sampling"),  # the acting thread's sampling
        ("obs_not_reset", "next_observation_consistency"),  # the acting thread's data path
    ],
)
def test_a_lagged_runs_exact_checks_fire_on_bugs_on_either_thread(tmp_path, bug, detector):
    summary = train(_settings("env=catch", "loop=lagged", f"bug={bug}", "total_steps=4000"), tmp_path)
    assert detector in summary["detectors"], summary["detectors"]


@pytest.mark.parametrize("split", [1200, 2000])  # 2000: a checkpoint step; 1200: the first run's end only
@pytest.mark.parametrize("loop", ["serial", "lagged"])
def test_a_resumed_run_of_either_loop_equals_the_uninterrupted_one(tmp_path, split, loop):
    # CartPole: its env state is saved (a Catch or Pong resume restarts the episodes)
    common = (f"loop={loop}", "log_interval=400", "checkpoint_interval=2000", "seed=5")
    train(prepare_run(_compose(*common, "total_steps=4000"), tmp_path / "whole"), tmp_path / "whole")
    train(prepare_run(_compose(*common, f"total_steps={split}"), tmp_path / "split"), tmp_path / "split")
    resume = (f"resume='{tmp_path / 'split'}'", "total_steps=4000")
    summary = train(prepare_run(_compose(*resume), tmp_path / "split", list(resume)), tmp_path / "split")
    assert summary["steps"] == 4000
    assert _numbers(tmp_path / "split") == _numbers(tmp_path / "whole")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("loop.acting_threads=0",), "loop.acting_threads=0 is invalid: must be an integer >= 1"),
        (("loop.update_threads=two",), "loop.update_threads='two' is invalid: must be an integer >= 1"),
        (("agent.model.dropout=0.2",), "loop='lagged' is invalid: the model has dropout"),
    ],
)
def test_a_lagged_loop_it_cannot_run_is_refused_naming_the_value(overrides, message):
    with pytest.raises(ConfigError, match=message):
        _settings("env=catch", "loop=lagged", *overrides)


def test_a_lagged_pong_run_keeps_its_exact_checks_exact(tmp_path):
    # Pong's path: the C++ vector env stepped from the worker thread, RMSpropTFLike, NatureCNN
    summary = train(_settings("env=pong", "loop=lagged", "total_steps=480", "log_every_update_until=480"), tmp_path)
    points = read_metrics(tmp_path)
    assert summary["status"] == "finished" and len(points) == 6 and summary["detectors"] == {}, summary
    assert max(p["policy/act_train_gap"] for p in points) < 1e-5
