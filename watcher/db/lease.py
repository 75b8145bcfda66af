"""The worker lease: one `watcher serve` per database. The holder renews it while it runs; a
holder that died (kill -9, a lost machine) stops renewing, and the lease can be taken over once
it has expired. Times are UTC ISO strings, like the rest of the database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

WORKER = "worker"


class LeaseMixin:
    conn: Any
    db: Any
    transaction: Any

    def lease(self, name: str = WORKER) -> dict[str, Any] | None:
        """The lease row (holder, host, pid, since, renewed, expires), or None."""
        rows = list(self.db.query("SELECT * FROM leases WHERE name = ?", [name]))
        return rows[0] if rows else None

    def take_lease(self, holder: str, *, host: str, pid: int, now: datetime, ttl: float,
                   name: str = WORKER) -> dict[str, Any] | None:
        """Take the lease for *holder* unless another holder's lease is still live; returns
        None when taken, else that other holder's row. An expired lease is taken over."""
        with self.transaction():  # BEGIN IMMEDIATE: two workers starting at once see each other
            current = self.lease(name)
            if (current and current["holder"] != holder
                    and datetime.fromisoformat(current["expires"]) > now):
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
