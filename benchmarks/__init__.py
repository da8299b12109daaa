"""beeplan's call-count, quota and latency benchmarks (not part of ``pytest``).

Run ``python -m benchmarks --help``; see ``benchmarks/README.md``.
"""
