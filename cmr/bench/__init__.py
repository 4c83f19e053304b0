"""Micro-benchmarks of cmr components (run one with ``python -m cmr.bench.<name>``)."""
