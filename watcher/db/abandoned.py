"""What a step abandoned at a stop left open: the runs and digests this worker began that never
closed. `watcher serve` closes them (runs interrupted, digests failed) before it exits, so the
database tells the truth; see ``serve.jobs.close_abandoned``."""

from __future__ import annotations

from typing import Any


class AbandonedMixin:
    conn: Any

    def runs_left_running(self, since: str) -> list[int]:
        """Ids of runs still 'running' that began at or after *since* (by this worker: it held
        the run lock since then, so no other process started any)."""
        return [run_id for run_id, in self.conn.execute(
            "SELECT id FROM runs WHERE status = 'running' AND started >= ? ORDER BY id",
            (since,))]

    def digests_left_sending(self, since: str) -> list[tuple[int, str]]:
        """(id, destination) of digests still 'sending' that began at or after *since*."""
        return [(digest_id, destination) for digest_id, destination in self.conn.execute(
            "SELECT id, destination FROM digests WHERE state = 'sending' AND started >= ?"
            " ORDER BY id", (since,))]

    def wait_for_locks_at_most(self, milliseconds: int) -> None:
        """Shorten how long this connection waits on another's write lock (a stop must finish
        inside the platform's wait)."""
        self.conn.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
