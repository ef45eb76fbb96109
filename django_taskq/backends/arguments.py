"""What a task may be given: JSON values that arrive in the worker as the caller sees them.

Django's own backends accept whatever ``normalize_json`` can turn into JSON values and raise
its ``TypeError``/``ValueError`` for the rest. RQBackend refuses those with the same exception
classes (``InvalidTaskArguments`` is also an ``InvalidTask``), and refuses too what a JSON round
trip would change (dictionaries with non-string keys, NaN, bytes), since the task must receive
exactly the ``args``/``kwargs`` its ``TaskResult`` shows.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .compat import Task, normalize_json
from .exceptions import InvalidTaskArguments, InvalidTaskArgumentValue

__all__ = ["json_arguments"]

_SCALARS = frozenset({str, int, float, bool, type(None)})


def json_arguments(task: Task[..., Any], args: Any, kwargs: Any) -> tuple[list[Any], dict[str, Any]]:
    """``args``/``kwargs`` after a JSON round trip; ``InvalidTaskArguments`` if they do not survive it."""
    values = (*args, *kwargs.values())
    if all(type(v) in _SCALARS and (type(v) is not float or math.isfinite(v)) for v in values):
        return list(args), dict(kwargs)  # nothing a JSON round trip could change
    refusal = f"Arguments of task {task.module_path} must be JSON-serialisable"
    try:
        normalize_json([args, kwargs])
    except ValueError as exc:
        raise InvalidTaskArgumentValue(f"{refusal}: {exc}") from exc
    except TypeError as exc:
        raise InvalidTaskArguments(f"{refusal}: {exc}") from exc
    try:
        encoded = json.dumps([args, kwargs], allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidTaskArguments(f"{refusal}: {exc}") from exc
    decoded_args, decoded_kwargs = json.loads(encoded)
    if not _same_json(args, decoded_args) or not _same_json(kwargs, decoded_kwargs):
        raise InvalidTaskArguments(
            f"Arguments of task {task.module_path} change in a JSON round trip (non-string dict keys?): "
            f"{args!r}, {kwargs!r} would arrive as {decoded_args!r}, {decoded_kwargs!r}."
        )
    return decoded_args, decoded_kwargs


def _same_json(original: Any, decoded: Any) -> bool:
    """Whether ``decoded`` is ``original`` up to tuples becoming lists."""
    if isinstance(original, dict):
        return (
            isinstance(decoded, dict)
            and all(isinstance(key, str) for key in original)
            and original.keys() == decoded.keys()
            and all(_same_json(value, decoded[key]) for key, value in original.items())
        )
    if isinstance(original, (list, tuple)):
        return (
            isinstance(decoded, list)
            and len(original) == len(decoded)
            and all(_same_json(a, b) for a, b in zip(original, decoded, strict=True))
        )
    if isinstance(original, float) and not math.isfinite(original):
        return False
    return type(original) is type(decoded) and bool(original == decoded)
