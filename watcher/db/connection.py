"""Opening the database: checks before any write, connection settings, migrations and
transactions (the run lock is in lock.py)."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import sqlite_utils

from ..errors import DatabaseError
from .schema import MIGRATIONS, foreign_reason
from .storage import as_storage_error, remember

log = logging.getLogger(__name__)

_HEADER = b"SQLite format 3\x00"


_header_fds: dict[tuple[int, int], int] = {}
_header_lock = threading.Lock()


def _read_header(path: Path, size: int) -> bytes:
    """The first *size* bytes of the file at *path*, read through a descriptor that is never
    closed. Closing any descriptor of a database file drops every POSIX lock this process's
    SQLite connections hold on it (SQLite's documented corruption hazard): another process
    then takes itself for the database's last user and deletes the -wal file still in use here
    (`serve` keeps a connection open while each job opens another; the next `run --once` lost
    the worker's writes). One descriptor per file, kept for the life of the process (a process
    that has gone through many databases, a test run, closes the longest kept beyond 32)."""
    with _header_lock:
        info = path.stat()
        key = (info.st_dev, info.st_ino)
        fd = _header_fds.get(key)
        if fd is None or os.fstat(fd).st_nlink == 0:  # (a deleted file's number reused)
            fd = _header_fds[key] = os.open(path, os.O_RDONLY)
            while len(_header_fds) > 32:
                os.close(_header_fds.pop(next(iter(_header_fds))))
        return os.pread(fd, size, 0)


def read_only(path: str | Path) -> sqlite3.Connection:
    """A connection that can neither change the database at *path* nor leave files beside it.

    SQLite's plain read-only mode creates (and leaves) -wal and -shm files next to a WAL
    database that has none, so such a database is opened ``immutable``: with no -wal file, the
    main file holds everything. A non-empty -wal file (a running or crashed writer) has to be
    read through SQLite's locks, so it is opened ``mode=ro``, using the files already there;
    without its -shm (a restored copy) SQLite would create one, so the pair is then read from a
    private copy (see _detached).
    """
    path = Path(path).absolute()
    header = _read_header(path, 20)
    wal = Path(f"{path}-wal")
    in_wal_mode = header[:16] == _HEADER and header[18:20] == b"\x02\x02"
    immutable = in_wal_mode and not _size(wal)
    if in_wal_mode and not immutable and not Path(f"{path}-shm").exists():
        try:
            return _detached(path, wal)
        except FileNotFoundError:  # the last writer closed between our looks: SQLite removes
            return read_only(path)  # the -shm, then the -wal, once the main file has it all
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro" + ("&immutable=1" if immutable else "")
    return sqlite3.connect(uri, uri=True, timeout=10)


def _size(path: Path) -> int:
    """The size of *path*, 0 when it is missing: a -wal can vanish between two looks at it (its
    last writer closing)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _detached(path: Path, wal: Path) -> sqlite3.Connection:
    """An in-memory copy of *path* and its *wal*, read in a private folder: a -wal without its
    -shm cannot be read in place without SQLite creating a -shm beside it (owned by whoever ran
    `status`, which could lock the worker's own user out)."""
    with tempfile.TemporaryDirectory(prefix="watcher-read-") as folder:
        copy = Path(folder) / "copy.db"
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, f"{copy}-wal")
        memory = sqlite3.connect(":memory:")
        with closing(sqlite3.connect(copy)) as conn:
            conn.backup(memory)
    memory.execute("PRAGMA query_only = ON")  # read only, as the in-place connection is
    return memory


def check_contents(path: Path, setting: str = "WATCHER_DB") -> bool:
    """Refuse, reading only, what is not a watcher database this watcher can use (a folder,
    another program's file, a newer watcher's database). False if it is empty (a new one)."""
    if path.is_dir():
        raise _refusal(setting, path, "is a folder, not a database file",
                       f"point {setting} at a file, such as {path / 'watcher.db'}")
    if not path.is_file():
        raise _refusal(setting, path, "is not a regular file")
    if not os.access(path, os.R_OK):
        raise _refusal(setting, path, "cannot be read (permission denied)")
    wal = Path(f"{path}-wal")
    if path.stat().st_size == 0 and not _size(wal):
        return False
    if _read_header(path, len(_HEADER)) not in (_HEADER, b""):
        raise _refusal(setting, path, "is not an SQLite database")
    try:
        with closing(read_only(path)) as conn:
            foreign = foreign_reason(conn)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise _refusal(setting, path, f"is not a usable SQLite database ({exc})") from None
    if foreign:
        raise _refusal(setting, path, f"is not a watcher database ({foreign})")
    if version > len(MIGRATIONS):
        raise _refusal(setting, path, f"was written by a newer watcher (schema version "
                       f"{version}; this watcher knows up to {len(MIGRATIONS)})",
                       f"upgrade watcher, or point {setting} at another file")
    return True


