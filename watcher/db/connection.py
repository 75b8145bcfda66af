"""Opening the database: connection settings, migrations, transactions and the run lock."""

from __future__ import annotations

import fcntl
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from ..errors import WatcherError
from .schema import MIGRATIONS

log = logging.getLogger(__name__)


class StoreBase:
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
            waited = False
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waited:
                        waited = True
                        log.warning("another watcher process is using %s; waiting up to %.0f"
                                    " minutes for it to finish", self.path, wait / 60)
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

    def copy_to_memory(self) -> StoreBase:
        """An in-memory copy, so --dry-run runs the real code and throws the result away."""
        memory = type(self)(":memory:")
        self.conn.backup(memory.conn)
        return memory

    def close(self) -> None:
        self.conn.close()

    def count(self, table: str) -> int:
        return self.db[table].count
