"""The lab: sweeps, the atlas, golden signatures (fitted apart from rendering), the check, probes, the diagnoser."""
