"""The policy term's advantages carry the critic's graph: the policy gradient also trains the critic.

Story: an actor-critic computes its advantage as ``return - value`` from the value the network
just output, and forgets to stop the gradient there. The loss's value is right; its gradient is
not: the policy term pushes the critic, in the direction that makes good actions look worse.
keras-team/keras-io #194 ("Possible issue of gradients calculation in actor_critic_cartpole
example": ``diff = ret - value`` should be ``ret - tf.stop_gradient(value)``), the same in
icoxfog417/baby-steps-of-rl-ja #16 and astariul/encode-attend-navigate-pytorch #2 ("Critic not
detached from policy loss", fixed in PR #3: "the critic network was backpropagated from both the
policy loss and critic loss, leading to unstable training").

Seam: ``training_forward`` (to keep the values the update computed) and ``policy_loss``: the
advantages handed to the clean policy loss are ``advantages - dose * (values - values.detach())``,
equal in value to the clean ones, with a gradient of ``-dose`` into every value.

Dose: the share of the critic's graph left in the advantages, in [0, 1] (default 1.0).

Symptoms: every value check stays 0 (the loss, its policy term, the returns are the clean
numbers); the policy term's gradient reaches the values: ``policy_gradient_consistency``
(``grads/policy_term_gap``) and ``gradient_consistency`` fire at the first log point.
"""

from __future__ import annotations

import dataclasses

SEAM = ("training_forward", "policy_loss")
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "the policy term trains the critic; every value check 0; policy_gradient_consistency"


def inject(seams, dose: float):
    forward, policy_loss = seams.training_forward, seams.policy_loss
    kept = {}

    def training_forward(model, rollout):
        logits, values = forward(model, rollout)
        kept["values"] = values
        return logits, values

    def leaky_policy_loss(log_probs, advantages):
        values = kept["values"].to(advantages.device)
        return policy_loss(log_probs, advantages - dose * (values - values.detach()))

    return dataclasses.replace(seams, training_forward=training_forward, policy_loss=leaky_policy_loss)
