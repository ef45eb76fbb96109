"""Job functions the tests enqueue (importable by worker processes)."""

from __future__ import annotations

import time

from django_taskq import job


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@job
def multiply(a: int, b: int) -> int:
    return a * b


@job("high", result_ttl=123)
def shout(word: str) -> str:
    return word.upper()


@job("low", timeout=7)
def whisper(word: str = "psst") -> str:
    return word.lower()


@job("default")
def explode(word: str = "bang") -> None:
    raise RuntimeError(word)


@job
def note_failure(job: object, connection: object, *exc_info: object) -> None:
    """An on_failure callback that is itself a @job function."""
    from django_taskq import get_connection

    get_connection().rpush("taskq-test:failure-callbacks", str(getattr(job, "id", "")))
