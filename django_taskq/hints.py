"""Hint texts for settings mistakes, shared by the system checks and the code that refuses bad settings."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """``Did you mean 'X'?`` for the closest known key, else the list of known keys."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"Did you mean {close[0]!r}?" if close else f"Known keys: {', '.join(sorted(known))}."


def type_names(types: tuple[type, ...]) -> str:
    """``int or float or None``: the accepted types of a setting, for messages."""
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)