def _check_before_writing(path: Path, setting: str) -> None:
    """Everything check_contents checks, and that the file (or its folder) can be written."""
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _refusal(setting, path, f"cannot be created: its folder {path.parent} cannot "
                           f"be made ({exc.strerror})") from None
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise _refusal(setting, path,
                           f"cannot be created: its folder {path.parent} is read-only")
        return
    check_contents(path, setting)
    if not os.access(path, os.W_OK):
        raise _refusal(setting, path, "is read-only",
                       f"make it writable, or point {setting} at another file")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise _refusal(setting, path, f"is in a read-only folder ({path.parent}), where SQLite "
                       "cannot keep its -wal and -shm files")


def _refusal(setting: str, path: str | Path, problem: str, advice: str = "") -> DatabaseError:
    advice = advice or f"point {setting} at another file"
    return DatabaseError(f"{setting}={path} {problem}; {advice}")


class StoreBase:
    """Open (creating and migrating as needed) the watcher database at *path*.

    The file is inspected read-only first: a folder, another program's file, a newer
    watcher's database or a read-only file is refused with a DatabaseError naming *setting*
    (the variable the path came from), and is left exactly as it was.
    """

    #: PRAGMAs run on every connection opened for writing; none in production. Tests set
    #: ("max_page_count = N",) to fill the database as a full disk would (SQLITE_FULL).
    extra_pragmas: tuple[str, ...] = ()

    def __init__(self, path: str | Path, *, setting: str = "WATCHER_DB"):
        self.path = str(path)
        self._lock_depth = 0
        if self.path == ":memory:":
            self._connect()
            self.migrate()
            return
        _check_before_writing(Path(self.path), setting)
        self._connect()
        try:
            self.db.enable_wal()
            self._probe_write()
            self.migrate()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            if "readonly" in str(exc):
                raise _refusal(setting, self.path, f"cannot be written ({exc})",
                               "check the permissions of it, its -wal and -shm files and its "
                               f"folder, or point {setting} at another file") from None
            if type(exc) not in (sqlite3.DatabaseError, sqlite3.OperationalError):
                raise  # an integrity or programming error is a bug, not a bad file
            storage = as_storage_error(exc, self.path)
            if storage is not None:  # a full disk is no reason to point WATCHER_DB elsewhere
                remember(self.path, storage, datetime.now(UTC).isoformat(timespec="seconds"))
                raise storage from None
            raise _refusal(setting, self.path, f"cannot be used ({exc})") from None

    @classmethod
    def memory_copy(cls, path: str | Path, *, setting: str = "WATCHER_DB") -> Self:
        """An in-memory copy of the database at *path*, migrated in memory, for --dry-run: the
        real file is only read (see read_only), never migrated; no file, a fresh database."""
        store = cls.__new__(cls)
        store.path = ":memory:"
        store._lock_depth = 0
        store._connect()
        source = Path(path)
        if source.exists() and check_contents(source, setting):
            try:
                with closing(read_only(source)) as conn:
                    conn.backup(store.conn)
            except sqlite3.DatabaseError as exc:
                raise _refusal(setting, path, f"cannot be read ({exc})") from None
        store.migrate()
        return store

    @classmethod
    def reading(cls, path: str | Path, *, setting: str = "WATCHER_DB") -> Self:
        """The database for a command that only reads it (`status`, `health`): never created,
        migrated, written or waited on behind a writer. A current database is read in place
        through a read-only connection (`health` may run every minute on a large file: no
        copy); a missing one or an older schema (during a deploy) is read from an in-memory
        copy migrated there (see memory_copy)."""
        source = Path(path)
        if not (source.exists() and check_contents(source, setting)):
            return cls.memory_copy(path, setting=setting)
        try:
            conn = read_only(source)
            current = conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        except sqlite3.DatabaseError as exc:
            raise _refusal(setting, path, f"cannot be read ({exc})") from None
        if not current:
            conn.close()
            return cls.memory_copy(path, setting=setting)
        store = cls.__new__(cls)
        store.path = str(source)
        store._lock_depth = 0
        store.db = sqlite_utils.Database(conn)
        store.conn = conn
        store.conn.isolation_level = None
        store._lock_path = ""  # nothing is written, so no write lock is ever taken
        return store

    def _connect(self) -> None:
        self.db = sqlite_utils.Database(self.path)
        self.conn: sqlite3.Connection = self.db.conn
        # Autocommit outside explicit transactions: a stray implicit BEGIN would otherwise turn
        # every later atomic() block into a savepoint that is never committed.
        self.conn.isolation_level = None
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA busy_timeout = 10000")
        self.conn.execute("PRAGMA cache_size = -32768")
        for pragma in self.extra_pragmas:
            self.conn.execute(f"PRAGMA {pragma}")
        # One lock per database file, however it is reached (a symlink, "..").
        self._lock_path = "" if self.path == ":memory:" else os.path.realpath(self.path) + ".lock"

    def _probe_write(self) -> None:
        """Fail now, not mid-run, if SQLite can only read (a read-only -shm file, say): a write
        that is rolled back changes nothing."""
        version = self.version
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute(f"PRAGMA user_version = {version}")
        finally:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")

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
    def undone(self) -> Iterator[None]:
        """A block whose writes are all rolled back at its end: inside it they are seen, and
        nothing of them stays (a preview shows what would be, and changes nothing)."""
        if self.conn.in_transaction:
            raise RuntimeError("undone() cannot roll back inside another transaction")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self, table: str) -> int:
        return self.db[table].count
