"""The value loss is computed on detached values: the critic never learns from it.

Story: values collected with ``.item()`` or ``.detach()`` (to save memory, or to log them) and
later fed to the value loss. The loss has the right value and no gradient: jsboige/CoursIA PR
#15256 ("dead critic: value loss detached from the graph, critic never trained": the values were
appended with ``value.item()``, ``v_loss`` had no ``grad_fn``, and the critic's weights never
moved); nikhilbarhate99/PPO-PyTorch #35 suspected the same of ``state_values.detach()``.

Seam: ``value_loss``. It is the clean MSE of ``dose * values.detach() + (1 - dose) * values``:
the same value, a gradient into the values scaled by ``1 - dose``.

Dose: the share of the value gradient cut, in [0, 1] (default 1.0: none reaches the critic).

Symptoms: every value check stays 0 (the loss's value term is the MSE of its values and
returns); the value term's gradient does not reach the values: ``value_gradient_consistency``
(``grads/value_term_gap`` 1 at dose 1) and ``gradient_consistency`` fire at the first log point.
CartPole's separate critic keeps its initial weights, so its explained variance stays near 0.
"""

from __future__ import annotations

import dataclasses

SEAM = "value_loss"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "the critic gets no gradient from its loss; every value check 0; value_gradient_consistency"


def inject(seams, dose: float):
    value_loss = seams.value_loss

    def detached_value_loss(values, returns):
        return value_loss(dose * values.detach() + (1.0 - dose) * values, returns)

    return dataclasses.replace(seams, value_loss=detached_value_loss)
