"""The one module that owns the SQLite state: schema migrations and every read and write.

Design rules the rest of the code relies on:
- a study is one row in ``studies``; every id it is known by (PMID, DOI, PMCID, NCT ...) is a
  row in ``study_ids``, so sources that report the same study converge on one row;
- ``outbox`` holds one row per (destination, study) ever queued: a study reaches a destination
  once, and the row is marked sent only after the destination accepted the digest;
- ``positions`` moves forward only in the same transaction that stores what was fetched.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from .errors import WatcherError
from .models import Study, normalize_id


def _migration_1(db: sqlite_utils.Database) -> None:
    db["studies"].create({
        "id": int, "kind": str, "source": str, "title": str, "abstract": str, "authors": str,
        "journal": str, "published": str, "year": int, "entry_date": str,
        "publication_types": str, "mesh_terms": str, "linked_ids": str, "url": str,
        "first_seen": str, "updated": str,
    }, pk="id", not_null={"title", "first_seen"})
    db["study_ids"].create({"scheme": str, "value": str, "study_id": int},
                           pk=("scheme", "value"), foreign_keys=[("study_id", "studies", "id")])
    db["study_ids"].create_index(["study_id"])
    db["matches"].create({
        "study_id": int, "query_id": str, "source": str, "first_matched": str, "run_id": int,
        "excluded": str, "labels": str,
    }, pk=("study_id", "query_id", "source"), foreign_keys=[("study_id", "studies", "id")])
    db["positions"].create({
        "query_id": str, "source": str, "terms_hash": str, "window_end": str,
        "last_success": str, "last_attempt": str, "last_error": str, "last_error_at": str,
    }, pk=("query_id", "source"))
    db["outbox"].create({
        "id": int, "destination": str, "study_id": int, "queued_at": str, "sent_at": str,
        "digest_id": int,
    }, pk="id", foreign_keys=[("study_id", "studies", "id")])
    db["outbox"].create_index(["destination", "study_id"], unique=True)
    db["outbox"].create_index(["destination", "sent_at"])
    db["runs"].create({
        "id": int, "command": str, "started": str, "finished": str, "status": str,
        "summary": str,
    }, pk="id")
    db["polls"].create({
        "id": int, "run_id": int, "query_id": str, "source": str, "window_start": str,
        "window_end": str, "seen": int, "new": int, "warnings": str, "error": str,
        "finished": str,
    }, pk="id")
    db["polls"].create_index(["finished"])
    db["digests"].create({
        "id": int, "destination": str, "sent_at": str, "items": int, "through_poll": int,
        "receipt": str,
    }, pk="id")
    db["digests"].create_index(["destination"])


#: Ordered schema migrations; the database's ``PRAGMA user_version`` is how many have run.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migration_1]


@dataclass
class Position:
    window_end: str | None
    terms_hash: str | None
    last_success: str | None
    last_error: str | None
    last_error_at: str | None


@dataclass
class PendingItem:
    outbox_id: int
    study: Study
    queued_at: str
    matches: list[dict[str, Any]]  # query_id, source, labels


class Store:
    """Open (creating and migrating as needed) the watcher database at *path*."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock_depth = 0
        self.db = sqlite_utils.Database(self.path)
        self.conn: sqlite3.Connection = self.db.conn
        # Autocommit outside explicit transactions: a stray implicit BEGIN would otherwise turn
        # every later atomic() block into a savepoint that is never committed.
        self.conn.isolation_level = None
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA busy_timeout = 10000")
        if self.path != ":memory:":
            self.db.enable_wal()
        self.migrate()

    # --- schema ----------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        for number, migration in enumerate(MIGRATIONS, start=1):
            if self.version < number:
                with self.transaction():
                    if self.version < number:  # re-checked under the write lock
                        migration(self.db)
                        self.conn.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing block: a crash or error inside leaves the database as before.

        BEGIN IMMEDIATE takes the write lock up front, so a second process waits (busy_timeout)
        instead of failing with "database is locked" between its first read and first write.
        Nested blocks (ours or sqlite-utils' own) become savepoints inside it.
        """
        if self.conn.in_transaction:
            with self.db.atomic():
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def exclusive(self, wait: float = 600.0) -> Iterator[None]:
        """Hold the run lock: one poll or delivery at a time per database, across processes
        (serve and a hand-run `run --once` must not send the same digest twice)."""
        if self.path == ":memory:" or self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        handle = open(self.path + ".lock", "a+")  # noqa: SIM115 (held for the block)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise WatcherError(f"another watcher process has held {self.path} for "
                                           f"{wait:.0f}s; try again when it has finished"
                                           ) from None
                    time.sleep(0.2)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()

    def copy_to_memory(self) -> Store:
        """An in-memory copy, so --dry-run runs the real code and throws the result away."""
        memory = Store(":memory:")
        self.conn.backup(memory.conn)
        return memory

    def close(self) -> None:
        self.conn.close()

    # --- studies ---------------------------------------------------------------------------

    def find_study(self, ids: dict[str, str]) -> int | None:
        """The stored study these ids belong to. A study sharing one id (a DOI, say) but
        holding a different id of the same scheme (another PMID) is a different study."""
        for scheme, value in ids.items():
            row = self.conn.execute(
                "SELECT study_id FROM study_ids WHERE scheme = ? AND value = ?",
                (scheme, normalize_id(scheme, value)),
            ).fetchone()
            if row and not self._conflicts(row[0], ids):
                return row[0]
        return None

    def _conflicts(self, study_id: int, ids: dict[str, str]) -> bool:
        stored: dict[str, set[str]] = {}
        for scheme, value in self.conn.execute(
                "SELECT scheme, value FROM study_ids WHERE study_id = ?", (study_id,)):
            stored.setdefault(scheme, set()).add(value)
        return any(scheme in stored and normalize_id(scheme, value) not in stored[scheme]
                   for scheme, value in ids.items() if scheme in ("pmid", "nct"))

    def known_ids(self, scheme: str, values: Iterable[str]) -> set[str]:
        values = [normalize_id(scheme, v) for v in values]
        known: set[str] = set()
        for start in range(0, len(values), 500):
            chunk = values[start:start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(row[0] for row in self.conn.execute(
                f"SELECT value FROM study_ids WHERE scheme = ? AND value IN ({marks})",
                (scheme, *chunk)))
        return known

    def save_study(self, study: Study, now: str) -> tuple[int, bool]:
        """Insert or update a study; returns (study id, whether it is new to the database)."""
        row = {
            "kind": study.kind, "source": study.source, "title": study.title,
            "abstract": study.abstract, "authors": json.dumps(study.authors),
            "journal": study.journal, "published": study.published, "year": study.year,
            "entry_date": study.entry_date,
            "publication_types": json.dumps(study.publication_types),
            "mesh_terms": json.dumps(study.mesh_terms),
            "linked_ids": json.dumps(study.linked_ids), "url": study.url, "updated": now,
        }
        study_id = self.find_study(study.ids)
        is_new = study_id is None
        if is_new:
            study_id = self.db["studies"].insert({**row, "first_seen": now}).last_pk
        else:
            self.db["studies"].update(study_id, row)
        for scheme, value in study.ids.items():
            self.conn.execute(
                "INSERT OR IGNORE INTO study_ids (scheme, value, study_id) VALUES (?, ?, ?)",
                (scheme, normalize_id(scheme, value), study_id))
        return study_id, is_new

    def get_study(self, study_id: int) -> Study:
        row = self.db["studies"].get(study_id)
        ids = dict(self.conn.execute(
            "SELECT scheme, value FROM study_ids WHERE study_id = ? ORDER BY rowid",
            (study_id,)).fetchall())
        return _study_from_row(row, ids)

    def add_match(self, study_id: int, query_id: str, source: str, *, run_id: int, now: str,
                  excluded: str | None, labels: list[str]) -> bool:
        """Record that a query found a study (or refresh the verdict of the query's current
        filters); False if it had already found it."""
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO matches (study_id, query_id, source, first_matched, run_id,"
            " excluded, labels) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (study_id, query_id, source, now, run_id, excluded, json.dumps(labels)))
        if cursor.rowcount == 1:
            return True
        self.conn.execute(
            "UPDATE matches SET excluded = ?, labels = ? WHERE study_id = ? AND query_id = ?"
            " AND source = ?", (excluded, json.dumps(labels), study_id, query_id, source))
        return False

    # --- positions -------------------------------------------------------------------------

    def position(self, query_id: str, source: str) -> Position:
        row = self.conn.execute(
            "SELECT window_end, terms_hash, last_success, last_error, last_error_at"
            " FROM positions WHERE query_id = ? AND source = ?", (query_id, source)).fetchone()
        return Position(*row) if row else Position(None, None, None, None, None)

    def advance(self, query_id: str, source: str, *, window_end: str, terms_hash: str,
                now: str) -> None:
        self.db["positions"].upsert({
            "query_id": query_id, "source": source, "window_end": window_end,
            "terms_hash": terms_hash, "last_success": now, "last_attempt": now,
            "last_error": None, "last_error_at": None,
        }, pk=("query_id", "source"))

    def record_failure(self, query_id: str, source: str, *, error: str, now: str) -> None:
        """Note the error for `watcher status`; the window is deliberately left where it was."""
        self.db["positions"].upsert({
            "query_id": query_id, "source": source, "last_attempt": now,
            "last_error": error, "last_error_at": now,
        }, pk=("query_id", "source"))

    def positions(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM positions ORDER BY query_id, source"))

    # --- runs and poll receipts -------------------------------------------------------------

    def start_run(self, command: str, now: str) -> int:
        with self.transaction():
            return self.db["runs"].insert(
                {"command": command, "started": now, "status": "running"}).last_pk

    def finish_run(self, run_id: int, *, status: str, now: str, summary: dict[str, Any]) -> None:
        with self.transaction():
            self.db["runs"].update(run_id, {"finished": now, "status": status,
                                            "summary": json.dumps(summary)})

    def log_poll(self, *, run_id: int, query_id: str, source: str, window_start: str | None,
                 window_end: str | None, seen: int, new: int, warnings: list[str],
                 error: str | None, now: str) -> None:
        self.db["polls"].insert({
            "run_id": run_id, "query_id": query_id, "source": source,
            "window_start": window_start, "window_end": window_end, "seen": seen, "new": new,
            "warnings": json.dumps(warnings), "error": error, "finished": now,
        })

    def polls_after(self, poll_id: int) -> list[dict[str, Any]]:
        """Poll receipts logged after *poll_id*: what a destination's next receipt covers."""
        return list(self.db.query("SELECT * FROM polls WHERE id > ? ORDER BY id", [poll_id]))

    def last_poll_id(self) -> int:
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM polls").fetchone()[0]

    # --- outbox ----------------------------------------------------------------------------

    def queue(self, destination: str, study_id: int, now: str) -> bool:
        """Queue a study for a destination unless it was ever queued there before."""
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO outbox (destination, study_id, queued_at) VALUES (?, ?, ?)",
            (destination, study_id, now))
        return cursor.rowcount == 1

    def pending(self, destination: str) -> list[PendingItem]:
        rows = self.conn.execute(
            "SELECT id, study_id, queued_at FROM outbox WHERE destination = ? AND sent_at IS NULL"
            " ORDER BY id", (destination,)).fetchall()
        items = []
        for outbox_id, study_id, queued_at in rows:
            matches = [
                {"query_id": q, "source": s, "labels": json.loads(labels or "[]")}
                for q, s, labels in self.conn.execute(
                    "SELECT query_id, source, labels FROM matches WHERE study_id = ? AND"
                    " excluded IS NULL ORDER BY first_matched, query_id", (study_id,))
            ]
            items.append(PendingItem(outbox_id, self.get_study(study_id), queued_at, matches))
        return items

    def pending_counts(self) -> dict[str, int]:
        return dict(self.conn.execute(
            "SELECT destination, COUNT(*) FROM outbox WHERE sent_at IS NULL GROUP BY destination"))

    def mark_sent(self, destination: str, outbox_ids: list[int], *, now: str,
                  through_poll: int, receipt: str) -> int:
        """Record an accepted digest and mark its items sent, atomically."""
        with self.transaction():
            digest_id = self.db["digests"].insert({
                "destination": destination, "sent_at": now, "items": len(outbox_ids),
                "through_poll": through_poll, "receipt": receipt}).last_pk
            for start in range(0, len(outbox_ids), 500):
                chunk = outbox_ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                self.conn.execute(
                    f"UPDATE outbox SET sent_at = ?, digest_id = ? WHERE sent_at IS NULL"
                    f" AND id IN ({marks})",
                    (now, digest_id, *chunk))
        return digest_id

    def last_digest(self, destination: str) -> tuple[str | None, int]:
        """(when, last poll id covered) of the destination's previous digest."""
        row = self.conn.execute(
            "SELECT sent_at, through_poll FROM digests WHERE destination = ?"
            " ORDER BY id DESC LIMIT 1", (destination,)).fetchone()
        return (row[0], row[1] or 0) if row else (None, 0)

    def count(self, table: str) -> int:
        return self.db[table].count


def _study_from_row(row: dict[str, Any], ids: dict[str, str]) -> Study:
    return Study(
        source=row["source"], kind=row["kind"], ids=ids, title=row["title"],
        abstract=row["abstract"] or "", authors=json.loads(row["authors"] or "[]"),
        journal=row["journal"] or "", published=row["published"] or "", year=row["year"],
        entry_date=row["entry_date"],
        publication_types=json.loads(row["publication_types"] or "[]"),
        mesh_terms=json.loads(row["mesh_terms"] or "[]"),
        linked_ids=json.loads(row["linked_ids"] or "{}"), url=row["url"] or "",
    )
