"""The worker lease: one `watcher serve` per database. The holder renews it while it runs; a
holder that died (kill -9, a lost machine) stops renewing, and the lease can be taken over once
it has expired, or at once when the holder was a process of this very machine that is gone
(see holder_gone). Times are UTC ISO strings, like the rest of the database."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from .report_rows import LeaseRow

WORKER = "worker"


@functools.cache
def process_space() -> str | None:
    """Which process ids this process can see: this boot of this kernel and this PID namespace
    (a container has its own), as 8 hex digits; None where that cannot be known (no /proc).
    Two holders with the same value see the same processes: one can tell by pid whether the
    other is alive. Containers of one host share the boot, not the namespace (and the host's
    own namespace has the same inode number on every machine: hence the boot id)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
        namespace = os.stat("/proc/self/ns/pid")
    except OSError:
        return None
    key = f"{boot}:{namespace.st_dev}:{namespace.st_ino}"
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def new_holder(host: str, pid: int) -> str:
    """A name for a new holder: 'serve pid 12 on host (3fa2c1, ns 9b0e44d1)'. pid and host
    alone are not unique: containers often run `serve` as pid 1 under the same host name, and
    each must see the other's lease as another worker's; the process space (boot and PID
    namespace) tells a later worker whether the pid is one it can see."""
    space = process_space()
    return f"serve pid {pid} on {host} ({secrets.token_hex(3)}" + (
        f", ns {space})" if space else ")")


def holder_space(holder: str) -> str | None:
    """The process space a holder string names ('... (3fa2c1, ns 9b0e44d1)'), if any."""
    match = re.search(r", ns ([0-9a-f]{8})\)$", holder)
    return match.group(1) if match else None


def holder_gone(lease: LeaseRow, host: str) -> bool:
    """Whether *lease*'s holder is certainly dead: a process of this host name and of this
    very process space (same boot, same PID namespace) whose pid no longer exists. Anything
    less certain is not gone: another container with the same host name (its pids are not
    ours), a holder written without its space (an older watcher), a pid now used by another
    process, another user's live process. Those leases are taken over when they expire. A
    container restarted after kill -9 gets a new PID namespace, so it waits for expiry too."""
    space = process_space()
    if lease.host != host or space is None or holder_space(lease.holder) != space:
        return False
    try:
        os.kill(int(lease.pid), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError, TypeError):  # alive but not ours to signal, or no pid
        return False
    return False


class LeaseMixin:
    conn: Any
    db: Any
    transaction: Any

    def lease(self, name: str = WORKER) -> LeaseRow | None:
        """Who holds the lease, or None."""
        row = self.conn.execute("SELECT holder, host, pid, since, renewed, expires FROM leases"
                                " WHERE name = ?", (name,)).fetchone()
        return LeaseRow(*row) if row else None

    def take_lease(self, holder: str, *, host: str, pid: int, now: datetime, ttl: float,
                   name: str = WORKER, dead: str | None = None) -> LeaseRow | None:
        """Take the lease for *holder* unless another holder's lease is still live; returns
        None when taken, else that other holder's row. An expired lease is taken over, and so
        is one held by *dead* (a holder the caller found gone, see holder_gone)."""
        with self.transaction():  # BEGIN IMMEDIATE: two workers starting at once see each other
            current = self.lease(name)
            if (current and current.holder not in (holder, dead)
                    and datetime.fromisoformat(current.expires) > now):
                return current
            self.conn.execute(
                "INSERT OR REPLACE INTO leases (name, holder, host, pid, since, renewed, expires)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, holder, host, pid, now.isoformat(), now.isoformat(),
                 (now + timedelta(seconds=ttl)).isoformat()))
        return None

    def renew_lease(self, holder: str, *, now: datetime, ttl: float,
                    name: str = WORKER) -> bool:
        """Extend *holder*'s lease; False if it no longer holds it (another worker took it)."""
        with self.transaction():
            cursor = self.conn.execute(
                "UPDATE leases SET renewed = ?, expires = ? WHERE name = ? AND holder = ?",
                (now.isoformat(), (now + timedelta(seconds=ttl)).isoformat(), name, holder))
        return cursor.rowcount == 1

    def release_lease(self, holder: str, name: str = WORKER) -> None:
        """Give the lease up (a clean stop): the next worker starts at once."""
        with self.transaction():
            self.conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))
