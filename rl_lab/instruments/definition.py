"""Checks that follow from A2C's definition rather than from one seam's output value.

The panel's other exact checks recompute a seam's *value* from its inputs. A loss term whose value
is right can still send the wrong gradient (a ``.detach()`` too many or too few), actions can be
drawn from a slightly different distribution than the acting policy, and a network can hold the
configured parameters while computing another function. What any correct A2C satisfies, whatever
the bug, and what these checks hold the run to:

``grads/grad_gap``            the gradient the update produced (before clipping) is the gradient of
                              A2C's loss, recomputed independently: the clean losses on the same batch
                              (the rollout's observations and actions, the recorded rewards, ends and
                              bootstraps), at the parameters before the update, in train mode. The
                              largest ``||g_run - g_ref||`` of a parameter over ``||g_ref||`` of all.
                              Not for models with dropout (the mask cannot be replayed).
``grads/policy_term_gap``     each loss term's gradient with respect to the network's outputs (logits,
``grads/value_term_gap``      values), as the run's term sent it during the update (recorded by
``grads/entropy_term_gap``    :class:`UpdateObserver`), against the clean term's on the same outputs and
                              the run's own advantages and returns: the policy term reaches the
                              logits only (advantages are constants), the value term the values only
                              (returns are constants), the entropy the logits only. Over the clean
                              term's norm. A fired one names its term's seam.
``params/function_gap``       the network as built against a fresh build of the configured factory
                              loaded with the same parameters: their logits and values on a batch of
                              the run's observations, in eval and in train mode (the same random
                              stream for both), as the largest difference over 1 + the largest
                              output. Measured at the first log point; 1 where parameters differ in
                              name or shape (``init_gap`` says so).
``policy/acting_evidence``    log10 of an e-process against "every action is a draw from the policy
                              that chose it", over every action of every rollout since the run began
                              (:class:`ActingTest`); the largest since the last log point.
``data/record_gap``           (also the panel's) now with the bootstrap of *every* time-limit end,
                              recomputed as it is recorded (:class:`UpdateObserver` watches
                              ``record_transition``), not only those in a logged rollout.

Float32 tolerance: each recomputation runs the same operations on the same tensors as the run, so
its gap is 0 or one rounding of a reassociated sum (about 1e-7 relative); the detectors allow 1e-4.
Nothing here changes the run's numbers: the observers read tensors and differentiate retained
graphs with ``torch.autograd.grad`` (which fills no ``.grad``), references run under a forked random
state, and the acting test reads the rollout's logits (tested).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from rl_lab.agent import seams as clean

if TYPE_CHECKING:
    from rl_lab.agent.rollout import EnvStep, Rollout, Transition
    from rl_lab.agent.seams import SharedSeams


class Observed:
    """A seam function with an instrument around it. A stateful bug's ``state_dict`` and
    ``load_state_dict`` show through, so the checkpoint saves the bug's state as before."""

    def __init__(self, inner: Callable[..., Any], around: Callable[..., Any]):
        self.inner, self.around = inner, around

    def __call__(self, *args: Any) -> Any:
        return self.around(self.inner, *args)

    def __getattr__(self, name: str) -> Any:
        if name in ("inner", "around"):  # not yet set (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)


