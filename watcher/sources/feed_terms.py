"""Which entries of a feed a query is about: plain words and phrases, matched case-insensitively
against an entry's title and summary.

A journal's table of contents lists every article it publishes, so a feed is filtered here, not
upstream. Terms are written ``ketamine OR esketamine OR "R-ketamine" OR arketamin*``: parts
joined by upper-case ``OR``; each part is a word or a phrase (quoted or not: the words of a part
must appear in that order, any punctuation or spacing between them); a ``*`` ending a part
matches any ending of its last word. Matching ignores case and punctuation, so
``treatment resistant depression`` finds "Treatment-Resistant Depression". There is no ``AND``,
``NOT`` or grouping: a query's own terms and its shared intervention's ``feed`` terms must each
match (see :class:`FeedMatcher`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OR = re.compile(r"(?:^|\s+)OR(?:\s+|$)")
_NOT_WORD = re.compile(r"[\W_]+")
_UNSUPPORTED = re.compile(r"(?<![\w-])(AND|NOT)(?![\w-])|[()\[\]]")


def _plain(text: str) -> str:
    """Lower-cased words separated by single spaces: what terms and texts are compared as."""
    return " ".join(_NOT_WORD.sub(" ", text.casefold()).split())


def parts(terms: str) -> list[str]:
    """The alternatives of *terms*, as written (quotes removed)."""
    return [part.strip().strip('"').strip() for part in _OR.split(terms.strip())]


def problem(terms: str) -> str | None:
    """What makes *terms* unusable as feed terms, in one line, or None."""
    found = _UNSUPPORTED.search(terms)
    if found:
        return (f"{found.group(0)!r} is not supported in feed terms: write words or phrases "
                'joined by OR (ketamine OR esketamine OR "R-ketamine")')
    for part in parts(terms):
        if not _plain(part.rstrip("*")):
            return "an empty part (OR with nothing on one side, or only punctuation)"
        if "*" in part.rstrip("*") or part.endswith("**"):
            return f"{part!r}: a '*' may only end a part (arketamin* matches any ending)"
        if '"' in part:
            return f"{part!r}: unbalanced double quote"
    return None


def _pattern(terms: str) -> re.Pattern[str]:
    alternatives = []
    for part in parts(terms):
        prefix = part.endswith("*")
        words = _plain(part.rstrip("*")).split()
        alternatives.append(" ".join(map(re.escape, words)) + (r"\w*" if prefix else ""))
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


@dataclass(frozen=True)
class FeedMatcher:
    """An entry matches when it mentions one alternative of every group of terms given (the
    shared intervention's and the query's own), in its title or its summary."""

    groups: tuple[str, ...]

    @classmethod
    def of(cls, *terms: str | None) -> FeedMatcher:
        return cls(tuple(t for t in terms if t and t.strip()))

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", tuple(_pattern(group) for group in self.groups))

    def matches(self, *texts: str) -> bool:
        text = _plain(" ".join(texts))
        return all(pattern.search(text) for pattern in self._patterns)  # type: ignore[attr-defined]
