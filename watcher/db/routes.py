"""Routes: when each destination was first seen on each query's routes, so a destination added
to a query is told what the query finds from then on, never the older studies a poll's overlap
finds again."""

from __future__ import annotations

from typing import Any


class RoutesMixin:
    conn: Any
    queue: Any  # from OutboxMixin

    def queue_found(self, destination: str, event_id: int, *, study_id: int, query_id: str,
                    run_id: int, now: str) -> bool:
        """Queue the new-study event of a study *query_id* found, unless the query had found it
        before *destination* was on its routes: a destination added to a query (or renamed
        without ``renamed_from``) is told what the query finds from then on, never the slice
        of older studies each poll's overlap finds again. A new query's look-back is found
        after its routes were first seen, so it is delivered. "Before" is told, per match, by
        the runs (numbered in the order they held the run lock; 0 when unknown) or, only when
        either run is unknown, by the times (to the second): a run stamps its time before it
        waits for the lock, so a later run's match can carry an earlier time than the route."""
        # The poll noted every route before it began (settle_destinations): read it, and write
        # it only for a route that was not noted.
        since, first_run = self._route(destination, query_id) or self.route_since(
            destination, query_id, now, run_id=run_id)
        before = self.conn.execute(
            "SELECT 1 FROM matches WHERE study_id = ? AND query_id = ? AND CASE WHEN run_id > 0"
            " AND ? > 0 THEN run_id < ? ELSE first_matched < ? END LIMIT 1",
            (study_id, query_id, first_run, first_run, since)).fetchone()
        if before:
            return False
        return self.queue(destination, event_id, now)

    def route_since(self, destination: str, query_id: str, now: str, *,
                    run_id: int = 0) -> tuple[str, int]:
        """When, and in which run, *destination* was first seen on *query_id*'s routes (*now*
        and *run_id*, the first time)."""
        self.conn.execute("INSERT OR IGNORE INTO routes (destination, query_id, first_seen,"
                          " first_run) VALUES (?, ?, ?, ?)", (destination, query_id, now, run_id))
        return self._route(destination, query_id)

    def _route(self, destination: str, query_id: str) -> tuple[str, int] | None:
        return self.conn.execute(
            "SELECT first_seen, first_run FROM routes WHERE destination = ? AND query_id = ?",
            (destination, query_id)).fetchone()

    def keep_routes(self, routes: set[tuple[str, str]]) -> int:
        """Forget every (destination, query) route not in *routes* (the YAML's): a destination
        taken off a query and put back later is a new route from then on, never handed what
        the query found meanwhile. Returns how many were forgotten."""
        gone = [row for row in self.conn.execute("SELECT destination, query_id FROM routes")
                if (row[0], row[1]) not in routes]
        self.conn.executemany("DELETE FROM routes WHERE destination = ? AND query_id = ?", gone)
        return len(gone)
