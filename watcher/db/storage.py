"""Local storage failures: the database's own disk, not a source or destination, failing.

A full disk (SQLITE_FULL, ENOSPC), an I/O error, a file system gone read-only, a database
file that cannot be opened any more or one damaged on disk (SQLITE_CORRUPT) is one problem of
this installation. It is named as such (the database, its path, and the free space on its file
system), never recorded or told as a failure of the source being polled, and stops the run:
nothing can be recorded until there is room again (or the file is repaired), and what a poll
fetched without storing it is fetched again by the next run.

Such a failure cannot be written into the database, so it is remembered beside it, in a marker
file (an empty file can usually still be created on a full disk; its content is a bonus), or,
when that cannot be made, in the temporary folder. `watcher health` reports a marker, and also
measures the free space on the database's file system itself, so a disk that is full now is
reported even when nothing could be written at all. The next run that completes removes it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import StorageError

#: SQLite primary result codes that mean the storage under the database failed.
_SQLITE_CODES = {
    13: "database or disk is full",  # SQLITE_FULL
    10: "disk I/O error",  # SQLITE_IOERR (and its extended codes)
    14: "unable to open database file",  # SQLITE_CANTOPEN
    8: "attempt to write a readonly database",  # SQLITE_READONLY
    11: "database disk image is malformed",  # SQLITE_CORRUPT: the file was damaged under us
}
#: errno values that mean a local write failed for want of space or a working disk.
_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS}
#: The marker's suffix beside the database file.
MARKER_SUFFIX = ".storage-failed"


def storage_cause(exc: BaseException, *, files: bool = True) -> str | None:
    """Why *exc* (or an exception it was raised from) is a local storage failure, or None.
    With *files* False only SQLite's own errors count (a sender's OSError writing elsewhere,
    a terminal digest to a full log disk, is that destination's problem)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StorageError):
            return current.cause
        if isinstance(current, sqlite3.DatabaseError):
            code = getattr(current, "sqlite_errorcode", None)
            if code is not None and code & 0xFF in _SQLITE_CODES:
                return str(current) or _SQLITE_CODES[code & 0xFF]
            text = str(current).lower()
            if any(known.lower() in text for known in _SQLITE_CODES.values()):
                return str(current)
        if files and isinstance(current, OSError) and current.errno in _ERRNOS:
            return current.strerror or os.strerror(current.errno)
        current = current.__cause__ or current.__context__
    return None


def mount_point(path: str | Path) -> Path:
    """The mount point of the file system holding *path* (or where it would be created)."""
    folder = _existing(path)
    while not os.path.ismount(folder) and folder.parent != folder:
        folder = folder.parent
    return folder


def _existing(path: str | Path) -> Path:
    """*path* itself or its nearest existing folder (a database not created yet)."""
    current = Path(os.path.abspath(path))
    while not current.exists() and current.parent != current:
        current = current.parent
    return current if current.is_dir() else current.parent


def free_bytes(path: str | Path) -> int | None:
    """Bytes an unprivileged writer can still use on *path*'s file system (None: unknown)."""
    try:
        return shutil.disk_usage(_existing(path)).free
    except OSError:
        return None


def size(count: int) -> str:
    """'0 B', '512 KB', '3.4 GB': a byte count as df -h would round it (1024s)."""
    value, unit = float(count), "B"
    for bigger in ("KB", "MB", "GB", "TB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.0f} {unit}" if unit == "B" or value >= 10 else f"{value:.1f} {unit}"


def describe(path: str, cause: str) -> StorageError:
    """The one line: the database, its path, why it cannot be written, and the space left."""
    free = free_bytes(path)
    room = (f"{size(free)} free on {mount_point(path)}" if free is not None
            else f"free space on {mount_point(path)} unknown")
    return StorageError(f"storage: cannot write the database {path} ({cause}; {room})",
                        cause=cause)


def as_storage_error(exc: BaseException, path: str) -> StorageError | None:
    """*exc* as a StorageError naming the database at *path*, if it is a storage failure."""
    if isinstance(exc, StorageError):
        return exc
    cause = storage_cause(exc)
    return describe(path, cause) if cause is not None else None


# --- remembering it where the full disk is not needed ----------------------------------------

def _markers(path: str) -> list[Path]:
    """Where a storage failure of the database at *path* is remembered: beside it, else in the
    temporary folder (another file system, often), named after the database's real path."""
    real = os.path.realpath(path)
    digest = hashlib.sha256(real.encode()).hexdigest()[:16]
    return [Path(real + MARKER_SUFFIX), Path(tempfile.gettempdir()) / f"watcher-{digest}"
            f"{MARKER_SUFFIX}"]


def remember(path: str, error: StorageError, now: str) -> None:
    """Leave a marker for `watcher health`. Creating an empty file usually works on a full
    disk; the line in it is written if there is room. Never raises."""
    if path == ":memory:":
        return
    line = f"{now} {error}\n".encode()
    for marker in _markers(path):
        try:
            # never through a link another user left in a shared temporary folder
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        except OSError:
            continue  # (a read-only or inode-less file system): try the next place
        try:
            with contextlib.suppress(OSError):
                os.write(fd, line)
        finally:
            os.close(fd)
        return


def forget(path: str) -> None:
    """A run completed: the database could be written again; remove any marker."""
    if path == ":memory:":
        return
    for marker in _markers(path):
        with contextlib.suppress(OSError):  # none, or another user's: never fails the run
            marker.unlink()


def problems(path: str, *, min_free_mb: float) -> list[str]:
    """`watcher health`'s storage lines: the last run's storage failure, if one is remembered,
    and too little free space (or no free inode) on the database's file system now."""
    lines = []
    for marker in _markers(path):
        try:
            text = marker.read_text(encoding="utf-8", errors="replace").strip()
        except FileNotFoundError:
            continue
        except OSError:
            text = ""
        when, _, line = text.partition(" ")
        lines.append(f"{line} (run at {when}; the next run that completes clears this)"
                     if line.startswith("storage: ") else
                     f"storage: the last run could not write the database {path} (there was "
                     "no room left to say why)")
        break
    folder = _existing(path)
    with contextlib.suppress(OSError):
        stats = os.statvfs(folder)
        free = stats.f_bavail * stats.f_frsize
        if min_free_mb and free < min_free_mb * 1024 * 1024:
            lines.append(f"storage: {size(free)} free on {mount_point(path)}, where the "
                         f"database {path} is (less than WATCHER_HEALTH_MIN_FREE_MB="
                         f"{min_free_mb:g})")
        elif stats.f_files and not stats.f_favail:
            lines.append(f"storage: no free inode on {mount_point(path)}, where the database "
                         f"{path} is: new files (its -wal, its lock) cannot be created")
    return lines


@contextlib.contextmanager
def guarded(path: str, now: str) -> Iterator[None]:
    """Turn a storage failure raised inside into a StorageError naming the database at *path*,
    remembered for `watcher health`; anything else passes through unchanged."""
    try:
        yield
    except Exception as exc:
        error = as_storage_error(exc, path)
        if error is None:
            raise
        remember(path, error, now)
        if error is exc:
            raise
        raise error from exc
