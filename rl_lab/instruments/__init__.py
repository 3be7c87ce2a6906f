"""The instruments: the diagnostics panel (diagnostics.py) and the detectors that date what it shows (detectors.py)."""
