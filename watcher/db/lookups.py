"""What the look-ups after a poll (watcher.lookups) keep: when each id of a study was last
asked of each upstream (so a large store is re-checked a batch at a time, never all at once),
and when each upstream last answered or failed (``watcher status`` shows it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..events import NewStudy

#: Outbox states of a study's new-study item that mean nobody was or will be told of it.
_NOT_TOLD = ("withheld", "retired")
#: How many schedule entries one call may read per id it may return: entries set aside on the
#: way (studies nobody was told of) cost a read each, so the reading is bounded too.
_EXAMINED = 4
#: Stored ids read at a time when they are put on a schedule.
_ENROLL_SLICE = 50_000


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
                    limit: int, now: str, first_seen_since: str | None = None,
                    unpublished: bool = False,
                    accept: Callable[[str], bool] | None = None) -> list[DueId]:
        """Ids (of *schemes*) of studies someone was told of, or is owed, that *upstream* was
        not asked about since *checked_before*: never-asked ids first (newest studies first),
        then the longest unasked, at most *limit*. *unpublished*: only studies holding no
        journal DOI or PMID yet (a preprint not yet known to be published); *first_seen_since*:
        only studies first stored since then; *accept*: only ids it accepts.

        The cost does not grow with the history kept: ids enter the upstream's schedule
        (``lookup_items``) once, as they are stored (the rows added since the last call), and a
        call reads at most a few times *limit* of its earliest entries. An entry that can never
        be due again (published, too old, not accepted, gone) leaves the schedule; one whose
        study nobody is told of (yet) waits one more period."""
        schemes = tuple(schemes)
        if limit <= 0:  # look-ups off: nothing read, nothing put on the schedule until on
            return []
        self._enroll(upstream, schemes, first_seen_since, unpublished, accept)
        # Never-asked entries hold '' (before any time); "" asks for those only.
        bound = checked_before or " "
        candidates = self.conn.execute(
            "SELECT item, study_id FROM lookup_items WHERE upstream = ? AND checked < ?"
            " ORDER BY checked, study_id DESC LIMIT ?",
            (upstream, bound, limit * _EXAMINED + 100)).fetchall()
        due: list[DueId] = []
        dropped: list[str] = []
        deferred: list[str] = []
        for item, _ in candidates:
            if len(due) >= limit:
                break
            scheme, _, value = item.partition(":")
            row = self.conn.execute("SELECT study_id FROM study_ids WHERE scheme = ? AND"
                                    " value = ?", (scheme, value)).fetchone()
            study_id = row[0] if row else None
            if study_id is None or not self._still_asked(study_id, first_seen_since,
                                                         unpublished):
                dropped.append(item)
            elif not self._told(study_id):
                deferred.append(item)
            else:
                due.append(DueId(study_id, scheme, value))
        self.conn.executemany("DELETE FROM lookup_items WHERE upstream = ? AND item = ?",
                              [(upstream, item) for item in dropped])
        self.conn.executemany("UPDATE lookup_items SET checked = ? WHERE upstream = ? AND"
                              " item = ?", [(now, upstream, item) for item in deferred])
        return due

    def _enroll(self, upstream: str, schemes: tuple[str, ...], first_seen_since: str | None,
                unpublished: bool, accept: Callable[[str], bool] | None) -> None:
        """Put the ids of *schemes* stored since the last call on *upstream*'s schedule, never
        asked (``checked`` empty). ``study_ids`` only grows at its end (a merge re-points rows
        in place), so its rowid marks how far the schedule has read."""
        row = self.conn.execute("SELECT through FROM lookup_enrolled WHERE upstream = ?",
                                (upstream,)).fetchone()
        after = (row[0] if row else None) or 0
        top = self.conn.execute("SELECT MAX(rowid) FROM study_ids").fetchone()[0] or 0
        if top <= after:
            return
        # One statement per slice: a first look-up over a million stored ids takes seconds,
        # not a query per id.
        where, args = _asked(first_seen_since, unpublished)
        where.append(f"i.scheme IN ({','.join('?' * len(schemes))})")
        args += schemes
        if accept is not None:
            self.conn.create_function("watcher_lookup_accepts", 1,
                                      lambda value: bool(accept(value)), deterministic=True)
            where.append("watcher_lookup_accepts(i.value)")
        sql = ("INSERT OR IGNORE INTO lookup_items (upstream, item, study_id, checked)"
               " SELECT ?, i.scheme || ':' || i.value, i.study_id, '' FROM study_ids i"
               " JOIN studies s ON s.id = i.study_id WHERE i.rowid > ? AND i.rowid <= ? AND "
               + " AND ".join(where))
        while after < top:  # in slices: a first look-up over a large store holds one slice
            upto = after + _ENROLL_SLICE
            self.conn.execute(sql, (upstream, after, upto, *args))
            after = upto
        self.conn.execute("INSERT INTO lookup_enrolled (upstream, through) VALUES (?, ?)"
                          " ON CONFLICT (upstream) DO UPDATE SET through = excluded.through",
                          (upstream, top))

    def _still_asked(self, study_id: int, first_seen_since: str | None,
                     unpublished: bool) -> bool:
        """Whether the study can still be due: new enough, and (when asked) unpublished."""
        where, args = _asked(first_seen_since, unpublished)
        return self.conn.execute(
            "SELECT 1 FROM studies s WHERE " + " AND ".join(["s.id = ?", *where]),
            (study_id, *args)).fetchone() is not None

    def _told(self, study_id: int) -> bool:
        """Someone was told of the study, or is owed it."""
        return self.conn.execute(
            "SELECT 1 FROM events e JOIN outbox o ON o.event_id = e.id WHERE e.study_id = ?"
            f" AND e.kind = ? AND o.state NOT IN ({','.join('?' * len(_NOT_TOLD))}) LIMIT 1",
            (study_id, NewStudy.KIND, *_NOT_TOLD)).fetchone() is not None

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


def _asked(first_seen_since: str | None, unpublished: bool) -> tuple[list[str], list[Any]]:
    """The conditions on a study (``s``) for a look-up to still ask about it: first stored
    since *first_seen_since*, and, when *unpublished*, holding no journal DOI or PMID yet."""
    where: list[str] = []
    args: list[Any] = []
    if first_seen_since is not None:
        where.append("s.first_seen >= ?")
        args.append(first_seen_since)
    if unpublished:
        where.append("NOT EXISTS (SELECT 1 FROM study_ids p WHERE p.study_id = s.id"
                     " AND p.scheme IN ('doi', 'pmid'))")
    return where, args
