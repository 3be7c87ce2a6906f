"""One run: the typed config schema, the training loop with its log, checkpoints and resume rules, and evaluation."""
