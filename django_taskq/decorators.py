"""The @job decorator."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from rq.job import Job

if TYPE_CHECKING:
    from rq.queue import Queue

P = ParamSpec("P")
R = TypeVar("R")

# Keyword arguments of .delay() that RQ's own @job treats as job options, not function arguments.
_DELAY_OPTIONS = ("depends_on", "job_id", "at_front", "meta", "description", "retry", "ttl")


class JobFunction(Generic[P, R]):
    """A function that runs inline when called and in a worker through ``.delay()``."""

    def __init__(self, func: Callable[P, R], queue: str | Queue, options: dict[str, Any]) -> None:
        self.func = func
        self.queue = queue
        self.options = options
        functools.update_wrapper(self, func)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def get_queue(self) -> Queue:
        """The queue, looked up now (so settings are read at enqueue time, not import time)."""
        if isinstance(self.queue, str):
            from .queues import get_queue

            return get_queue(self.queue)
        return self.queue

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        """Enqueue a call; ``depends_on``, ``job_id``, ``at_front``... are read as job options."""
        options = dict(self.options)
        call_kwargs: dict[str, Any] = dict(kwargs)
        for name in _DELAY_OPTIONS:
            if name in call_kwargs:
                options[name] = call_kwargs.pop(name)
        return self._enqueue(args, call_kwargs, options)

    def enqueue(
        self, args: tuple[Any, ...] | list[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> Job:
        """Enqueue with explicit ``args``/``kwargs``; any RQ job option overrides the decorator's."""
        return self._enqueue(tuple(args), dict(kwargs or {}), {**self.options, **options})

    def _enqueue(self, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> Job:
        if "job_timeout" in options:
            options["timeout"] = options.pop("job_timeout")
        return self.get_queue().enqueue_call(self.func, args=args, kwargs=kwargs, **options)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<job {self.func.__module__}.{self.func.__qualname__} on {self.queue!r}>"


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
        return JobFunction(func_or_queue, "default", options)

    def decorator(func: Callable[P, R]) -> JobFunction[P, R]:
        return JobFunction(func, func_or_queue, options)

    return decorator
