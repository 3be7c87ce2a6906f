"""The algorithms, as peers: A2C (a2c.py) and PPO (ppo.py) on the acting half and the rollout they
share (rollout.py), the seams where bugs attach (seams.py), the networks, and SB3's side for checking them."""
