"""rl-lab: a reference A2C agent checked against stable-baselines3, and a zoo of injected bugs.

The modules here are the commands (``python -m rl_lab.train``, ``.evaluate``, ``.look``, ``.bugs``,
``.probe``, ``.atlas``, ``.report``, ``.check``, ``.diagnose``, ``.reveal``); the subpackages are
the layers: ``agent`` (the algorithm), ``envs``, ``run`` (one run), ``instruments`` (panel and
detectors), ``lab`` (sweeps, atlas, signatures, check, diagnoser), and ``bugs`` and ``conf``,
which live at the top of a checkout.
"""

import os

# torch's OpenMP threads otherwise spin for a while after every parallel op, stealing the
# cores that ale-py's emulator threads need right after: measured on 2 cores, Pong env steps
# took 6 ms instead of 4 and training ran ~15% slower (scripts/bench_throughput.py).
# It must be set before torch is first imported; an explicit setting is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
