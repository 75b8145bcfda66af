"""The checks `watcher health` and the digest notices share: sources failing too long, a
destination's last delivery error, items pending for a destination gone from the YAML; and the
query_health notice told to a query's destinations and ops (`tell`). What `watcher health`
prints from them is built in watcher.reporting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .clock import stamp
from .config import Config, Destination, Query
from .db import Store
from .events import QueryHealth
from .sources import label, polled

#: The optional destination for operators: told of every query_health event (and, by
#: `watcher serve`, of an invalid edit of the queries).
OPS = "ops"


@dataclass(frozen=True)
class FailingSource:
    query_id: str
    source: str
    last_success: str | None  # None: it never succeeded, and has failed since *since*
    last_error_at: str
    last_error: str
    since: str = ""

    @property
    def message(self) -> str:
        what = (f"has failed since {self.last_success}" if self.last_success
                else f"has never succeeded (failing since {self.since})")
        return (f"{label(self.source)} for query {self.query_id} {what} "
                f"(last error {self.last_error_at}: {self.last_error})")


def failing_sources(config: Config, store: Store, *, now: datetime,
                    hours: float) -> list[FailingSource]:
    """The configured (query, source) pairs failing for longer than *hours*: since their last
    success, or, for one that never succeeded (a wrong address or key from the start), since
    its first failed poll."""
    limit = now - timedelta(hours=hours)
    watched = {(q.id, s) for q in config.queries for s in q.sources if polled(s)}
    found = []
    for row in store.positions():
        if (row.query_id, row.source) not in watched or not row.last_error_at:
            continue
        success = row.last_success  # (a success clears last_error_at: the error is later)
        since = success or store.first_failed_poll(row.query_id, row.source)
        if not since or datetime.fromisoformat(since) >= limit:
            continue
        found.append(FailingSource(row.query_id, row.source, success, row.last_error_at,
                                   row.last_error or "unknown error", since))
    return found


def last_error(store: Store, destination: Destination) -> str | None:
    """The destination's last delivery error still holding items back, under its name or
    one it was renamed from whose history no run has moved yet (status and health only read)."""
    return next(filter(None, (store.last_delivery_error(name)
                              for name in (destination.name, *destination.renamed_from))), None)


def orphaned(config: Config, store: Store) -> dict[str, str]:
    """Destinations gone from the YAML (and claimed by no ``renamed_from``) that still have
    items pending or being sent: name -> what to tell the operator. They are never dropped."""
    known = set(config.all_destinations()) | set(config.renames()) | set(config.retired)
    return {name: f"destination {name!r} is no longer in the YAML: {count} item(s) pending; "
                  f"add renamed_from: {name} to the destination that replaces it, or "
                  f"retired: [{name}] to set them aside"
            for name, count in sorted(store.pending_counts().items()) if name not in known}


def tell(config: Config, store: Store, event: QueryHealth, query: Query, now: str) -> bool:
    """Record a query-health event once (by its key) and queue it to the query's destinations
    and to the ``ops`` destination, if one is configured. Returns whether it was new."""
    event_id, created = store.add_event(event, now)
    if created:
        routes = dict.fromkeys(config.routes(query))
        if OPS in config.destinations:
            routes[OPS] = None
        for destination in routes:
            store.queue(destination, event_id, now)
    return created


def report_failing_sources(config: Config, store: Store, *, now: datetime,
                           hours: float) -> int:
    """Queue a query_health notice for each source failing too long to its query's
    destinations (and ops); one per query, source and day, so a digest is not flooded. Returns
    how many notices were new."""
    new = 0
    for failing in failing_sources(config, store, now=now, hours=hours):
        query = config.query(failing.query_id)
        event = QueryHealth.failing(failing.query_id, failing.source, f"{now:%Y-%m-%d}",
                                    failing.message)
        with store.transaction():
            new += tell(config, store, event, query, stamp(now))
    return new
