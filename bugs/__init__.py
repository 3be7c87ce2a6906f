"""The bug zoo: one module per real-world deep-RL mistake, each patching one seam of the
clean loop (rl_lab/seams.py). The registry and CLI are in rl_lab/bugs.py."""
