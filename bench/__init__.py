"""Benchmarks (`python -m bench.<name>`); not part of any distribution."""
