"""What the look-ups after a poll (watcher.lookups) keep: when each id of a study was last
asked of each upstream (so a large store is re-checked a batch at a time, never all at once),
and when each upstream last answered or failed (``watcher status`` shows it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..events import NewStudy

#: Outbox states of a study's new-study item that mean nobody was or will be told of it.
_NOT_TOLD = ("withheld", "retired")


@dataclass(frozen=True)
class LookupStatus:
    upstream: str
    last_success: str | None
    last_attempt: str | None
    last_error: str | None
    last_error_at: str | None
    checked: int  # ids asked about by the last successful look-up


@dataclass(frozen=True)
class DueId:
    study_id: int
    scheme: str
    value: str

    @property
    def item(self) -> str:
        return f"{self.scheme}:{self.value}"


class LookupsMixin:
    conn: Any

    def lookups_due(self, upstream: str, schemes: Iterable[str], *, checked_before: str,
                    limit: int, first_seen_since: str | None = None,
                    unpublished: bool = False) -> list[DueId]:
        """Ids (of *schemes*) of studies someone was told of, or is owed, that *upstream* was
        not asked about since *checked_before*, newest studies first, at most *limit*.
        *unpublished*: only studies holding no journal DOI or PMID yet (a preprint not yet
        known to be published)."""
        schemes = list(schemes)
        marks = ",".join("?" * len(schemes))
        sql = (
            "SELECT i.study_id, i.scheme, i.value FROM study_ids i"
            " JOIN studies s ON s.id = i.study_id"
            f" WHERE i.scheme IN ({marks})"
            " AND EXISTS (SELECT 1 FROM events e JOIN outbox o ON o.event_id = e.id"
            f"  WHERE e.study_id = i.study_id AND e.kind = ? AND o.state NOT IN"
            f"  ({','.join('?' * len(_NOT_TOLD))}))"
            " AND NOT EXISTS (SELECT 1 FROM lookup_items l WHERE l.upstream = ?"
            "  AND l.item = i.scheme || ':' || i.value AND l.checked >= ?)")
        args: list[Any] = [*schemes, NewStudy.KIND, *_NOT_TOLD, upstream, checked_before]
        if unpublished:
            sql += (" AND NOT EXISTS (SELECT 1 FROM study_ids p WHERE p.study_id = i.study_id"
                    " AND p.scheme IN ('doi', 'pmid'))")
        if first_seen_since is not None:
            sql += " AND s.first_seen >= ?"
            args.append(first_seen_since)
        sql += " ORDER BY s.first_seen DESC, i.study_id DESC, i.scheme, i.value LIMIT ?"
        args.append(limit)
        return [DueId(*row) for row in self.conn.execute(sql, args)]

    def lookups_checked(self, upstream: str, due: Iterable[DueId], now: str) -> None:
        """*upstream* answered about these ids: not asked again until they are due."""
        self.conn.executemany(
            "INSERT INTO lookup_items (upstream, item, study_id, checked) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (upstream, item) DO UPDATE SET checked = excluded.checked,"
            " study_id = excluded.study_id",
            [(upstream, d.item, d.study_id, now) for d in due])

    def lookup_succeeded(self, upstream: str, *, checked: int, now: str) -> None:
        self.conn.execute(
            "INSERT INTO lookup_status (upstream, last_success, last_attempt, checked)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (upstream) DO UPDATE SET last_success ="
            " excluded.last_success, last_attempt = excluded.last_attempt, checked ="
            " excluded.checked", (upstream, now, now, checked))

    def lookup_failed(self, upstream: str, *, error: str, now: str) -> None:
        self.conn.execute(
            "INSERT INTO lookup_status (upstream, last_attempt, last_error, last_error_at,"
            " checked) VALUES (?, ?, ?, ?, 0) ON CONFLICT (upstream) DO UPDATE SET"
            " last_attempt = excluded.last_attempt, last_error = excluded.last_error,"
            " last_error_at = excluded.last_error_at", (upstream, now, error, now))

    def lookup_statuses(self) -> list[LookupStatus]:
        """Every upstream's last success and last failure (none before migration 10: a
        read-only look at an older database)."""
        try:
            rows = self.conn.execute(
                "SELECT upstream, last_success, last_attempt, last_error, last_error_at,"
                " checked FROM lookup_status ORDER BY upstream").fetchall()
        except sqlite3.OperationalError:
            return []
        return [LookupStatus(*row) for row in rows]

    def has_event(self, key: str) -> bool:
        return self.conn.execute("SELECT 1 FROM events WHERE key = ?",
                                 (key,)).fetchone() is not None
