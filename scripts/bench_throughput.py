"""Training throughput on Pong: rl-lab against stable-baselines3, A2C and PPO, side by side.

    python scripts/bench_throughput.py                 # >= 3 repeats x 24,000 steps x 6, ~5 min a repeat on 2 cores
    python scripts/bench_throughput.py steps=16000 repeats=2 precision=0 ratio=rl_lab
    python scripts/bench_throughput.py contestants=[rl_lab,rl_lab_bf16_lagged,sb3]   # some of them
    python scripts/bench_throughput.py contestants=[rl_lab_ppo] ratio=rl_lab_ppo    # PPO against SB3's PPO

Same hyperparameters (the zoo's Atari A2C), same number of steps, same machine.
Each measurement runs in a fresh process, and the contestants alternate within
every repeat, so drift in the machine's speed hits both alike; the ratio is taken per
repeat (a pair measured side by side) and printed with its 95% interval, and repeats go on
(up to ``max_repeats``) until the interval of ``ratio``'s contestant over SB3 is within
``precision`` of the ratio. rl-lab runs as configured by default (SB3's float32 arithmetic), with
bfloat16 convolutions (``agent.model.conv_dtype=bfloat16``), and with the lagged loop (``loop=lagged``:
the next rollout collected during the update, one update behind; rl_lab/agent/loops.py), alone and
with bfloat16 convolutions. The last three change the numbers, so they are off by default. SB3 runs
as it comes and with rl-lab's OpenMP setting (OMP_WAIT_POLICY=PASSIVE). SB3 runs as the zoo runs
it: ``make_atari_env`` (DummyVecEnv + AtariWrapper) + ``VecFrameStack(4)``.
Steps/s counts agent steps (16 envs x 5 steps = 80 per update) over the training
loop, after 1,600 warm-up steps.

PPO (``rl_lab_ppo``: ``algo=ppo``, the zoo's Atari PPO, 8 envs x 128 steps = 1,024 per update of 4
epochs) runs against SB3's PPO with the same hyperparameters (``sb3_ppo``). Each rl-lab contestant
is measured beside its algorithm's SB3 run (added when not named) and its ratios are to those.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field, fields
from typing import NoReturn

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

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


def _sb3_ppo_sps(steps: int) -> float:
    import time

    import ale_py
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.utils import get_linear_fn
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(ale_py)
    env = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=8, seed=0), n_stack=4)
    model = PPO(  # rl-baselines3-zoo hyperparams/ppo.yml, atari (lin_2.5e-4, lin_0.1)
        "CnnPolicy",
        env,
        n_steps=128,
        n_epochs=4,
        batch_size=256,
        learning_rate=get_linear_fn(2.5e-4, 0.0, 1.0),
        clip_range=get_linear_fn(0.1, 0.0, 1.0),
        vf_coef=0.5,
        ent_coef=0.01,
        seed=0,
        device="cpu",
    )
    model.learn(WARMUP_STEPS)
    # PPO learns whole rollouts (1,024 steps): count the steps it took, not the steps asked for
    before, start = model.num_timesteps, time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return (model.num_timesteps - before) / (time.perf_counter() - start)


def _rl_lab_sps(steps: int, *overrides: str) -> float:
    from rl_lab.lab.benchmark import rl_lab_sps

    return rl_lab_sps(["env=pong", f"log_interval={10**9}", *overrides], steps)


CONTESTANTS = {
    "rl_lab": _rl_lab_sps,
    # the convolutions in bfloat16 (off by default: it changes the numbers; scripts/conv_dtype.py)
    "rl_lab_bf16_conv": lambda steps: _rl_lab_sps(steps, "agent.model.conv_dtype=bfloat16"),
    # the next rollout collected during the update (off by default: a policy lag of one update)
    "rl_lab_lagged": lambda steps: _rl_lab_sps(steps, "loop=lagged"),
    "rl_lab_bf16_lagged": lambda steps: _rl_lab_sps(steps, "loop=lagged", "agent.model.conv_dtype=bfloat16"),
    "sb3": _sb3_sps,
    # SB3 with the OpenMP setting rl-lab makes, to show how much of the gap that setting is.
    "sb3_omp_passive": _sb3_sps,
    "rl_lab_ppo": lambda steps: _rl_lab_sps(steps, "algo=ppo"),
    "sb3_ppo": _sb3_ppo_sps,
}
# the SB3 contestants each rl-lab contestant is measured beside: those of its algorithm
SB3_OF = {name: ("sb3_ppo",) if name.endswith("_ppo") else ("sb3", "sb3_omp_passive") for name in CONTESTANTS}


def _child_env(name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if name == "sb3_omp_passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


@dataclass
class Options:
    steps: int = 24_000
    repeats: int = 3
    precision: float = 0.03
    max_repeats: int = 8
    ratio: str = "rl_lab_bf16_lagged"  # the contestant whose ratio to sb3 must reach `precision`
    # which to measure (each rl-lab contestant's first SB3 baseline always): A2C's by default
    contestants: list[str] = field(default_factory=lambda: [n for n in CONTESTANTS if not n.endswith("_ppo")])
    only: str | None = None  # child process: this contestant's one measurement


def _refuse(message: str) -> NoReturn:
    print(f"config error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str]) -> None:
    try:
        args = OmegaConf.merge(OmegaConf.structured(Options), OmegaConf.from_dotlist(argv))
    except (OmegaConfBaseException, ValueError) as error:  # an unknown key, a wrong type, no '='
        _refuse(f"{str(error).splitlines()[0]}; valid options: {', '.join(f.name for f in fields(Options))}")
    for option in ("ratio", "only"):
        if args[option] is not None and args[option] not in CONTESTANTS:
            _refuse(f"{option}={args[option]!r} is invalid: valid choices are {', '.join(CONTESTANTS)}")
    for name in args.contestants:
        if name not in CONTESTANTS:
            _refuse(f"contestants: {name!r} is invalid: valid choices are {', '.join(CONTESTANTS)}")
    wanted = {*args.contestants, args.ratio}
    wanted |= {SB3_OF[name][0] for name in wanted if name.startswith("rl_lab")}
    names = [name for name in CONTESTANTS if name in wanted]
    if args.only:
        print(json.dumps({"sps": CONTESTANTS[args.only](args.steps)}))
        return
    from rl_lab.lab.benchmark import compare, print_ratio  # the parent's own imports do not reach the children

    print(
        f"command: python scripts/bench_throughput.py steps={args.steps} repeats={args.repeats} "
        f"precision={args.precision} max_repeats={args.max_repeats} ratio={args.ratio} "
        f"contestants=[{','.join(names)}]"
    )
    results = compare(
        __file__,
        names,
        args.steps,
        args.repeats,
        _child_env,
        (args.ratio, SB3_OF[args.ratio][0]),
        args.precision,
        args.max_repeats,
    )
    for contestant in (name for name in names if name.startswith("rl_lab")):
        for sb3 in (name for name in SB3_OF[contestant] if name in names):
            print_ratio(f"speed {contestant} / {sb3}", results, contestant, sb3)


if __name__ == "__main__":
    main(sys.argv[1:])
