"""Proximal policy optimization (PPO, clipped surrogate), numerically stable-baselines3's ``PPO``.

Read top to bottom: the rollout is collected as A2C's (:class:`~rl_lab.agent.rollout.ActorCriticAgent`);
returns and advantages are GAE(lambda) over it; then ``n_epochs`` passes over the flattened rollout,
each in fresh random minibatches of ``batch_size``, one gradient step per minibatch on

    loss = -mean(min(r * A, clip(r, 1 - eps, 1 + eps) * A)) + ent_coef * (-mean entropy)
           + vf_coef * MSE(returns, V (clipped to V_old +- eps_vf when set))

with r = pi(a|s) / pi_old(a|s) (pi_old: the policy that acted), A the minibatch's advantages
normalized, and the global gradient norm clipped to ``max_grad_norm``. The learning rate and the clip
range follow their schedules (the zoo's ``lin_X``: linear to 0 over the run), read at the progress
after the rollout as SB3 does. Every part goes through a :class:`~rl_lab.agent.seams.PPOSeams` field.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from rl_lab.agent.rollout import ActorCriticAgent, Rollout
from rl_lab.agent.seams import PPOSeams
from rl_lab.run.config import PPOConfig


class PPO(ActorCriticAgent):
    """The PPO agent: the shared acting half and PPO's update."""

    SEAMS: ClassVar[type[PPOSeams]] = PPOSeams
    HYPERPARAMETERS: ClassVar[type[PPOConfig]] = PPOConfig
    SINGLE_GRADIENT_STEP: ClassVar[bool] = False
    seams: PPOSeams
    hp: PPOConfig

    def update(self, rollout: Rollout) -> dict[str, Any]:
        """``n_epochs`` passes of minibatch steps on the rollout; the numbers of :meth:`A2C.update`'s
        first part (losses, entropy and gradient norm as means over the minibatch steps) and
        ``series``, PPO's own logged numbers (SB3's, and the spread of the ratio)."""
        hp, seams = self.hp, self.seams
        # clamped at 0: a budget that is not a whole number of rollouts ends past it, where SB3 would
        # read a negative progress and anneal to a negative learning rate (the zoo's budgets never do)
        progress_remaining = max(0.0, 1.0 - self.num_timesteps / self.total_timesteps)
        learning_rate = seams.schedule(hp.lr, progress_remaining, hp.lr_schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        clip_range = seams.schedule(hp.clip_range, progress_remaining, hp.clip_range_schedule)

        rewards = rollout.rewards + hp.gamma * rollout.truncation_values
        returns, advantages = seams.compute_returns(
            rewards, rollout.values.detach().cpu(), rollout.dones, rollout.last_value, hp.gamma, hp.gae_lambda
        )
        # the rollout flattened to one batch, index t * n_envs + i; pi_old is the acting pass's policy
        obs = rollout.obs.flatten(0, 1).to(self.device)
        actions = rollout.actions.flatten().to(self.device)
        flat_returns, flat_advantages = returns.flatten().to(self.device), advantages.flatten().to(self.device)
        old_values = rollout.values.flatten().to(self.device)
        old_log_probs = seams.log_prob(rollout.logits.flatten(0, 1).to(self.device), actions)

        steps: dict[str, list[torch.Tensor]] = {k: [] for k in ("loss", "policy", "value", "entropy", "norm", "clip")}
        ratios, approx_kl_per_epoch = [], []
        for _epoch in range(hp.n_epochs):
            epoch_kl = []
            for batch in seams.minibatches(len(actions), hp.batch_size):
                logits, values = seams.minibatch_forward(self.model, obs[batch])
                log_probs = seams.log_prob(logits, actions[batch])
                batch_advantages = flat_advantages[batch]
                if hp.normalize_advantage:
                    batch_advantages = seams.normalize_advantages(batch_advantages)
                ratio = seams.probability_ratio(log_probs, old_log_probs[batch])
                policy_loss = seams.clipped_surrogate(ratio, batch_advantages, clip_range)
                predicted = seams.clip_values(values, old_values[batch], hp.clip_range_vf)
                value_loss = seams.value_loss(predicted, flat_returns[batch])
                entropy = seams.entropy(logits).mean()
                loss = policy_loss + hp.ent_coef * (-entropy) + hp.vf_coef * value_loss
                grad_norm = seams.optimizer_step(self.optimizer, loss, self.parameters, hp.max_grad_norm)

                with torch.no_grad():  # what SB3 logs: the clip fraction and the approximate KL (k3)
                    log_ratio = log_probs - old_log_probs[batch]
                    epoch_kl.append(((torch.exp(log_ratio) - 1) - log_ratio).mean())
                    steps["clip"].append(((ratio - 1).abs() > clip_range).float().mean())
                for key, value in (("loss", loss), ("policy", policy_loss), ("value", value_loss)):
                    steps[key].append(value.detach())
                steps["entropy"].append(entropy.detach())
                steps["norm"].append(grad_norm.detach())
                ratios.append(ratio.detach())
            approx_kl_per_epoch.append(torch.stack(epoch_kl).mean())

        mean = {key: torch.stack(values).mean() for key, values in steps.items()}
        kl = torch.stack(approx_kl_per_epoch)
        return {
            "loss": mean["loss"],
            "policy_loss": mean["policy"],
            "value_loss": mean["value"],
            "entropy": mean["entropy"],
            "grad_norm": mean["norm"],
            "values": rollout.values.to(self.device),
            "returns": returns.to(self.device),
            "advantages": advantages.to(self.device),
            "series": {
                "ppo/clip_fraction": mean["clip"].item(),
                "ppo/approx_kl": kl[-1].item(),  # SB3's: the last epoch's mean
                "ppo/approx_kl_first_epoch": kl[0].item(),
                "ppo/approx_kl_max_epoch": kl.max().item(),
                "ppo/ratio_std": torch.cat(ratios).std().item(),
                "ppo/clip_range": clip_range,
                "ppo/learning_rate": learning_rate,
            },
        }
