"""Job functions for benchmarks/bench_worker.py (importable by every worker under test)."""

from __future__ import annotations


def noop() -> None:
    """Does nothing: the benchmark measures the worker's own overhead."""
