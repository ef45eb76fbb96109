"""A JSON serializer for jobs: nothing read back from Redis can run code.

``RQ = {"SERIALIZER": "django_taskq.serializers.JSONSerializer"}`` (or a queue's
``SERIALIZER``) stores job arguments, meta and results as JSON. Besides JSON's own types it
carries ``datetime``, ``date``, ``time``, ``timedelta``, ``Decimal``, ``UUID``, ``bytes``,
``set`` and ``frozenset`` and gives them back with their type. Tuples come back as lists
(JSON has one array type). Anything else (a model instance, a lazy string, an object) is
refused when the job is enqueued, with a ``TypeError`` that names its type: pass its primary
key or its text instead.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from base64 import b64decode, b64encode
from collections.abc import Callable
from decimal import Decimal
from typing import Any

# A tagged value is a JSON object with exactly these two keys.
TAG = "__taskq__"
VALUE = "v"

_ENCODERS: list[tuple[type, str, Callable[[Any], Any]]] = [
    (dt.datetime, "datetime", lambda value: value.isoformat()),  # before date: a datetime is a date
    (dt.date, "date", lambda value: value.isoformat()),
    (dt.time, "time", lambda value: value.isoformat()),
    (dt.timedelta, "timedelta", lambda value: [value.days, value.seconds, value.microseconds]),
    (Decimal, "decimal", str),
    (uuid.UUID, "uuid", str),
    (bytes, "bytes", lambda value: b64encode(value).decode("ascii")),
    (frozenset, "frozenset", list),
    (set, "set", list),
]
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "timedelta": lambda parts: dt.timedelta(days=parts[0], seconds=parts[1], microseconds=parts[2]),
    "decimal": Decimal,
    "uuid": uuid.UUID,
    "bytes": b64decode,
    "frozenset": frozenset,
    "set": set,
}


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        for kind, tag, encode in _ENCODERS:
            if isinstance(o, kind):
                return {TAG: tag, VALUE: encode(o)}
        raise TypeError(
            f"{type(o).__module__}.{type(o).__qualname__} cannot be stored by the JSON serializer "
            "(see django_taskq.serializers): pass a primary key, a string or a number instead."
        )


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 2 and TAG in obj and VALUE in obj:
        decoder = _DECODERS.get(obj[TAG])
        if decoder is not None:
            return decoder(obj[VALUE])
    return obj


class JSONSerializer:
    """RQ's serializer protocol (``dumps``/``loads``), JSON with Django's everyday types."""

    @staticmethod
    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, cls=_Encoder, separators=(",", ":"), allow_nan=False).encode()

    @staticmethod
    def loads(data: bytes | str) -> Any:
        return json.loads(data, object_hook=_decode)
