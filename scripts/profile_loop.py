"""Where one Pong iteration's time goes, and what compute options buy for the network's parts.

    python scripts/profile_loop.py                       # Pong's agent, ~3 min on 2 cores
    python scripts/profile_loop.py iterations=20 repeats=3
    python scripts/profile_loop.py algo=ppo iterations=3 repeats=3   # PPO's (an update is 16 minibatch steps), ~6 min

One process, the clean agent (``bug=none``, ``algo``: ``a2c`` or ``ppo``) on one collected rollout:

1. the iteration split into its parts (environment steps, the acting passes, the update), each
   timed over ``iterations`` iterations and repeated;
2. the update's operators, from ``torch.profiler`` (self CPU time, the top rows);
3. how far the weights after one update under each compute option are from the default's, on
   the same rollout (0: the option keeps the numbers);
4. the update and the acting passes under each option, alternating within every repeat so that
   drift in the machine's speed hits all alike: each one's speed against the default's, as a
   paired ratio with a 95% interval (:func:`rl_lab.lab.benchmark.paired_ratio`).

The options: ``eager`` (the default), ``compiled`` (``torch.compile`` of the network, inductor),
``bf16`` (``torch.autocast`` to bfloat16 on the CPU: changes the numbers), ``threads1``
(one intra-op thread: the emulator's threads would have the other core).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, fields

import numpy as np
import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rl_lab.agent.rollout import ActorCriticAgent, Rollout
from rl_lab.envs import make_envs
from rl_lab.lab.benchmark import paired_ratio
from rl_lab.lab.runs import algo_overrides, run_script
from rl_lab.run.config import ConfigError
from rl_lab.run.training import build_agent, compose_settings


@dataclass
class Options:
    algo: str = "a2c"
    env: str = "pong"
    iterations: int = 30  # timed calls per measurement
    repeats: int = 5
    seed: int = 0
    top: int = 12  # operator rows of the profile


def _ms_per_call(function: Callable[[], object], calls: int) -> float:
    function()  # warm
    started = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - started) / calls * 1e3


@contextmanager
def _option(agent: ActorCriticAgent, name: str, compiled: torch.nn.Module) -> Iterator[None]:
    """The update under one compute option; the agent as it was afterwards."""
    model, threads = agent.model, torch.get_num_threads()
    context = torch.autocast("cpu", dtype=torch.bfloat16) if name == "bf16" else nullcontext()
    if name == "compiled":
        agent.model = compiled
    if name == "threads1":
        torch.set_num_threads(1)
    try:
        with context:
            yield
    finally:
        agent.model = model
        torch.set_num_threads(threads)


def main(argv: list[str]) -> None:
    try:
        args = OmegaConf.merge(OmegaConf.structured(Options), OmegaConf.from_dotlist(argv))
    except (OmegaConfBaseException, ValueError) as error:  # an unknown key, a wrong type, no '='
        first_line = str(error).splitlines()[0]
        raise ConfigError(f"{first_line}; valid options: {', '.join(f.name for f in fields(Options))}") from None
    settings = compose_settings([*algo_overrides(args.algo), f"env={args.env}", f"seed={args.seed}"])
    print(f"command: python scripts/profile_loop.py {' '.join(argv)}".rstrip())
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, mkldnn {torch.backends.mkldnn.is_available()}"
    )
    envs = make_envs(settings.env, settings.agent.n_envs)
    agent = build_agent(settings, envs, args.seed)
    hp = settings.agent
    steps_per_update = hp.n_envs * hp.n_steps
    rollout: Rollout = agent.collect_rollout()
    model = agent.model
    state = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer_state = agent.optimizer.state_dict()
    random_state = torch.get_rng_state()  # PPO's minibatches are drawn from it

    def restore() -> None:  # every timed update starts from the same weights and draws the same minibatches
        model.load_state_dict(state)
        agent.optimizer.load_state_dict(optimizer_state)
        torch.set_rng_state(random_state)

    # 1. the iteration's parts
    actions = np.zeros(hp.n_envs, dtype=np.int64)
    obs = agent.obs

    def env_steps() -> None:
        for _ in range(hp.n_steps):
            envs.step(actions)

    def acting_passes() -> None:
        with torch.no_grad():
            for _ in range(hp.n_steps + 1):  # one per step, and the bootstrap value
                agent.seams.choose_action(agent.model(agent.seams.preprocess(obs))[0])

    def update() -> None:
        agent.update(rollout)

    parts = {"environment steps": env_steps, "acting passes": acting_passes, "update": update}
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(args.repeats):
        for name, part in parts.items():
            times[name].append(_ms_per_call(part, args.iterations))
            restore()
    total = sum(statistics.median(t) for t in times.values())
    print(
        f"\n1. one iteration ({steps_per_update} agent steps), "
        f"median ms over {args.repeats} repeats x {args.iterations}:"
    )
    for name, t in times.items():
        print(f"   {name:18s} {statistics.median(t):7.2f} ms  {statistics.median(t) / total:5.1%}")
    print(f"   {'sum':18s} {total:7.2f} ms  -> {steps_per_update / total * 1e3:.0f} agent steps/s if run back to back")

    # 2. the update's operators
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        for _ in range(args.iterations):
            update()
    restore()
    print(f"\n2. the update's operators over {args.iterations} updates (torch.profiler, self CPU time):")
    print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))

    # 3. and 4. the compute options
    compiled = torch.compile(agent.model)
    options = ["eager", "compiled", "bf16", "threads1"]
    timed = {"update": update, "acting passes": acting_passes}
    reference: torch.Tensor | None = None
    print("\n3. the weights after one update under each option, from the same weights on the same rollout:")
    speeds: dict[tuple[str, str], list[float]] = {(name, part): [] for name in options for part in timed}
    for repeat in range(args.repeats):
        for name in options if repeat % 2 == 0 else reversed(options):
            with _option(agent, name, compiled):
                if repeat == 0:
                    agent.update(rollout)
                    weights = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
                    restore()
                    reference = weights if reference is None else reference
                    print(f"   {name:9s} largest |weight - eager's| {(weights - reference).abs().max():.3g}")
                for part, function in timed.items():
                    speeds[name, part].append(steps_per_update / _ms_per_call(function, args.iterations) * 1e3)
                    restore()
    print(f"\n4. agent steps/s of each part alone (median over {args.repeats} repeats), and speed / eager [95% CI]:")
    for part in timed:
        for name in options:
            ratio, low, high = paired_ratio(speeds[name, part], speeds["eager", part])
            print(
                f"   {part:14s} {name:9s} {statistics.median(speeds[name, part]):7.0f}   "
                f"{ratio:.3f} [{low:.3f}, {high:.3f}]"
            )


if __name__ == "__main__":
    sys.exit(run_script(main, sys.argv[1:]))
