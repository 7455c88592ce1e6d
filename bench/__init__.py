"""Benchmark harness for oma-gateway: run with ``python bench/run.py`` (see bench/README.md)."""
