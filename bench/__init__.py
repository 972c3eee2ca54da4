"""Benchmarks (run as scripts or with ``python -m bench.NAME``); results go to ``bench/results/``."""
