"""Reading what RQ serialized (job data, meta, return values) in the web process without running code.

A pickle can call any function when it is loaded; a job hash is written by whoever can write
to Redis. ``safe_loads`` therefore never unpickles with ``pickle.loads``: a restricted
unpickler builds plain data only (builtin containers and scalars, dates, decimals, UUIDs) and
every other class becomes an ``Opaque`` placeholder that shows its name and runs nothing (no
``__reduce__`` callable, no ``__setstate__``, no import). JSON serializers (RQ's and ours)
cannot run code: their payload is decoded as is.
"""

from __future__ import annotations

import io
import pickle
import zlib
from typing import Any

# (module, name) of the classes a pickle may build for real: plain data, nothing that runs code.
# Not bytes, bytearray, str or range: called with a huge number they would exhaust memory (their
# pickles use opcodes of their own anyway).
ALLOWED = frozenset(
    {("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "complex", "slice")}
    | {("datetime", name) for name in ("datetime", "date", "time", "timedelta", "timezone")}
    | {("decimal", "Decimal"), ("uuid", "UUID"), ("collections", "OrderedDict"), ("_codecs", "encode")}
)


class Opaque:
    """Stands for an object of a class the restricted unpickler will not build."""

    qualname = "object"

    def __new__(cls, *args: Any, **kwargs: Any) -> Opaque:  # whatever REDUCE/NEWOBJ passes: ignored
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:  # BUILD: the state is not applied
        pass

    def __repr__(self) -> str:
        return f"<{self.qualname} object>"


def _opaque_class(module: str, name: str) -> type[Opaque]:
    return type("Opaque", (Opaque,), {"qualname": f"{module}.{name}"[:200]})


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # protocol 2 pickles name Python 2's module (fix_imports)
            module = "builtins"
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        return _opaque_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        return _opaque_class("persistent", "id")()


def restricted_unpickle(data: bytes) -> Any:
    """The plain data of a pickle; objects of other classes are ``Opaque``. Never runs its code."""
    return _RestrictedUnpickler(io.BytesIO(data)).load()


def is_json_serializer(serializer: Any) -> bool:
    """Whether ``serializer`` is RQ's or django-taskq's JSON serializer (loading runs no code)."""
    from rq.serializers import JSONSerializer as RQJSONSerializer

    from ..serializers import JSONSerializer

    candidates = (RQJSONSerializer, JSONSerializer)
    return serializer in candidates or isinstance(serializer, candidates)


def safe_loads(data: bytes, serializer: Any) -> Any:
    """What ``serializer.dumps`` wrote, without running code; ``Opaque`` when it is not plain data.

    Raises ValueError (or pickle's errors) for a payload that is not a pickle or JSON document.
    """
    if is_json_serializer(serializer):
        return serializer.loads(data)
    if not data.startswith(b"\x80"):  # not a pickle (protocol 2+): some other serializer
        return _opaque_class("serialized", f"data, {len(data)} bytes")()
    value = restricted_unpickle(data)
    if isinstance(value, Opaque):
        value.qualname += f", {len(data)} bytes"
    return value


def job_call_data(raw_data: bytes, serializer: Any) -> tuple[str, Any, Any, Any]:
    """(func_name, instance, args, kwargs) of a job hash's ``data`` field, as ``Job.restore`` and
    ``Job._deserialize_data`` read it (zlib-compressed, or plain before RQ compressed it)."""
    try:
        data = zlib.decompress(raw_data)
    except zlib.error:
        data = raw_data
    value = safe_loads(data, serializer)
    if isinstance(value, list | tuple) and len(value) == 4:
        func_name, instance, args, kwargs = value
        return str(func_name), instance, args, kwargs
    raise ValueError("The job data is not (function, instance, args, kwargs).")


__all__ = ["ALLOWED", "Opaque", "is_json_serializer", "job_call_data", "restricted_unpickle", "safe_loads"]


# The fields ``rq.job.Job.restore`` deserializes (or decodes) at once: ``meta`` and a legacy
# ``result`` with the job's serializer, ``exc_info`` as compressed text. Everything else it
# keeps as read (``data`` stays serialized until ``func_name``/``args`` are asked for).
EAGER_FIELDS = (b"meta", b"result", b"exc_info")


def restore_plain(job: Any, raw: dict[bytes, bytes]) -> None:
    """``job.restore(raw)`` without the fields RQ would deserialize: nothing from Redis runs."""
    job.restore({name: value for name, value in raw.items() if name not in EAGER_FIELDS})
