"""Advantage actor-critic (A2C), numerically the algorithm of stable-baselines3's ``A2C``.

Read top to bottom: one rollout of ``n_steps`` steps in ``n_envs`` environments,
returns and advantages, one gradient step on

    loss = policy_loss + ent_coef * (-mean entropy) + vf_coef * MSE(returns, values)

with the global gradient norm clipped to ``max_grad_norm``. Episode ends by
termination are not bootstrapped; ends by time limit (truncation) are, with
``reward += gamma * V(final observation)`` exactly as SB3's ``collect_rollouts``.

Every step the loop takes goes through an :class:`~rl_lab.agent.seams.A2CSeams` field,
so a bug from ``bugs/`` can change one part and nothing else.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rl_lab.agent.rollout import ActorCriticAgent, Rollout
from rl_lab.agent.seams import A2CSeams
from rl_lab.run.config import AgentConfig


class A2C(ActorCriticAgent):
    """The A2C agent: the shared acting half (:class:`~rl_lab.agent.rollout.ActorCriticAgent`) and A2C's update."""

    SEAMS: ClassVar[type[A2CSeams]] = A2CSeams
    HYPERPARAMETERS: ClassVar[type[AgentConfig]] = AgentConfig
    SINGLE_GRADIENT_STEP: ClassVar[bool] = True
    seams: A2CSeams

    # act: ActorCriticAgent.collect_rollout; learn: returns, advantages, one gradient step
    def update(self, rollout: Rollout) -> dict[str, Any]:
        """One gradient step on the rollout. Returns the numbers every algorithm's update returns:
        the losses, entropy and gradient norm (tensors), the acting critic's ``values`` and the
        ``returns`` and ``advantages`` (``(T, N)``), and A2C's own: the training pass's values,
        logits and log-probabilities."""
        hp, seams = self.hp, self.seams
        rewards = rollout.rewards + hp.gamma * rollout.truncation_values
        returns, advantages = seams.compute_returns(
            rewards, rollout.values.detach().cpu(), rollout.dones, rollout.last_value, hp.gamma, hp.gae_lambda
        )
        returns, advantages = returns.to(self.device), advantages.to(self.device)

        logits, values = seams.training_forward(self.model, rollout)
        actions = rollout.actions.to(self.device)
        log_probs = seams.log_prob(logits, actions)
        policy_loss = seams.policy_loss(log_probs, advantages)
        value_loss = seams.value_loss(values, returns)
        entropy = seams.entropy(logits).mean()
        loss = policy_loss + hp.ent_coef * (-entropy) + hp.vf_coef * value_loss
        grad_norm = seams.optimizer_step(self.optimizer, loss, self.parameters, hp.max_grad_norm)

        return {
            "loss": loss.detach(),
            "policy_loss": policy_loss.detach(),
            "value_loss": value_loss.detach(),
            "entropy": entropy.detach(),
            "grad_norm": grad_norm.detach(),
            # the critic's predictions while acting, as SB3's explained variance uses them
            # (the training forward may differ: dropout, or a bug at the training_forward seam)
            "values": rollout.values.to(self.device),
            "train_values": values.detach(),  # what the value loss saw
            "returns": returns,
            "advantages": advantages,
            "logits": logits.detach(),
            "log_probs": log_probs.detach(),
        }
