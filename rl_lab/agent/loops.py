"""How the loop orders its two halves, collecting a rollout and updating on it (``conf/loop/``).

``SerialLoop`` is SB3's A2C: each rollout is collected with the weights that the update then
trains, one after the other. ``LaggedLoop`` overlaps the two, for speed: while the update trains on
rollout k, a worker thread collects rollout k+1 with a copy of the weights from before that update.
So each update trains on data one update old (a policy lag of one, as in A3C, with no importance
correction). That is another algorithm than SB3's A2C, so it is off by default.

``rl_lab.run.training.train`` drives both the same way::

    loop = instantiate(settings.loop, agent=agent)
    rollout, stats, episodes = loop.iterate(prefetch)   # one update, its rollout, the episodes that ended in it

``prefetch`` False asks the lagged loop to collect nothing during this update. The train loop asks
for that before every checkpoint and at the end, so that no rollout is pending when the state is
saved. The next rollout is then collected at the start of the next call, with the same weights as
it would have been, so the numbers do not depend on it: a run resumed from any checkpoint continues
exactly as the uninterrupted one (``state_dict`` holds the acting weights).
"""

from __future__ import annotations

import copy
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import torch
from torch import nn

from rl_lab.agent.rollout import ActorCriticAgent, Rollout


class Loop(Protocol):
    """What the train loop calls."""

    def iterate(self, prefetch: bool) -> tuple[Rollout, dict[str, Any], list[tuple[float, int]]]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class SerialLoop:
    """Collect a rollout, then update on it: stable-baselines3's A2C."""

    def __init__(self, agent: ActorCriticAgent):
        self.agent = agent

    def iterate(self, prefetch: bool) -> tuple[Rollout, dict[str, Any], list[tuple[float, int]]]:
        """One rollout, the update on it, and the episodes (return, length) that ended in the rollout
        (``prefetch`` means nothing here)."""
        rollout = self.agent.collect_rollout()
        episodes = self.agent.episodes.drain()
        return rollout, self.agent.update(rollout), episodes

    def state_dict(self) -> dict[str, Any]:
        """Nothing beyond the agent's own state."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""

    def close(self) -> None:
        """Nothing runs between two calls."""


class LaggedLoop:
    """Collect rollout k+1 on a worker thread, with the weights from before update k, while update k runs.

    The acting network is a copy of the trained one (``agent.acting_model``), brought up to date
    before every update (rollouts 0 and 1 both act with the initial weights); each rollout carries
    the parameters it acted with (``Rollout.acting_parameters``), so that the exact checks compare
    the acting pass with the weights that acted (``rl_lab.instruments.diagnostics``). The update
    draws no random numbers (a model with dropout is refused), so the actions the worker samples
    meanwhile come from the same random stream in every run: the same config and seed give the
    same numbers (a bug whose update seam draws from torch's global generator would break that;
    none of the zoo's does). The panel's ``activations/`` come from the update's forward pass here
    (the acting copy carries no hooks), from the first acting pass in the serial loop.

    ``acting_threads`` and ``update_threads`` are torch's threads in each part. On 2 cores one each
    was the fastest of (1, 1), (1, 2) and (2, 1) in a one-off comparison over 100 Pong updates (not
    a committed benchmark; the emulator's own threads fill the gaps): measure on other machines.
    """

    def __init__(self, agent: ActorCriticAgent, acting_threads: int = 1, update_threads: int = 1):
        if any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in agent.model.modules()):
            raise ValueError(
                "loop=lagged is invalid with a model with dropout: its update draws random numbers "
                "while the worker samples actions, and the run would not be reproducible"
            )
        # a copy made before any instrument hooks the trained network: acting runs no hooks
        agent.acting_model = copy.deepcopy(agent.model)
        self.agent = agent
        self.acting_threads, self.update_threads = acting_threads, update_threads
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="rl_lab_acting")
        # the rollout being collected (or collected and not trained on), and the episodes that ended in it
        self.pending: Future[tuple[Rollout, list[tuple[float, int]]]] | None = None

    def _collect(self) -> tuple[Rollout, list[tuple[float, int]]]:
        torch.set_num_threads(self.acting_threads)  # this thread's own count (OpenMP's is per thread)
        return self.agent.collect_rollout(), self.agent.episodes.drain()

    def iterate(self, prefetch: bool) -> tuple[Rollout, dict[str, Any], list[tuple[float, int]]]:
        """Update k, on rollout k (collected with the weights from before update k-1), and meanwhile,
        if ``prefetch``, the collection of rollout k+1 with the weights from before update k. Without
        ``prefetch`` rollout k+1 is collected at the start of the next call, with the same weights:
        the numbers are the same either way, only the overlap is lost."""
        if self.pending is None:
            rollout, episodes = self.worker.submit(self._collect).result()
        else:
            (rollout, episodes), self.pending = self.pending.result(), None
        self.agent.acting_model.load_state_dict(self.agent.model.state_dict())  # the weights before update k
        if prefetch:
            self.pending = self.worker.submit(self._collect)
        torch.set_num_threads(self.update_threads)
        try:
            stats = self.agent.update(rollout)
        finally:
            if self.pending is not None:
                self.pending.exception()  # rollout k+1 is collected before anything else moves
        return rollout, stats, episodes

    def state_dict(self) -> dict[str, Any]:
        """The weights the next rollout acts with (a checkpoint is taken with no rollout pending)."""
        return {"acting_model": self.agent.acting_model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.acting_model.load_state_dict(state["acting_model"])

    def close(self) -> None:
        """Wait for a collection in progress (its rollout is dropped, as an interrupted rollout is)."""
        if self.pending is not None:
            self.pending.exception()
            self.pending = None
        self.worker.shutdown()
