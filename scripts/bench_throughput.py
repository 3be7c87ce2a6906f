"""Training throughput on Pong: rl-lab against stable-baselines3's A2C, side by side.

    python scripts/bench_throughput.py                 # >= 3 repeats x 24,000 steps x 3, ~2.5 min a repeat on 2 cores
    python scripts/bench_throughput.py steps=16000 repeats=2 precision=0

Same hyperparameters (the zoo's Atari A2C), same number of steps, same machine.
Each measurement runs in a fresh process, and the contestants alternate within
every repeat, so drift in the machine's speed hits both alike; the ratio is taken per
repeat (a pair measured side by side) and printed with its 95% interval, and repeats go on
(up to ``max_repeats``) until that interval is within ``precision`` of the ratio. SB3 runs
as it comes and with rl-lab's OpenMP setting (OMP_WAIT_POLICY=PASSIVE). SB3 runs as the zoo runs
it: ``make_atari_env`` (DummyVecEnv + AtariWrapper) + ``VecFrameStack(4)``.
Steps/s counts agent steps (16 envs x 5 steps = 80 per update) over the training
loop, after 1,600 warm-up steps.
"""

from __future__ import annotations

import json
import os

from omegaconf import OmegaConf

# No torch or rl_lab import at module level: importing rl_lab sets OMP_WAIT_POLICY=PASSIVE
# (rl_lab/__init__.py), which must not leak into the SB3 measurement unless asked for.

WARMUP_STEPS = 1600  # as rl_lab.benchmark


def _sb3_sps(steps: int) -> float:
    import time

    import ale_py
    import gymnasium as gym
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(ale_py)
    env = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=16, seed=0), n_stack=4)
    model = A2C(  # rl-baselines3-zoo hyperparams/a2c.yml, atari
        "CnnPolicy",
        env,
        ent_coef=0.01,
        vf_coef=0.25,
        seed=0,
        device="cpu",
        policy_kwargs={"optimizer_class": RMSpropTFLike, "optimizer_kwargs": {"eps": 1e-5}},
    )
    model.learn(WARMUP_STEPS)
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def _rl_lab_sps(steps: int) -> float:
    from rl_lab.lab.benchmark import rl_lab_sps

    return rl_lab_sps(["env=pong", f"log_interval={10**9}"], steps)


CONTESTANTS = {
    "rl_lab": _rl_lab_sps,
    "sb3": _sb3_sps,
    # SB3 with the OpenMP setting rl-lab makes, to show how much of the gap that setting is.
    "sb3_omp_passive": _sb3_sps,
}


def _child_env(name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if name == "sb3_omp_passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def main() -> None:
    defaults = {"steps": 24_000, "repeats": 3, "precision": 0.03, "max_repeats": 8, "only": None}
    args = OmegaConf.merge(OmegaConf.create(defaults), OmegaConf.from_cli())
    if args.only:  # child process: one measurement, printed as JSON
        print(json.dumps({"sps": CONTESTANTS[args.only](args.steps)}))
        return
    from rl_lab.lab.benchmark import compare, print_ratio  # the parent's own imports do not reach the children

    print(
        f"command: python scripts/bench_throughput.py steps={args.steps} repeats={args.repeats} "
        f"precision={args.precision} max_repeats={args.max_repeats}"
    )
    results = compare(
        __file__,
        list(CONTESTANTS),
        args.steps,
        args.repeats,
        _child_env,
        ("rl_lab", "sb3"),
        args.precision,
        args.max_repeats,
    )
    print_ratio("speed rl_lab / sb3", results, "rl_lab", "sb3")
    print_ratio("speed rl_lab / sb3_omp_passive", results, "rl_lab", "sb3_omp_passive")


if __name__ == "__main__":
    main()
