"""NatureCNN's ``conv_dtype``: bfloat16 convolutions that leave the exact checks exact."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from rl_lab.agent.models import NatureCNN
from rl_lab.instruments.detectors import CONSISTENCY
from rl_lab.run.config import CONFIG_DIR, ConfigError
from rl_lab.run.runlog import read_events, read_metrics
from rl_lab.run.training import prepare_run, train
from tests.test_train import settings_for

PONG_OBS = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)


def _trained_like(conv_dtype: str) -> NatureCNN:
    """A NatureCNN with a policy head grown to logits of order 1, as after some training."""
    torch.manual_seed(0)
    model = NatureCNN(PONG_OBS, gym.spaces.Discrete(6), conv_dtype=conv_dtype)
    with torch.no_grad():
        model.policy_head.weight.mul_(100.0)
    return model


def test_bfloat16_convolutions_give_a_sample_the_same_logits_in_any_batch():
    """The exact checks compare the acting pass (n_envs observations at a time) with the update's
    (n_steps x n_envs): with bfloat16 convolutions and a float32 512 layer those agree at float32
    rounding (2-3e-7 here), as in the float32 network. (With the 512 layer in bfloat16 too they
    differ here by 1.1e-4, past the act/train check's 1e-4.)"""
    torch.manual_seed(2)
    obs = torch.rand(80, *PONG_OBS.shape)
    bf16, f32 = _trained_like("bfloat16"), _trained_like("float32")
    with torch.no_grad():
        logits, values = bf16(obs)
        by_16 = torch.cat([bf16(obs[i : i + 16])[0] for i in range(0, 80, 16)])
        reference = f32(obs)[0]
    assert logits.dtype == values.dtype == torch.float32
    scale = 1.0 + logits.abs().max()
    assert ((logits - by_16).abs().max() / scale).item() < 1e-6
    # the convolutions did run in bfloat16: the logits are bfloat16-rounding away from float32's
    assert 1e-5 < ((logits - reference).abs().max() / scale).item() < 1e-2


def test_a_conv_dtype_that_does_not_exist_is_one_line_naming_the_choices():
    with pytest.raises(
        ConfigError, match=r"agent.model.conv_dtype='bf16' is invalid: valid choices are float32, bfloat16"
    ):
        settings_for("env=catch", "agent.model.conv_dtype=bf16")
    with pytest.raises(ValueError, match="valid choices are float32, bfloat16"):
        NatureCNN(PONG_OBS, gym.spaces.Discrete(6), conv_dtype="half")


def test_a_pong_run_with_bfloat16_convolutions_keeps_every_exact_check_silent(tmp_path):
    summary = train(
        settings_for(
            "env=pong",
            "agent.model.conv_dtype=bfloat16",
            "total_steps=320",
            "log_every_update_until=320",
            "agent.n_envs=4",
            "env.num_threads=1",
        ),
        tmp_path,
    )
    assert summary["status"] == "finished"
    assert [e for e in read_events(tmp_path) if e["kind"] == CONSISTENCY] == []
    points = read_metrics(tmp_path)
    assert len(points) == 320 // 20 and all(p["policy/act_train_gap"] < 1e-6 for p in points)
    assert all(p["params/function_gap"] == 0.0 for p in points)
    gaps = [p["grads/grad_gap"] for p in points if "grads/grad_gap" in p]  # Pong: every 4th log point
    assert len(gaps) == 4 and max(gaps) < 1e-4


@pytest.mark.parametrize("native", [True, False])
def test_bfloat16_convolutions_warn_in_one_line_where_the_cpu_emulates_bfloat16(tmp_path, capsys, monkeypatch, native):
    from rl_lab.run import hardware

    monkeypatch.setattr(hardware, "native_bfloat16", lambda: native)
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["env=catch", "agent.model.conv_dtype=bfloat16"])
    prepare_run(cfg, tmp_path)
    warned = capsys.readouterr().err.strip().splitlines()
    if native:
        assert warned == []
    else:
        assert len(warned) == 1 and "conv_dtype=bfloat16 is slower here" in warned[0]
        assert "no native bfloat16" in warned[0]


def test_onednns_isa_capped_below_avx512_means_no_native_bfloat16(monkeypatch):
    from rl_lab.run.hardware import describe_cpu, native_bfloat16

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not native_bfloat16()
    described = describe_cpu()
    assert described.startswith("cpu: ") and "avx512_bf16" in described and "ONEDNN_MAX_CPU_ISA=AVX2" in described
    assert described.endswith("bfloat16 emulated (no native bfloat16)")
