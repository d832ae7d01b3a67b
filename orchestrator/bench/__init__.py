"""Benchmarks: strategy comparison on tabular and real-job suites, orchestration overhead."""
