"""Job functions for benchmarks/bench_enqueue.py (never run: the benchmark only enqueues)."""

from __future__ import annotations

from django_taskq import job


def add(a: int, b: int) -> int:
    return a + b


@job
def add_later(a: int, b: int) -> int:
    return a + b
