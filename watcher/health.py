"""Is the installation healthy? What `watcher health` prints (and monitoring reads from its exit
status), and the digest notice for a source that has been failing too long.

A problem is: a (query, source) whose last error is later than its last success, with that last
success (or, if it never succeeded, its first failed poll) older than
WATCHER_HEALTH_FAILING_HOURS; a destination that lacks what it needs in this
environment, or whose last delivery attempt failed (items are pending with an error: a digest
that reached it since would have carried them; or items an interrupted digest left 'sending'
could not be checked against the channel, which holds back every later digest); a worker lease
that has expired (only when a lease exists: a worker that stopped cleanly gives its lease up),
or that was renewed by a clock ahead of this one; the database's storage: a run that could not
write it (remembered beside it, see watcher.db.storage), or less than
WATCHER_HEALTH_MIN_FREE_MB free on its file system; items pending for a destination
gone from the YAML (see orphaned).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .config import Config, Destination, Query
from .db import Store, storage
from .events import QueryHealth
from .runtime import stamp
from .settings import Settings
from .sources import label, polled

#: The optional destination for operators: told of every query_health event (and, by
#: `watcher serve`, of an invalid edit of the queries).
OPS = "ops"

#: How far ahead of this machine's clock a lease may have been renewed before `health` says
#: the clocks disagree (such a lease would outlive a dead holder by that much).
CLOCK_SKEW = timedelta(minutes=1)


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
    for row in store.position_rows():
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


def problems(config: Config, store: Store, *, now: datetime, hours: float,
             settings: Settings | None = None) -> list[str]:
    """One line per problem; empty when healthy. With *settings*, a destination whose kind
    lacks what it needs in this environment (a token, an SMTP host) cannot send either."""
    from .destinations import KINDS

    lines = [f"source failing: {f.message}" for f in failing_sources(config, store, now=now,
                                                                       hours=hours)]
    for name, destination in config.all_destinations().items():
        missing = KINDS[destination.kind].missing(settings) if settings else None
        if missing:
            lines.append(f"destination {name} cannot send: {missing}")
            continue
        error = last_error(store, destination)
        if error:
            lines.append(f"destination {name} cannot send: {error}")
    lines.extend(orphaned(config, store).values())
    if settings is not None:  # remembered beside the database: it could not be written
        lines += storage.problems(settings.db, min_free_mb=settings.health_min_free_mb)
    lease = store.lease()
    if lease and datetime.fromisoformat(lease["expires"]) <= now:
        lines.append(f"worker lease is stale: held by {lease['holder']} (pid {lease['pid']} on "
                     f"{lease['host']}), last renewed {lease['renewed']}, expired "
                     f"{lease['expires']}; is the worker running?")
    elif lease and datetime.fromisoformat(lease["renewed"]) > now + CLOCK_SKEW:
        lines.append(f"worker lease renewed in the future: held by {lease['holder']}, last "
                     f"renewed {lease['renewed']}, now {stamp(now)}; the clocks of "
                     f"{lease['host']} and this machine disagree, and a stopped worker's lease "
                     f"would block the next one until {lease['expires']}")
    return lines


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
