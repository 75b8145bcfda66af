"""The run lock: one poll or delivery at a time per database file, across processes (serve and
a hand-run `run --once` must not send the same digest twice). An flock on a file beside the
database; only watcher.pipeline's entry points take it, once per run, around all they do."""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import WatcherError

#: The name its lines have always carried (serve's JSON logs show it).
log = logging.getLogger("watcher.db.connection")


class RunLockMixin:
    path: str
    _lock_path: str  # "" for a database nothing is written to (see StoreBase)
    _lock_depth: int

    @contextmanager
    def exclusive(self, wait: float = 600.0) -> Iterator[None]:
        """Hold the run lock: one poll or delivery at a time per database, across processes
        (serve and a hand-run `run --once` must not send the same digest twice).

        The lock file sits beside the database's real path, so every way of naming the same
        file (a symlink, "..") shares one lock. A run that has to wait says so, and for how long.
        """
        if not self._lock_path or self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        handle = open(self._lock_path, "a+")  # noqa: SIM115 (held for the block)
        try:
            if not _try_lock(handle):
                log.warning("waiting for another watcher process using %s (up to %gs)",
                            self.path, wait)
                started = time.monotonic()
                while not _try_lock(handle):
                    if time.monotonic() - started >= wait:
                        raise WatcherError(f"another watcher process has held {self.path} for "
                                           f"{wait:g}s; try again when it has finished")
                    # Often: a `serve` polling back to back frees the lock for a few
                    # tens of milliseconds between jobs, and flock is not queued.
                    time.sleep(0.01)
                log.warning("waited %.1fs for another watcher process",
                            time.monotonic() - started)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()


def _try_lock(handle: object) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # type: ignore[arg-type]
    except BlockingIOError:
        return False
    return True
