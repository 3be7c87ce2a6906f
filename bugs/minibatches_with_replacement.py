"""PPO's minibatches are drawn with replacement: some samples twice, some never, every epoch.

Story: higgsfield-ai/higgsfield #7 ("Inefficient Sampling in PPO Implementation?": ``rand_ids =
np.random.randint(0, batch_size, mini_batch_size)`` "repeats some data and misses out on some
other data"). PPO's epochs are passes over the batch: each sample once per epoch.

Seam: ``minibatches``. Each index is drawn uniformly with replacement (torch's generator, saved
with the checkpoint) with probability ``dose``, else taken from the clean permutation.

Dose: the share of indices drawn with replacement, in [0, 1] (default 1.0).

Symptoms: about a third of the batch (1/e) is unused in each epoch at dose 1, and as many samples
weigh twice or more: noisier updates, slower learning. The epoch's minibatches are not a
partition of the batch: ``minibatch_consistency`` fires at the first log point.
"""

from __future__ import annotations

import dataclasses

import torch

SEAM = "minibatches"
DOSE = 1.0
DOSE_RANGE = (0.0, 1.0)
SYMPTOM = "minibatches with replacement: samples repeated and missed; minibatch_consistency"


def inject(seams, dose: float):
    minibatches = seams.minibatches

    def minibatches_with_replacement(n_samples, batch_size):
        order = torch.cat(minibatches(n_samples, batch_size))
        drawn = torch.randint(n_samples, (n_samples,))
        replaced = torch.rand(n_samples) < dose
        return list(torch.where(replaced, drawn, order).split(batch_size))

    return dataclasses.replace(seams, minibatches=minibatches_with_replacement)
