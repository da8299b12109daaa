"""The saved plan: verified before it runs (verify.py), and applied in slices (progress.py)."""
