"""Interim term check (replaced by the full checker)."""

from __future__ import annotations


def check_terms(text: str) -> str | None:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return "closes a parenthesis it did not open"
    return "unbalanced parentheses" if depth else None
