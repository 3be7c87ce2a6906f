"""Hydra's refusals of a command line, one line each, and ``+key`` refused where a schema lacks the key."""

from __future__ import annotations

import pytest

import rl_lab.train  # noqa: F401  (registers the schema and the bug options, as the command does)
from rl_lab.run.command_line import check_command_line
from rl_lab.run.config import ConfigError


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["total_step=5000"], "total_step=5000 is invalid: no such setting (did you mean total_steps?); valid"),
        (["+total_step=5000"], "+total_step=5000 is invalid: TrainConfig has no setting 'total_step'"),
        (["++total_step=5000"], "++total_step=5000 is invalid: TrainConfig has no setting 'total_step'"),
        (["agent.lrr=1"], "agent.lrr=1 is invalid: no such setting (did you mean lr?); valid settings of agent are"),
        (["+agent.lrr=1"], "+agent.lrr=1 is invalid: AgentConfig has no setting 'lrr' (did you mean lr?)"),
        (["env=cartpol"], "env=cartpol is invalid: valid choices are cartpole, catch, pong, pong_sb3 (did you mean"),
        (["bug=off_by_one_frame"], "bug=off_by_one_frame is invalid: valid choices are activation_swapped"),
        (["hydra/launcher=slurm"], "hydra/launcher=slurm is invalid: valid choices are basic, joblib, submitit_local"),
        (["seed=abc"], "seed=abc is invalid: Value 'abc' of type 'str' could not be converted to Integer"),
        (["agent.lr=fast"], "agent.lr=fast is invalid: Value 'fast' of type 'str' could not be converted to Float"),
        (["+seed=3"], "+seed=3 is invalid: seed is already a setting; set it without '+'"),
        (["seed=0,1"], "seed=0,1 is invalid: several values make a sweep; add -m"),
        (["-m", "seed=0,1", "total_step=9"], "total_step=9 is invalid: no such setting"),
        # a setting of another option of the group (the image model's), and no `_target_` offered as a setting
        (
            ["agent.model.conv_dtype=float8"],
            "agent.model.conv_dtype=float8 is invalid: no such setting; conv_dtype is a setting of "
            "agent.model=nature_cnn, and this run's agent.model is mlp; "
            "valid settings of agent.model are dropout, hidden",
        ),
    ],
)
def test_hydras_refusals_are_one_line_naming_the_value_and_what_is_allowed(argv, message):
    with pytest.raises(ConfigError) as error:
        check_command_line("config", argv)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["seed=3", "env=catch", "agent.lr=3e-4", "bug=off_by_one_frames", "bug.off_by_one_frames.dose=2"],
        ["++seed=3"],  # ++ on a key the schema has sets it
        ["+diagnostics.detectors.mine._target_=rl_lab.instruments.detectors.NonFinite"],  # a free-form mapping
        ["-m", "seed=0,1,abc"],  # sweep values are the sweep's own check, job by job
        ["-m", "bug=glob(*,exclude=mystery)", "hydra/launcher=joblib"],
        ["--help"],
    ],
)
def test_what_hydra_accepts_passes(argv):
    check_command_line("config", argv)


def test_the_probe_app_is_checked_against_its_own_config():
    check_command_line("probe", ["bug=sign_flip"])
    with pytest.raises(ConfigError, match="valid choices are cartpole"):
        check_command_line("probe", ["env=pongg"])
