"""What every source provides: fetch a query's matches in an entry-date window."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from ..config import Query
from ..models import Study

#: known(scheme, ids) -> the subset already stored, so a source fetches only what is new.
KnownIds = Callable[[str, Iterable[str]], set[str]]


@dataclass(frozen=True)
class Window:
    """Inclusive range of entry dates asked of the source."""

    start: date
    end: date

    def __str__(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


@dataclass
class FetchResult:
    """What one query matched in one window: every matching id, and full records for new ones."""

    scheme: str  # id scheme of ``matched`` (pmid, nct, ...)
    matched: list[str]
    studies: list[Study]
    warnings: list[str] = field(default_factory=list)
    # Set when some matched records could not be fetched: what was fetched is stored, but the
    # window is not advanced, so the next run asks again for exactly the missing ones.
    incomplete: str | None = None


class Source(Protocol):
    name: str  # key in the YAML 'sources:' mapping
    label: str  # shown to users

    def terms(self, query: Query) -> str:
        """The exact search this query sends; a change restarts the query's look-back."""

    def fetch(self, query: Query, window: Window, known: KnownIds) -> FetchResult: ...


def terms_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
