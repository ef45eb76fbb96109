"""The function benchmarks/bench_tasks.py enqueues, as a plain job and as a Django task."""

from __future__ import annotations


def add(a: int, b: int) -> int:
    return a + b
