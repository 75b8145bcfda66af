"""A notice about a query rather than a study: a search that drifted (watcher.search_drift), a
record set aside, a source failing too long, an invalid edit of the queries. Told to the
query's destinations and ``ops`` (see watcher.health.tell), shown among a digest's notices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from .base import Event

#: The stored facts beside the message, in the order they are read back.
_FACTS = ("source", "source_id", "check", "before", "after")


@dataclass(frozen=True, kw_only=True)
class QueryHealth(Event):
    """One notice; each constructor below owns the key of one kind of notice, so the same
    problem seen again (another poll, another run) is told once."""

    KIND: ClassVar[str] = "query_health"

    message: str = ""
    source: str | None = None
    source_id: str | None = None
    check: str | None = None  # 'silent' or 'translation' (search drift)
    before: str | None = None  # a drifted search's reading, before and after
    after: str | None = None

    @classmethod
    def fell_silent(cls, query_id: str, source: str, first_silent_poll: int,
                    message: str) -> Self:
        """Keyed by the first silent poll: told once per silence."""
        return cls(key=f"{cls.KIND}:silent:{query_id}:{source}:{first_silent_poll}",
                   query_id=query_id, message=message, source=source, check="silent")

    @classmethod
    def read_differently(cls, query_id: str, source: str, poll_id: int, digest: str,
                         message: str, *, before: str, after: str) -> Self:
        """Keyed by the poll and a digest of both readings."""
        return cls(key=f"{cls.KIND}:translation:{query_id}:{source}:{poll_id}:{digest}",
                   query_id=query_id, message=message, source=source, check="translation",
                   before=before, after=after)

    @classmethod
    def failing(cls, query_id: str, source: str, day: str, message: str) -> Self:
        """A source failing too long: one notice per query, source and day."""
        return cls(key=f"{cls.KIND}:failing:{query_id}:{source}:{day}", query_id=query_id,
                   message=message, source=source)

    @classmethod
    def quarantined(cls, query_id: str, source: str, source_id: str, message: str) -> Self:
        """A record set aside for a query: told once per record and query."""
        return cls(key=f"quarantine:{source}:{source_id}:{query_id}", query_id=query_id,
                   message=message, source=source, source_id=source_id)

    @classmethod
    def config_error(cls, digest: str, message: str) -> Self:
        """An invalid edit of the queries (told to ``ops`` by `watcher serve`), once per edit."""
        return cls(key=f"config_error:{digest}", message=message)

    @property
    def details(self) -> dict[str, Any]:
        facts = {name: getattr(self, name) for name in _FACTS if getattr(self, name) is not None}
        return {"message": self.message, **facts}

    @classmethod
    def from_stored(cls, *, key: str, study_id: int | None, query_id: str | None,
                    details: dict[str, Any], created: str = "", id: int = 0) -> Self:
        facts = {name: str(details[name]) for name in _FACTS if details.get(name) is not None}
        return cls(key=key, study_id=study_id, query_id=query_id, created=created, id=id,
                   message=str(details.get("message") or ""), **facts)

    def notice_text(self) -> str:
        return self.message or self.title()
