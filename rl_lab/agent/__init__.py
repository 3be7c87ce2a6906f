"""The algorithm: the A2C loop, the seams where bugs attach, the networks, and SB3's side for checking them."""
