"""The committed results. Installed as ``rl_lab.results`` (pyproject.toml) with only what the
commands read by default: the golden signatures of each atlas tier and the probe matrices, so
that ``rl_lab.check`` and ``rl_lab.diagnose`` work from any directory after ``pip install .``."""
