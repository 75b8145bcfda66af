"""How a value from a YAML file is described in an error: short values quoted, long ones only by
their size (they may be a pasted token or a whole document), containers by their type."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


def type_name(value: Any) -> str:
    """What kind of value this is, never the value itself: a file can hold anything, even a
    pasted secret or a whole document."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a text value"
    if isinstance(value, bool):
        return "a true/false value"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "nothing"
    if isinstance(value, (date, datetime)):
        return "a date"
    return f"a {type(value).__name__} value"


#: Values up to this many characters are quoted in messages; longer ones are only described.
SHOWN_CHARS = 40


def shown(value: Any) -> str:
    """The value quoted for a message when short; a long one only as <its size>, never its text
    (it may be a pasted token, or a whole document)."""
    if isinstance(value, (dict, list)):
        return type_name(value)
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"<{len(value)} characters of text>" if isinstance(value, str) else (
        f"<{type_name(value)}>")
