"""How RQ encodes plain values in Redis: bytes for text, its own UTC timestamp format."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rq.utils import utcparse

# rq.utils.utcformat's format; RQ writes every timestamp of a job or worker hash this way.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def as_text(value: Any) -> str:
    """A value read from Redis as text: '' for None, undecodable bytes replaced."""
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def format_timestamp(moment: datetime | None = None) -> str:
    """``moment`` (default: now) written as RQ writes timestamps."""
    return (moment or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from a timestamp RQ wrote; None when empty or unreadable."""
    text = as_text(value)
    if not text:
        return None
    try:  # fromisoformat is ~10x faster than rq's strptime-based utcparse
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        try:
            parsed = utcparse(text)
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
