"""The @job decorator."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, cast, overload, runtime_checkable

from rq.job import Job

if TYPE_CHECKING:
    from rq.queue import Queue

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

# Keyword arguments of .delay() that RQ's own @job treats as job options, not function arguments.
_DELAY_OPTIONS = ("depends_on", "job_id", "at_front", "meta", "description", "retry", "ttl")


@runtime_checkable
class JobFunction(Protocol[P, R_co]):
    """What ``@job`` returns: the decorated function itself, given ``delay`` and friends.

    It stays the very object its module holds, so RQ stores it by name and pickle finds it
    (as arguments, callbacks or ``Retry`` targets), and tracebacks gain no wrapper frame.
    """

    queue: str | Queue
    options: dict[str, Any]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> Job: ...

    def enqueue(
        self, args: tuple[Any, ...] | list[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> Job: ...

    def get_queue(self) -> Queue: ...


def _get_queue(func: Any) -> Queue:
    """The queue, looked up now (so settings are read at enqueue time, not import time)."""
    if isinstance(func.queue, str):
        from .queues import get_queue

        return get_queue(func.queue)
    return cast("Queue", func.queue)


def _delay(func: Any, *args: Any, **kwargs: Any) -> Job:
    """Enqueue a call; ``depends_on``, ``job_id``, ``at_front``... are read as job options."""
    options = dict(func.options)
    for name in _DELAY_OPTIONS:
        if name in kwargs:
            options[name] = kwargs.pop(name)
    return _enqueue(func, args, kwargs, options)


def _enqueue_explicit(
    func: Any, args: tuple[Any, ...] | list[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any
) -> Job:
    """Enqueue with explicit ``args``/``kwargs``; any RQ job option overrides the decorator's."""
    return _enqueue(func, tuple(args), dict(kwargs or {}), {**func.options, **options})


def _enqueue(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> Job:
    if "job_timeout" in options:
        options["timeout"] = options.pop("job_timeout")
    return _get_queue(func).enqueue_call(func, args=args, kwargs=kwargs, **options)  # type: ignore[no-any-return]


def _make_job_function(
    func: Callable[P, R], queue: str | Queue, options: dict[str, Any]
) -> JobFunction[P, R]:
    target: Any = func
    target.queue = queue
    target.options = options
    target.delay = functools.partial(_delay, func)
    target.enqueue = functools.partial(_enqueue_explicit, func)
    target.get_queue = functools.partial(_get_queue, func)
    return cast("JobFunction[P, R]", target)


@overload
def job(func_or_queue: Callable[P, R]) -> JobFunction[P, R]: ...


@overload
def job(
    func_or_queue: str | Queue = ...,
    *,
    timeout: int | str | None = ...,
    result_ttl: int | None = ...,
    ttl: int | None = ...,
    failure_ttl: int | None = ...,
    retry: Any = ...,
    **options: Any,
) -> Callable[[Callable[P, R]], JobFunction[P, R]]: ...


def job(func_or_queue: Any = "default", **options: Any) -> Any:
    """Make a function enqueueable: ``@job``, ``@job("high")``, ``@job("high", timeout=60)``.

    Options are RQ's ``enqueue_call`` options (``timeout``, ``result_ttl``, ``ttl``,
    ``failure_ttl``, ``retry``, ``on_success``...); ``job_timeout`` is accepted for ``timeout``.
    """
    if "connection" in options:
        raise TypeError("@job takes a queue name; the connection comes from RQ_QUEUES.")
    options = {key: value for key, value in options.items() if value is not None}
    if callable(func_or_queue) and not isinstance(func_or_queue, type):
        return _make_job_function(func_or_queue, "default", options)

    def decorator(func: Callable[P, R]) -> JobFunction[P, R]:
        return _make_job_function(func, func_or_queue, options)

    return decorator
