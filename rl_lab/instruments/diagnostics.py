"""The instrument panel: every number that explains an update, at each log point.

Groups (TensorBoard tags and ``metrics.jsonl`` keys):

``losses/``       policy, value, entropy (the loss term, -entropy) and total loss;
                  ``policy_gap``, the loss's policy term against -mean(advantages x log-probs)
                  recomputed (relative to mean |advantage x log-prob|)
``grads/``        global norm before clipping; per layer, norm before clipping;
                  ``stale_ratio``, a consistency check that is 0 in a correct agent: the norm
                  of what ``.grad`` already held when this update's gradient arrived, over the
                  norm of that gradient (``zero_grad`` must have cleared it); and ``clip_gap``:
                  the norm of the gradient the optimizer stepped on against min(the gradient's
                  norm as backward produced it, max_grad_norm), over max_grad_norm
``params/``       global norm; per layer, norm and update-to-parameter ratio ||dW|| / ||W||;
                  ``step_gap``: the parameters after the update against the configured
                  optimizer's step, at the configured learning rate, replayed on a copy
                  (parameters and optimizer state from before, the gradient it stepped on),
                  over the update's size; and
                  ``frozen_fraction``: the share of the network's parameters that cannot train
                  (``requires_grad`` off, or not given to the optimizer); ``init_gap``: the
                  network as built (before any update) against a fresh build of the configured
                  model factory: 1 if their parameters' names or shapes differ, else the largest
                  relative difference of a parameter's norm (orthogonal init fixes each norm at
                  gain x sqrt(min(fan_out, fan_in)) whatever the seed, so it is 0 up to rounding
                  for rl-lab's models; a factory whose init draws random scales needs a tolerance)
``activations/``  per activation layer, mean L2 norm per sample and (ReLU) dead fraction:
                  units that are zero for every sample of the batch
``policy/``       entropy, entropy / log(n_actions), logits spread (std over actions,
                  max - min), ``approx_kl``: KL(policy before the update || after it) on the
                  same observations, both in eval mode, and two
                  consistency checks that are 0 in a correct agent (up to float rounding):
                  ``act_eval_kl``, KL(acting policy || the same parameters in eval mode), and
                  ``act_train_kl``, KL(acting policy || the policy the update trained), logged
                  only for models whose train and eval modes agree (no dropout): parameters do
                  not change during a rollout, so the update must see the policy that acted.
                  A rollout of the lagged loop (``loop=lagged``) acted with other weights than
                  the update's (``Rollout.acting_parameters``): there the acting comparisons are
                  made with those weights, and ``act_train`` is the larger of (acting policy ||
                  the acting weights' policy) and (the update's weights' policy || the policy the
                  update trained), on every observation: each pass is its own weights' policy;
                  ``act_eval_gap`` and ``act_train_gap``, the same comparisons on the logits
                  themselves: the largest |logit difference| over 1 + the largest |logit|, 0 up to
                  float32 rounding (a batch of another size may round differently), however flat
                  the policy (a KL of two near-uniform policies is tiny whatever their logits);
                  the consistency checks read these
                  ``entropy_gap`` and ``log_prob_gap``, the loss's entropy and log-probabilities
                  against the same quantities recomputed from the logits by torch.distributions;
                  ``action_logp_excess`` and ``action_logp_variance``: the taken actions'
                  log-probability over the rollout minus what sampling from the acting policy
                  gives, and its variance (greedy acting drives the excess up)
``inputs/``       largest |network input| (a network wants inputs of order 1); ``preprocess_gap``:
                  the largest |network input - SB3's preprocessing of the observation it came
                  from| (images scaled to [0, 1], other observations as floats)
``data/``         exact checks of the data path, each 0 in a correct agent: ``record_gap``, the
                  rollout's rewards, episode ends and time-limit bootstraps against what the
                  env returned (a bootstrap is V(final observation) from the acting critic
                  where an episode was truncated, not terminated, and 0 elsewhere; the value
                  is recomputed only for models without dropout, as ``act_train_kl``);
                  ``next_obs_gap``, the share of steps whose action was chosen from another
                  observation than the one the env had just returned (after an episode end:
                  the next episode's first), across rollout boundaries too. Both are checked on
                  every rollout (:meth:`Diagnostics.watch`; the value recomputation only at log
                  points, where the acting parameters are kept) and logged as their largest
                  since the last log point: an episode end between two log points is checked
``value/``        explained variance; mean/std/min/max of values, returns, advantages;
                  ``loss_gap``, a consistency check that is 0 in a correct agent: the loss's
                  value term against the mean squared error of the same values and returns,
                  recomputed (relative difference); ``returns_gap``: the returns and advantages
                  against stable-baselines3's RolloutBuffer's on the same recorded rewards,
                  values and episode ends (relative to max|return| + 1)
``charts/``       episode return and length, reward per step, steps/s
``diagnostics/``  count of non-finite numbers among losses, values, returns and advantages,
                  plus the number of layers whose parameter or gradient norm is non-finite

Nothing here changes the run: activation hooks only read, the KL forward pass
runs under a forked random state, and with diagnostics off the numbers of the
run are the same (tested).
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium.spaces import Box, Discrete
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.utils import explained_variance
from torch import nn
from torch.distributions import Categorical, kl_divergence
from torch.func import functional_call

from rl_lab.agent import seams
from rl_lab.agent.models import has_mode_dependent_layers
from rl_lab.agent.rollout import Rollout
from rl_lab.agent.seams import SharedSeams
from rl_lab.instruments.definition import (
    ActingTest,
    UpdateObserver,
    function_gap,
    gradient_gap,
    reference_gradient,
    replayed_step_gap,
)
from rl_lab.instruments.ppo_checks import PPO_CHECK_SERIES, PPOObserver
from rl_lab.run.config import AgentConfig

# The panel's exact checks: recomputations of this agent's own seams, pinned (0, or a fixed value)
# in a correct agent. The rest of the panel is generic: what any agent's numbers give.
EXACT_CHECK_SERIES = frozenset(
    {
        "losses/policy_gap",
        "grads/stale_ratio",
        "grads/clip_gap",
        "params/step_gap",
        "params/frozen_fraction",
        "params/init_gap",
        "policy/entropy_gap",
        "policy/log_prob_gap",
        "policy/act_eval_kl",
        "policy/act_eval_gap",
        "policy/act_train_kl",
        "policy/act_train_gap",
        "policy/action_logp_excess",
        "policy/action_logp_variance",
        "inputs/preprocess_gap",
        "data/record_gap",
        "data/next_obs_gap",
        "value/loss_gap",
        "value/returns_gap",
        # from A2C's definition (rl_lab/instruments/definition.py)
        "grads/grad_gap",
        "grads/policy_term_gap",
        "grads/value_term_gap",
        "grads/entropy_term_gap",
        "params/function_gap",
        "policy/acting_evidence",
        # from PPO's definition (rl_lab/instruments/ppo_checks.py)
        *PPO_CHECK_SERIES,
    }
)


def _layer(parameter_name: str) -> str:
    return parameter_name.rsplit(".", 1)[0]


def basic_scalars(stats: dict[str, Any]) -> dict[str, float]:
    """Losses, entropy, gradient norm, the critic's fit, and the algorithm's own ``series`` (PPO's
    clip fraction, approximate KL per epoch, ratio spread, schedules): logged with diagnostics off too."""
    return {
        **stats.get("series", {}),
        "losses/total": stats["loss"].item(),
        "losses/policy": stats["policy_loss"].item(),
        "losses/value": stats["value_loss"].item(),
        "losses/entropy": -stats["entropy"].item(),
        "policy/entropy": stats["entropy"].item(),
        "grads/global_norm": stats["grad_norm"].item(),
        "value/explained_variance": float(
            explained_variance(stats["values"].flatten().cpu().numpy(), stats["returns"].flatten().cpu().numpy())
        ),
    }


def _stats(prefix: str, x: torch.Tensor) -> dict[str, float]:
    x = x.detach().float()
    return {
        f"{prefix}_mean": x.mean().item(),
        f"{prefix}_std": x.std(unbiased=False).item(),
        f"{prefix}_min": x.min().item(),
        f"{prefix}_max": x.max().item(),
    }


WATCHED = {"data/record_gap": 0.0, "data/next_obs_gap": 0.0}


class Diagnostics:
    """Computes the panel for one model; ``arm`` before an update that will be logged."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        hp: AgentConfig,
        activation_samples: int = 16,
        kl_samples: int = 16,
        gradient_check_every: int = 1,
        reference_factory: Callable[[], nn.Module] | None = None,
        single_gradient_step: bool = True,
    ):
        """``model`` as built, before any update. ``reference_factory`` builds the configured model afresh (for
        ``init_gap``; under a forked random state, so the run's numbers do not change). The gradient is
        recomputed at the first log point and every ``gradient_check_every``-th after it (a forward and
        backward pass of the batch: on Pong, a share of log points keeps the panel's cost down).
        ``single_gradient_step``: the update is one gradient step on the whole rollout (A2C's,
        ``ActorCriticAgent.SINGLE_GRADIENT_STEP``). The checks that recompute or replay that step
        (the loss terms and their gradients, the gradient, the clip, the optimizer's step, the
        policy the update trained) run only then: PPO's update is many minibatch steps, and its
        own checks are PPO's (the panel logs its ``series`` meanwhile)."""
        self.model, self.optimizer, self.hp = model, optimizer, hp
        self.single_step = single_gradient_step
        self.init_gap: float | None = None  # not logged without a reference
        self.reference_model: nn.Module | None = None  # a fresh build of the configured factory
        self.function_gap: float | None = None  # measured at the first log point
        if reference_factory is not None:
            with torch.random.fork_rng(devices=[]):
                self.reference_model = reference_factory().to(next(model.parameters()).device)
            self.init_gap = _init_gap(model, self.reference_model)
        self.max_grad_norm = hp.max_grad_norm
        self.activation_samples = activation_samples
        self.kl_samples = kl_samples
        self.named_parameters = list(model.named_parameters())
        self.mode_dependent = has_mode_dependent_layers(model)
        self.armed = False
        self.activations: dict[str, float] = {}
        self.params_before: list[torch.Tensor] | None = None
        self.gradient_sq = {"stale": 0.0, "fresh": 0.0}
        self.fresh_gradients: dict[str, torch.Tensor] = {}  # this update's gradient, as backward produced it
        self.gradient_check_every = gradient_check_every
        self.measured = 0  # log points measured so far: the gradient is recomputed at every n-th
        # the run's seams, seen from inside (observe): every algorithm's, and PPO's own parts
        self.observer = UpdateObserver(self.mode_dependent, single_gradient_step)
        self.ppo_observer = None if single_gradient_step else PPOObserver(self.mode_dependent)
        self.acting_test = ActingTest()
        self.watched = dict(WATCHED)  # the data path's gaps since the last log point (watch)
        self.last_returned: np.ndarray | None = None  # the observation the last rollout's last step returned
        for name, module in model.named_modules():
            if isinstance(module, nn.ReLU | nn.Tanh):
                module.register_forward_hook(self._activation_hook(name))
        for name, parameter in self.named_parameters:
            if parameter.requires_grad:
                parameter.register_hook(self._gradient_hook(name, parameter))

    def observe(self, seams: SharedSeams) -> SharedSeams:
        """The run's seams with this panel's observers around them (:class:`UpdateObserver`, and
        :class:`~rl_lab.instruments.ppo_checks.PPOObserver` for PPO): the loss terms' gradients, PPO's
        parts and every time-limit bootstrap are checked only in seams passed here."""
        observed = self.observer.observe(seams)
        return observed if self.ppo_observer is None else self.ppo_observer.observe(observed, self.model)

    def _activation_hook(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            key = f"activations/{name}/norm"
            if not self.armed or key in self.activations:  # one forward pass per armed update is enough
                return
            sample = output.detach()[: self.activation_samples].flatten(1).float()
            self.activations[key] = sample.norm(dim=1).mean().item()
            if isinstance(module, nn.ReLU):
                self.activations[f"activations/{name}/dead_fraction"] = (sample <= 0).all(dim=0).float().mean().item()

        return hook

    def _gradient_hook(self, name: str, parameter: nn.Parameter):
        # a tensor hook on a parameter runs before the new gradient is added to .grad
        def hook(grad: torch.Tensor) -> None:
            if not self.armed:
                return
            if parameter.grad is not None:
                self.gradient_sq["stale"] += parameter.grad.detach().float().pow(2).sum().item()
            self.gradient_sq["fresh"] += grad.detach().float().pow(2).sum().item()
            if self.single_step and self._gradient_checked():
                before = self.fresh_gradients.get(name)
                self.fresh_gradients[name] = grad.detach().clone() if before is None else before + grad.detach()

        return hook

    def _gradient_checked(self) -> bool:
        """Whether the armed update's gradient is recomputed (the first log point, then every n-th)."""
        return self.measured % self.gradient_check_every == 0

    def watch(self, rollout: Rollout) -> None:
        """After every rollout: the data path's checks that need no network (rewards and ends as
        the env returned them, no bootstrap but at a time-limit end, each action chosen from the
        observation the env returned last), kept as their largest until the next log point."""
        record_gap = 0.0
        for t, step in enumerate(rollout.env_steps):
            cut = step.time_limit_ends
            for recorded, returned in (
                (rollout.rewards[t], step.reward),
                (rollout.terminated[t], step.terminated),
                (rollout.truncated[t], step.truncated),
                (rollout.truncation_values[t][torch.from_numpy(~cut)], 0.0),
            ):
                gap = (recorded - torch.as_tensor(returned, dtype=torch.float32)).abs()
                record_gap = max(record_gap, gap.max().item() if gap.numel() else 0.0)
        returned = [self.last_returned] + [step.obs for step in rollout.env_steps[:-1]]
        pairs = [(a, r) for a, r in zip(rollout.observations, returned, strict=True) if r is not None]
        moved = sum(int(np.any(a.reshape(len(a), -1) != r.reshape(len(r), -1), axis=1).sum()) for a, r in pairs)
        self.last_returned = rollout.env_steps[-1].obs
        next_obs_gap = moved / max(sum(len(a) for a, _ in pairs), 1)
        record_gap = max(record_gap, self.observer.take_bootstrap_gap(rollout.env_steps))
        self.watched["data/record_gap"] = max(self.watched["data/record_gap"], record_gap)
        self.acting_test.observe(rollout.logits, rollout.actions)
        self.watched["data/next_obs_gap"] = max(self.watched["data/next_obs_gap"], next_obs_gap)

    def envs_were_reset(self, obs: np.ndarray) -> None:
        """The envs were reset outside the loop (a resume of an env whose state is not saved):
        ``obs``, the reset's observation, is what they returned last."""
        self.last_returned = obs

    def state_dict(self) -> dict[str, Any]:
        """What :meth:`watch` kept between log points, for a checkpoint: a resumed run logs the same."""
        last = None if self.last_returned is None else torch.from_numpy(np.array(self.last_returned))
        return {
            "watched": dict(self.watched),
            "last_returned": last,
            "acting_test": self.acting_test.state_dict(),
            "measured": self.measured,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        last = state["last_returned"]
        self.watched, self.last_returned = dict(state["watched"]), None if last is None else last.numpy()
        if "acting_test" in state:  # a checkpoint older than the acting test holds none: it starts afresh
            self.acting_test.load_state_dict(state["acting_test"])
            self.measured = state["measured"]

    def arm(self) -> None:
        """Record activations from the next forward passes and remember the parameters."""
        self.armed = True
        self.activations = {}
        self.gradient_sq = {"stale": 0.0, "fresh": 0.0}
        self.fresh_gradients = {}
        self.observer.arm()
        if self.ppo_observer is not None:
            self.ppo_observer.arm()
        self.params_before = [p.detach().clone() for _, p in self.named_parameters]
        self.optimizer_before = copy.deepcopy(self.optimizer.state_dict())

    def measure(self, stats: dict[str, Any], rollout: Rollout) -> dict[str, float]:
        """The panel after an armed update; ``stats`` is what :meth:`A2C.update` returned."""
        assert self.params_before is not None, "arm() before the update you measure"
        self.armed = False
        out = basic_scalars(stats)
        out.update(self._gradients_and_parameters(out["grads/global_norm"]))
        out.update(self.activations)
        out.update(self._policy(stats, rollout))
        out["inputs/abs_max"] = rollout.obs.abs().max().item()
        out["grads/stale_ratio"] = math.sqrt(self.gradient_sq["stale"]) / max(
            math.sqrt(self.gradient_sq["fresh"]), 1e-12
        )
        reference = sb3_returns(rollout, self.hp.gamma, self.hp.gae_lambda)  # the clean returns and advantages
        out.update(self._loop_checks(stats, rollout, reference))
        if self.single_step:
            out.update(self._single_step_checks(stats, rollout))
        else:
            returns, advantages = reference
            out.update(
                self.ppo_observer.checks(rollout, self.hp, self.model, self._parameters_before(), advantages, returns)
            )
        out.update(self._data_path_checks(rollout))
        out.update(self._definition_checks(rollout))
        values, returns, advantages = stats["values"], stats["returns"], stats["advantages"]
        out.update(_stats("value/values", values))
        out.update(_stats("value/returns", returns))
        out.update(_stats("value/advantages", advantages))
        out["charts/reward_per_step"] = rollout.rewards.mean().item()
        nonfinite = sum(int((~torch.isfinite(t)).sum()) for t in (values, returns, advantages, stats["loss"]))
        # a norm is finite exactly when every entry is: count the layers holding a NaN or inf
        nonfinite += sum(not math.isfinite(v) for k, v in out.items() if k.startswith(("params/", "grads/")))
        out["diagnostics/nonfinite_count"] = float(nonfinite)
        self.params_before = None
        return out

    def _loop_checks(
        self, stats: dict[str, Any], rollout: Rollout, reference: tuple[torch.Tensor, torch.Tensor]
    ) -> dict[str, float]:
        """Exact checks of seams that the panel's other series do not recompute (see the module doc),
        those that hold in either algorithm: the returns against ``reference`` (:func:`sb3_returns`),
        the network's build, the acting samples."""
        returns, reference_advantages = reference
        scale = returns.abs().max().item() + 1.0
        returns_gap = max(
            (stats["returns"].cpu() - returns).abs().max().item(),
            (stats["advantages"].cpu() - reference_advantages).abs().max().item(),
        )
        return {
            "value/returns_gap": returns_gap / scale,
            "params/frozen_fraction": self._frozen_fraction(),
            **({} if self.init_gap is None else {"params/init_gap": self.init_gap}),
            **_action_log_prob_excess(rollout.logits, rollout.actions),
        }

    def _single_step_checks(self, stats: dict[str, Any], rollout: Rollout) -> dict[str, float]:
        """The checks of an update that is one gradient step on the rollout (A2C's): each loss term
        recomputed, and each term's gradient and the whole gradient from A2C's definition
        (rl_lab/instruments/definition.py), the clip, the optimizer's step replayed, the log-probs
        and entropy recomputed, and the policy the update trained against the one that acted."""
        terms = stats["advantages"] * stats["log_probs"]
        policy_gap = abs(stats["policy_loss"].item() - (-terms.mean()).item()) / max(terms.abs().mean().item(), 1e-12)
        recomputed = F.mse_loss(stats["returns"], stats["train_values"]).item()
        fresh_norm = math.sqrt(self.gradient_sq["fresh"])
        clipped_norm = math.sqrt(sum(p.grad.detach().float().pow(2).sum().item() for p in self._with_grad()))
        out = {
            "losses/policy_gap": policy_gap,
            "value/loss_gap": abs(stats["value_loss"].item() - recomputed) / max(recomputed, 1e-12),
            "grads/clip_gap": abs(clipped_norm - min(fresh_norm, self.max_grad_norm)) / self.max_grad_norm,
            "params/step_gap": self._step_gap(),
            **self._trained_policy(stats, rollout),
            **self.observer.term_gaps(stats, rollout.actions.to(stats["logits"].device)),
        }
        if not self.mode_dependent and self._gradient_checked():  # dropout: the masks cannot be replayed
            hp = self.hp
            reference = reference_gradient(
                self.model, self._parameters_before(), rollout, hp.gamma, hp.gae_lambda, hp.ent_coef, hp.vf_coef
            )
            out["grads/grad_gap"] = gradient_gap(self.fresh_gradients, reference)
        return out

    def _data_path_checks(self, rollout: Rollout) -> dict[str, float]:
        """What the rollout holds against what the env returned (see the module doc, ``data/``):
        the preprocessing of this rollout, and the gaps :meth:`watch` found since the last log point
        (the bootstrap of every time-limit end among them, checked as it was recorded)."""
        device = rollout.obs.device
        observations = np.stack(rollout.observations)
        clean_input = seams.preprocess(observations.reshape(-1, *observations.shape[2:]))
        out = {"inputs/preprocess_gap": (rollout.obs.flatten(0, 1) - clean_input.to(device)).abs().max().item()}
        out["data/record_gap"] = self.watched["data/record_gap"]
        out["data/next_obs_gap"] = self.watched["data/next_obs_gap"]
        self.watched = dict(WATCHED)
        return out

    def _definition_checks(self, rollout: Rollout) -> dict[str, float]:
        """The checks from the definition of any actor-critic agent (rl_lab/instruments/definition.py):
        the network's function and the acting distribution."""
        out: dict[str, float] = {}
        self.observer.disarm()
        self.fresh_gradients = {}
        self.measured += 1
        if self.reference_model is not None:
            if self.function_gap is None:
                self.function_gap = function_gap(self.model, self.reference_model, rollout.obs.flatten(0, 1))
            out["params/function_gap"] = self.function_gap
        out["policy/acting_evidence"] = self.acting_test.take_largest()
        return out

    def _parameters_before(self) -> dict[str, torch.Tensor]:
        """The parameters the update started from, by name."""
        return {name: p for (name, _), p in zip(self.named_parameters, self.params_before, strict=True)}

    def _with_grad(self) -> list[nn.Parameter]:
        return [p for _, p in self.named_parameters if p.grad is not None]

    def _step_gap(self) -> float:
        """The update's step against the configured optimizer's, replayed with the configured learning
        rate, whatever the groups were set to (:func:`replayed_step_gap`)."""
        before = {id(p): b for (_, p), b in zip(self.named_parameters, self.params_before, strict=True)}
        return replayed_step_gap(self.optimizer, self.optimizer_before, before, self.hp.lr)

    def _frozen_fraction(self) -> float:
        """The fraction of the network's parameters (by count) the update cannot move: not trainable,
        or not given to the optimizer. In A2C every parameter of the network trains."""
        trained = {id(p) for group in self.optimizer.param_groups for p in group["params"] if p.requires_grad}
        total = sum(p.numel() for _, p in self.named_parameters)
        frozen = sum(p.numel() for _, p in self.named_parameters if id(p) not in trained)
        return frozen / max(total, 1)

    def _gradients_and_parameters(self, grad_norm: float) -> dict[str, float]:
        """Norms of the parameters and of each layer's update; of each layer's gradient where the
        update is one gradient step (``.grad`` holds the last minibatch's only, in PPO)."""
        # clip_grad_norm_ scales every gradient by one factor; undo it to report norms before clipping
        clip = min(1.0, self.max_grad_norm / (grad_norm + 1e-6)) if math.isfinite(grad_norm) else 1.0
        grad_sq: dict[str, float] = defaultdict(float)
        param_sq: dict[str, float] = defaultdict(float)
        delta_sq: dict[str, float] = defaultdict(float)
        before_sq: dict[str, float] = defaultdict(float)
        for (name, p), before in zip(self.named_parameters, self.params_before, strict=True):
            layer = _layer(name)
            if p.grad is not None and self.single_step:
                grad_sq[layer] += (p.grad.detach().float().norm().item() / clip) ** 2
            param_sq[layer] += p.detach().float().norm().item() ** 2
            delta_sq[layer] += (p.detach() - before).float().norm().item() ** 2
            before_sq[layer] += before.float().norm().item() ** 2
        out = {"grads/global_norm": grad_norm, "params/global_norm": math.sqrt(sum(param_sq.values()))}
        for layer in param_sq:
            if self.single_step:
                out[f"grads/{layer}/norm"] = math.sqrt(grad_sq[layer])
            out[f"params/{layer}/norm"] = math.sqrt(param_sq[layer])
            out[f"params/{layer}/update_ratio"] = math.sqrt(delta_sq[layer]) / (math.sqrt(before_sq[layer]) + 1e-12)
        return out

    def _policy(self, stats: dict[str, Any], rollout: Rollout) -> dict[str, float]:
        """The policy's spread, the update's size (approximate KL), and the acting pass against the
        same parameters in eval mode. The spread is the update's forward pass's where the update is
        one pass (A2C), else the acting pass's (PPO's update has one per minibatch)."""
        logits = (stats["logits"] if self.single_step else rollout.logits).flatten(0, -2)
        policy = Categorical(logits=logits, validate_args=False)  # a diverged run's NaNs are logged, not raised
        entropy = policy.entropy().mean().item()
        out = {
            "policy/entropy_normalized": entropy / math.log(logits.shape[-1]),
            "policy/logits_std": logits.std(dim=-1, unbiased=False).mean().item(),
            "policy/logits_range": (logits.max(dim=-1).values - logits.min(dim=-1).values).mean().item(),
        }
        obs = rollout.obs.flatten(0, 1).to(logits.device)[: self.kl_samples]
        acting = rollout.logits.detach().flatten(0, -2).to(logits.device)[: self.kl_samples]
        lagged = rollout.acting_parameters is not None
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            logits_before = self._eval_mode_logits(obs, self._parameters_before())
            logits_after = self._eval_mode_logits(obs, dict(self.named_parameters))
            acting_recomputed = self._eval_mode_logits(obs, rollout.acting_parameters) if lagged else logits_before
        # the update's own size: the policy before and after it, on the same observations, in eval
        # mode (the training forward pass's logits would mix in whatever a training_forward bug did)
        out["policy/approx_kl"] = _kl(logits_before, logits_after)
        out["policy/act_eval_kl"] = _kl(acting, acting_recomputed)
        out["policy/act_eval_gap"] = _logit_gap(acting, acting_recomputed)
        return out

    def _trained_policy(self, stats: dict[str, Any], rollout: Rollout) -> dict[str, float]:
        """The one gradient step's entropy and log-probabilities recomputed from its logits, and the
        policy it trained against the policy that acted (models whose modes agree)."""
        logits = stats["logits"].flatten(0, -2)
        policy = Categorical(logits=logits, validate_args=False)
        recomputed_log_probs = policy.log_prob(rollout.actions.flatten().to(logits.device))
        out = {
            "policy/entropy_gap": abs(stats["entropy"].item() - policy.entropy().mean().item()),
            "policy/log_prob_gap": (stats["log_probs"].flatten() - recomputed_log_probs).abs().mean().item(),
        }
        all_obs = rollout.obs.flatten(0, 1).to(logits.device)
        acting = rollout.logits.detach().flatten(0, -2).to(logits.device)
        if not self.mode_dependent and rollout.acting_parameters is None:
            out["policy/act_train_kl"] = _kl(acting, logits)
            out["policy/act_train_gap"] = _logit_gap(acting, logits)
        elif not self.mode_dependent:
            # acted and trained with different weights: the acting pass must be the acting weights'
            # policy and the update must train the policy of its own weights, on every observation
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                acting_policy = self._eval_mode_logits(all_obs, rollout.acting_parameters)
                trained_policy = self._eval_mode_logits(all_obs, self._parameters_before())
            out["policy/act_train_kl"] = max(_kl(acting, acting_policy), _kl(trained_policy, logits))
            out["policy/act_train_gap"] = max(_logit_gap(acting, acting_policy), _logit_gap(trained_policy, logits))
        return out

    def _eval_mode_logits(self, obs: torch.Tensor, parameters: dict[str, torch.Tensor]) -> torch.Tensor:
        """The policy's logits at ``parameters`` in eval mode."""
        return self._eval_mode_outputs(obs, parameters)[0]

    def _eval_mode_outputs(
        self, obs: torch.Tensor, parameters: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's logits and values at ``parameters`` in eval mode; the model's modes are left as they were."""
        modes = [(module, module.training) for module in self.model.modules()]
        self.model.eval()
        try:
            return functional_call(self.model, parameters, (obs,))
        finally:
            for module, training in modes:
                module.training = training


def sb3_returns(rollout: Rollout, gamma: float, gae_lambda: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns and advantages of a rollout as stable-baselines3's ``RolloutBuffer`` computes them
    (the independent reference of the ``compute_returns`` seam), time-limit ends bootstrapped
    through the reward as the loop does."""
    n_steps, n_envs = rollout.rewards.shape
    buffer = RolloutBuffer(n_steps, Box(-1.0, 1.0, (1,)), Discrete(2), "cpu", gae_lambda, gamma, n_envs)
    buffer.rewards[:] = (rollout.rewards + gamma * rollout.truncation_values).numpy()
    buffer.values[:] = rollout.values.detach().cpu().numpy()
    dones = rollout.dones.numpy()
    buffer.episode_starts[1:] = dones[:-1]  # SB3 marks the step after an end; rl-lab the step that ends
    buffer.compute_returns_and_advantage(last_values=rollout.last_value.detach().cpu(), dones=dones[-1])
    return torch.from_numpy(buffer.returns), torch.from_numpy(buffer.advantages)


def _init_gap(model: nn.Module, reference: nn.Module) -> float:
    """1.0 if the two networks' parameters differ in name or shape, else the largest relative
    difference of a parameter's norm (see the module doc, ``params/``)."""
    built, fresh = dict(model.named_parameters()), dict(reference.named_parameters())
    if {k: v.shape for k, v in built.items()} != {k: v.shape for k, v in fresh.items()}:
        return 1.0
    gaps = [
        abs(built[name].detach().float().norm().item() - p.detach().float().norm().item())
        / max(p.detach().float().norm().item(), 1e-3)
        for name, p in fresh.items()
    ]
    return max(gaps, default=0.0)


def _action_log_prob_excess(logits: torch.Tensor, actions: torch.Tensor) -> dict[str, float]:
    """The taken actions' log-probability under the acting policy, summed over the rollout, minus
    its expectation if they were sampled from that policy (minus the entropy, per sample), and
    the variance of that sum: sum p log^2 p - H^2 per sample. A correct agent's excess is of the
    order of the square root of the variance; greedy or sharpened acting drives it up
    (:class:`rl_lab.instruments.detectors.SamplingCheck` reads both)."""
    log_p = torch.log_softmax(logits.detach().flatten(0, -2).double(), dim=-1)
    p = log_p.exp()
    entropy = -(p * log_p).sum(-1)
    variance = ((p * log_p**2).sum(-1) - entropy**2).clamp_min(0.0)
    taken = log_p.gather(-1, actions.flatten().to(log_p.device)[:, None]).squeeze(-1)
    return {
        "policy/action_logp_excess": (taken + entropy).sum().item(),
        "policy/action_logp_variance": variance.sum().item(),
    }


def _logit_gap(acting: torch.Tensor, other: torch.Tensor) -> float:
    """max |acting - other| / (1 + max |other|) over a batch of logits: 0 when both came from the
    same network on the same inputs, up to float32 rounding."""
    return ((acting - other).abs().max() / (1.0 + other.abs().max())).item()


def _kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> float:
    """Mean KL(p || q) between two batches of categorical policies given by their logits."""
    p, q = Categorical(logits=p_logits, validate_args=False), Categorical(logits=q_logits, validate_args=False)
    return kl_divergence(p, q).mean().item()  # nan for non-finite logits: the nonfinite detector's business
