"""The worker lease held for as long as a `with` block runs: one `watcher serve` per database.

Taken on entry (refused with one clear error while another live worker holds it; a dead
holder's lease is taken over), renewed every quarter of its life on a thread with its own
connection, given up on exit. The SQL is in ``db.lease``."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..clock import utc_now
from ..db import Store
from ..db.lease import holder_gone, new_holder
from ..errors import WatcherError

log = logging.getLogger("watcher.serve")


@dataclass(frozen=True)
class Holder:
    """Who holds (or wants) the lease: this process, by a name no other worker shares."""

    name: str
    host: str
    pid: int

    @classmethod
    def this_process(cls) -> Holder:
        host, pid = socket.gethostname(), os.getpid()
        return cls(new_holder(host, pid), host, pid)


@dataclass(frozen=True)
class HeldLease:
    """A lease this process holds: *lost* is set when another worker took it over."""

    path: str
    holder: Holder
    ttl: float
    lost: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)

    def renew_until_done(self, on_lost: Callable[[], None]) -> None:
        """Renew every quarter of the lease's life until released (its own connection)."""
        with Store(self.path) as store:
            while not self._done.wait(self.ttl / 4):
                try:
                    if not store.renew_lease(self.holder.name, now=utc_now(), ttl=self.ttl):
                        log.error("worker lease lost to another worker; stopping")
                        self.lost.set()
                        on_lost()
                        return
                except Exception as exc:  # a busy database: try again next time
                    log.warning("could not renew the worker lease: %s", exc)

    def release(self) -> None:
        """Stop renewing and give the lease up (a clean stop: the next worker starts at once)."""
        self._done.set()
        with Store(self.path) as store:
            store.release_lease(self.holder.name)


def take_lease(path: str, holder: Holder, ttl: float) -> None:
    """Take the lease for *holder*, or raise naming the live worker that holds it. A holder
    whose process is certainly gone from this host is taken over at once, others on expiry."""
    with Store(path) as store:
        previous = store.lease()
        gone = previous is not None and holder_gone(previous, holder.host)
        other = store.take_lease(holder.name, host=holder.host, pid=holder.pid, now=utc_now(),
                                 ttl=ttl, dead=previous.holder if gone and previous else None)
    if other:
        raise WatcherError(f"another worker is running: {other.holder} (since "
                           f"{other.since}, lease renewed {other.renewed}, expires "
                           f"{other.expires})")
    if previous and previous.holder != holder.name:
        log.warning("took over the worker lease from %s (%s)", previous.holder,
                    f"its process is gone from this host; the lease would have expired "
                    f"{previous.expires}" if gone else f"expired {previous.expires}")
    log.info("worker lease taken: %s", holder.name)


def _stop_this_process() -> None:
    """A lost lease stops the worker the way SIGTERM does: the current step finishes."""
    os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def held_lease(path: str, holder: Holder, ttl: float,
               on_lost: Callable[[], None] = _stop_this_process) -> Iterator[HeldLease]:
    """Hold the lease for the block: taken (or WatcherError), renewed on a thread, released on
    exit. Losing it (another worker took it over) sets ``lost`` and calls *on_lost*: by default
    SIGTERM to this process, which stops the worker like any stop."""
    take_lease(path, holder, ttl)
    lease = HeldLease(path, holder, ttl)
    keeper = threading.Thread(target=lease.renew_until_done, args=(on_lost,), name="lease",
                              daemon=True)
    keeper.start()
    try:
        yield lease
    finally:
        lease.release()