def output_gradients(term: torch.Tensor, outputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """d term / d each output, as the term's graph sends it (zero where it reaches none)."""
    wanted = [o for o in outputs if o.requires_grad]
    grads = (
        torch.autograd.grad(term, wanted, retain_graph=True, allow_unused=True)
        if term.requires_grad and wanted
        else [None] * len(wanted)
    )
    found = {id(o): g for o, g in zip(wanted, grads, strict=True)}
    return [torch.zeros_like(o) if found.get(id(o)) is None else found[id(o)].detach() for o in outputs]


def replayed_step_gap(
    optimizer: torch.optim.Optimizer, state_before: dict[str, Any], before: dict[int, torch.Tensor], lr: float
) -> float:
    """||parameters after a step - the optimizer's step replayed on a copy||, over the step's size:
    the copy starts from the parameters ``before`` (by the live parameter's id) and the optimizer
    state ``state_before``, and steps with learning rate ``lr`` on the gradients the optimizer holds
    now (clipped). NaN for an optimizer over other tensors than those."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if not all(id(p) in before for p in params):
        return math.nan
    copies = [nn.Parameter(before[id(p)].clone(), requires_grad=p.requires_grad) for p in params]
    for copy_, p in zip(copies, params, strict=True):
        copy_.grad = None if p.grad is None else p.grad.detach().clone()
    optimizer_class = type(optimizer)
    # the defaults its constructor takes: torch's load_state_dict adds `differentiable` to any
    # optimizer's, which an optimizer written outside torch (SB3's RMSpropTFLike) may not take
    accepted = inspect.signature(optimizer_class).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    defaults = {k: v for k, v in optimizer.defaults.items() if takes_any or k in accepted}
    replay = optimizer_class(copies, **defaults)
    replay.load_state_dict(state_before)
    for group in replay.param_groups:
        group["lr"] = lr
    with torch.no_grad():
        replay.step()
    gap = math.sqrt(
        sum((p.detach() - c.detach()).float().pow(2).sum().item() for p, c in zip(params, copies, strict=True))
    )
    size = math.sqrt(sum((p.detach() - before[id(p)]).float().pow(2).sum().item() for p in params))
    return gap / size if size > 0 else gap


def relative_difference(run: list[torch.Tensor], reference: list[torch.Tensor]) -> float:
    """||run - reference|| / ||reference|| over a list of tensors (floored at 1e-12)."""
    difference = math.sqrt(sum((r - c).double().pow(2).sum().item() for r, c in zip(run, reference, strict=True)))
    scale = math.sqrt(sum(c.double().pow(2).sum().item() for c in reference))
    return difference / max(scale, 1e-12)


class UpdateObserver:
    """Watches the run's seams for :class:`~rl_lab.instruments.diagnostics.Diagnostics`.

    During an armed update it records the network's outputs as ``training_forward`` returned them
    and each loss term as its seam returned it, and, just before ``optimizer_step`` backpropagates,
    each term's gradient with respect to the outputs (a retained graph, differentiated without
    touching ``.grad``). At every step of every rollout it checks the bootstrap of each time-limit
    end against the clean ``record_transition`` with the same acting critic (``value_of``, the
    loop's own), where the model has no dropout (eval-mode passes draw no random numbers).
    """

    def __init__(self, mode_dependent: bool, single_gradient_step: bool = True):
        """``single_gradient_step``: the seams are A2C's, whose update is one gradient step and whose
        loss terms are watched; otherwise (PPO) only the bootstrap of every time-limit end is."""
        self.mode_dependent = mode_dependent
        self.single_step = single_gradient_step
        self.armed = False
        self.outputs: tuple[torch.Tensor, torch.Tensor] | None = None
        self.terms: dict[str, torch.Tensor] = {}
        self.term_gradients: dict[str, list[torch.Tensor]] = {}
        # the bootstrap gap of each env step with a time-limit end, by the step's id, until the rollout
        # holding the step is watched (the lagged loop records rollout k+1 while rollout k is watched)
        self.bootstrap_gaps: dict[int, float] = {}

    def observe(self, seams: SharedSeams) -> SharedSeams:
        """``seams`` with the observers around the parts they watch."""
        recorded = dataclasses.replace(
            seams, record_transition=Observed(seams.record_transition, self._record_transition)
        )
        if not self.single_step:
            return recorded
        return dataclasses.replace(
            recorded,
            training_forward=Observed(seams.training_forward, self._training_forward),
            policy_loss=Observed(seams.policy_loss, self._term("policy")),
            value_loss=Observed(seams.value_loss, self._term("value")),
            entropy=Observed(seams.entropy, self._term("entropy")),
            optimizer_step=Observed(seams.optimizer_step, self._optimizer_step),
        )

    def arm(self) -> None:
        self.armed = True
        self.outputs, self.terms, self.term_gradients = None, {}, {}

    def disarm(self) -> None:
        """After the update is measured: nothing of it is kept (its graph is freed)."""
        self.armed = False
        self.outputs, self.terms = None, {}

    def _training_forward(self, inner, model, rollout):
        logits, values = inner(model, rollout)
        if self.armed:
            self.outputs = (logits, values)
        return logits, values

    def _term(self, name: str):
        def around(inner, *args):
            out = inner(*args)
            if self.armed:
                self.terms[name] = out
            return out

        return around

    def _optimizer_step(self, inner, optimizer, loss, parameters, max_grad_norm):
        if self.armed and self.outputs is not None and self.terms.keys() == {"policy", "value", "entropy"}:
            for name, term in self.terms.items():
                scalar = term.mean() if name == "entropy" else term  # the loop takes the mean entropy
                self.term_gradients[name] = output_gradients(scalar, self.outputs)
        return inner(optimizer, loss, parameters, max_grad_norm)

    def _record_transition(self, inner, step: EnvStep, value_of) -> Transition:
        recorded = inner(step, value_of)
        cut = np.flatnonzero(step.time_limit_ends)
        if cut.size and not self.mode_dependent:
            reference = clean.record_transition(step, value_of).truncation_value[cut]
            gap = (recorded.truncation_value[cut] - reference).abs() / (1.0 + reference.abs())
            self.bootstrap_gaps[id(step)] = gap.max().item()
        return recorded

    def take_bootstrap_gap(self, env_steps: list[EnvStep]) -> float:
        """The largest bootstrap gap of these steps (a rollout's), forgotten once taken."""
        return max((self.bootstrap_gaps.pop(id(step), 0.0) for step in env_steps), default=0.0)

    def term_gaps(self, stats: dict[str, Any], actions: torch.Tensor) -> dict[str, float]:
        """Each term's output gradient against the clean term's on the run's outputs, advantages and returns."""
        if len(self.term_gradients) != 3 or self.outputs is None:
            return {}  # an update that computed no terms the loop's way: nothing to compare
        logits, values = (o.detach().requires_grad_() for o in self.outputs)
        reference = {
            "policy": clean.policy_loss(clean.log_prob(logits, actions), stats["advantages"]),
            "value": clean.value_loss(values, stats["returns"]),
            "entropy": clean.entropy(logits).mean(),
        }
        return {
            f"grads/{name}_term_gap": relative_difference(
                self.term_gradients[name], output_gradients(term, (logits, values))
            )
            for name, term in reference.items()
        }


def reference_gradient(
    model: nn.Module,
    parameters: dict[str, torch.Tensor],
    rollout: Rollout,
    gamma: float,
    gae_lambda: float,
    ent_coef: float,
    vf_coef: float,
) -> dict[str, torch.Tensor]:
    """The gradient of A2C's loss at ``parameters`` on ``rollout``, from the clean definitions:
    returns and advantages from the recorded rewards (time-limit ends bootstrapped), ends and the
    acting critic's values; the network in train mode on the rollout's observations."""
    leaves = {name: p.detach().requires_grad_() for name, p in parameters.items()}
    buffers = {name: b.clone() for name, b in model.named_buffers()}  # a train-mode pass moves copies, not the run's
    returns, advantages = clean.compute_returns(
        rollout.rewards + gamma * rollout.truncation_values,
        rollout.values.detach().cpu(),
        rollout.dones,
        rollout.last_value.detach().cpu(),
        gamma,
        gae_lambda,
    )
    device = next(iter(leaves.values())).device
    modes = [(module, module.training) for module in model.modules()]
    model.train()
    try:
        with torch.random.fork_rng(devices=[]):
            logits, values = functional_call(model, {**leaves, **buffers}, (rollout.obs.flatten(0, 1).to(device),))
    finally:
        for module, training in modes:
            module.training = training
    n_steps, n_envs = rollout.actions.shape
    logits, values = logits.view(n_steps, n_envs, -1), values.view(n_steps, n_envs)
    policy_loss = clean.policy_loss(clean.log_prob(logits, rollout.actions.to(device)), advantages.to(device))
    loss = (
        policy_loss - ent_coef * clean.entropy(logits).mean() + vf_coef * clean.value_loss(values, returns.to(device))
    )
    grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
    return {name: torch.zeros_like(p) if g is None else g for (name, p), g in zip(leaves.items(), grads, strict=True)}


def gradient_gap(run: dict[str, torch.Tensor | None], reference: dict[str, torch.Tensor]) -> float:
    """The largest ``||run - reference||`` of one parameter over ``||reference||`` of all (a parameter
    the run's gradient did not reach counts as 0)."""
    scale = math.sqrt(sum(g.double().pow(2).sum().item() for g in reference.values()))
    worst = max(
        (
            (g - (torch.zeros_like(g) if run.get(name) is None else run[name])).double().norm().item()
            for name, g in reference.items()
        ),
        default=0.0,
    )
    return worst / max(scale, 1e-12)


def function_gap(model: nn.Module, reference: nn.Module, obs: torch.Tensor) -> float:
    """The run's network against ``reference`` (a fresh build) loaded with the same parameters and
    buffers: largest |output difference| / (1 + largest |reference output|), over logits and values,
    in eval mode and in train mode (each pass from the same random state). 1.0 where the two do not
    hold the same parameters. The models' modes are left as they were."""
    try:
        reference.load_state_dict(model.state_dict())
    except RuntimeError:  # other parameter names or shapes: another network (init_gap says which)
        return 1.0
    modes = [(module, module.training) for m in (model, reference) for module in m.modules()]
    buffers = [(b, b.clone()) for b in model.buffers()]  # a train-mode pass may move them (batch norm)
    gap = 0.0
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            for train_mode in (False, True):
                outputs = []
                for network in (model, reference):
                    network.train(train_mode)
                    torch.manual_seed(0)  # the same dropout masks in both, where they are built alike
                    outputs.append(network(obs))
                for built, fresh in zip(*outputs, strict=True):
                    difference = (built - fresh).abs().max() / (1.0 + fresh.abs().max())
                    gap = max(gap, difference.item() if torch.isfinite(difference) else 1.0)
    finally:
        for module, training in modes:
            module.training = training
        with torch.no_grad():
            for buffer, before in buffers:
                buffer.copy_(before)
    return gap


class ActingTest:
    """A sequential test of "each action is a draw from the acting policy that chose it", over every
    action of the run: an e-process (Ramdas et al., "Game-theoretic statistics and safe anytime-valid
    inference", 2023), written here because no maintained library offers one for this null.

    For each alternative k below and each action a taken from policy p (the rollout's acting logits)
    the factor ``L_k = q_k(a) / p(a)`` has expectation at most 1 under the null, whatever happened
    before, because ``q_k`` is fixed before the action is drawn. So each running product is a
    nonnegative supermartingale, and so is their average ``M``; by Ville's inequality
    P(M ever reaches 1/alpha) <= alpha over a run of any length. The detector fires at
    log10 M >= 5 (alpha = 1e-5). The alternatives, each at several strengths e:

    - uniform mixing, ``q = (1-e) p + e / A`` (exploration noise left on);
    - greedy mixing, ``q = (1-e) p + e [a = argmax p]`` (a deterministic flag left on);
    - the previous step's policy of the same env, ``q = (1-e) p + e p_prev`` (a stale distribution).

    p(a) is floored at ``FLOOR`` in the denominators: that only lowers a factor, so the bound holds,
    and a float32 sampler's rounding of a near-impossible action cannot count as evidence.
    """

    UNIFORM = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
    GREEDY = (0.05, 0.2, 0.5, 1.0)
    PREVIOUS = (0.05, 0.2, 0.5, 1.0)
    FLOOR = 1e-6

    def __init__(self) -> None:
        self.log_products = np.zeros(len(self.UNIFORM) + len(self.GREEDY) + len(self.PREVIOUS))
        self.previous: np.ndarray | None = None  # (N, A) the acting policy at the last step of the last rollout
        self.largest = -math.inf  # log10 M, the largest since the last log point

    def observe(self, logits: torch.Tensor, actions: torch.Tensor) -> None:
        """Every action of one rollout: ``logits`` (T, N, A) of the acting pass, ``actions`` (T, N)."""
        p = torch.softmax(logits.detach().double().cpu(), dim=-1).numpy()
        taken = actions.cpu().numpy()[..., None]
        p_taken = np.take_along_axis(p, taken, -1)[..., 0]
        denominator = np.maximum(p_taken, self.FLOOR)
        greedy = (taken[..., 0] == p.argmax(-1)).astype(float)
        previous = np.concatenate([p[:1] if self.previous is None else self.previous[None], p[:-1]])
        previous_taken = np.take_along_axis(previous, taken, -1)[..., 0]
        self.previous = p[-1]
        ratios = [1.0 / (p.shape[-1] * denominator)] * len(self.UNIFORM)
        ratios += [greedy / denominator] * len(self.GREEDY)
        ratios += [previous_taken / denominator] * len(self.PREVIOUS)
        strengths = np.array(self.UNIFORM + self.GREEDY + self.PREVIOUS)
        with np.errstate(divide="ignore"):  # a factor of 0 ends that alternative: log 0 = -inf
            for k, (e, ratio) in enumerate(zip(strengths, ratios, strict=True)):
                self.log_products[k] += np.log((1.0 - e) + e * ratio).sum()
        finite = self.log_products[np.isfinite(self.log_products)]
        log_m = (np.logaddexp.reduce(finite) if finite.size else -math.inf) - math.log(len(self.log_products))
        self.largest = max(self.largest, log_m / math.log(10))

    def take_largest(self) -> float:
        largest, self.largest = self.largest, -math.inf
        return largest

    def state_dict(self) -> dict[str, Any]:
        previous = None if self.previous is None else torch.from_numpy(self.previous.copy())
        return {
            "log_products": torch.from_numpy(self.log_products.copy()),
            "previous": previous,
            "largest": self.largest,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.log_products = state["log_products"].numpy().copy()
        self.previous = None if state["previous"] is None else state["previous"].numpy().copy()
        self.largest = state["largest"]
