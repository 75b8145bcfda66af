"""Polling: ask each source for what is new to each saved query, keep what it returned, turn
it into events, and move the query's position on, one (query, source) per transaction.

- a poll either stores everything it fetched and moves its position, or stores nothing;
- a record that cannot be had (listed but never returned, or unparseable) is retried, then
  quarantined with its reason, so it never holds its query back for ever;
- one failing query or source never stops the others.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import poll_apply, poll_plan, search_drift
from .clock import stamp, utc_now
from .config import Config, Query
from .db import Store
from .db.rows import KeptRecord
from .db.storage import storage_cause
from .errors import WatcherError, failure_line
from .http import HttpClient, client_for, poll_deadline
from .models import SourceRecord
from .settings import Settings
from .sources import (
    REGISTRY,
    FetchContext,
    FetchResult,
    Source,
    Window,
    build_sources,
    date_window,
    label,
    terms_hash,
)

log = logging.getLogger(__name__)

#: How long a quarantined record is asked for again, in case it reappears upstream.
RETRY_QUARANTINED_DAYS = 30


@dataclass
class PollOutcome:
    query_id: str
    source: str
    window: Window | None
    seen: int = 0
    new: int = 0  # studies first stored by this poll
    queued: int = 0  # outbox rows added
    quarantined: list[str] = field(default_factory=list)
    held: bool = False  # stored, but the position kept for records still awaited
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class PollReport:
    outcomes: list[PollOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[PollOutcome]:
        return [o for o in self.outcomes if o.error]

    def error_lines(self) -> list[str]:
        """One line per distinct failure, not one per query: a dead host is one problem."""
        grouped: dict[tuple[str, str], list[str]] = {}
        for outcome in self.failures:
            grouped.setdefault((outcome.source, outcome.error or ""), []).append(outcome.query_id)
        lines = []
        for (source, error), queries in grouped.items():
            which = queries[0] if len(queries) == 1 else f"{len(queries)} queries"
            name = label(source)
            prefix = "" if name in error else f"{name}: "
            lines.append(f"{prefix}{error} ({which} not polled; window kept for the next run)")
        return lines


#: progress(what, done, total): a poll's fetch progress, *what* naming it ("query / PubMed").
PollProgress = Callable[[str, int, int], None]


def poll(config: Config, store: Store, settings: Settings, *, now: datetime | None = None,
         query_ids: list[str] | None = None, sources: dict[str, Source] | None = None,
         http: HttpClient | None = None, run_id: int = 0,
         progress: PollProgress | None = None) -> PollReport:
    """Poll each enabled (query, source) over its window since the last successful poll (under
    the run lock, which the caller holds: see watcher.pipeline)."""
    now = now or utc_now()
    queries = [config.query(q) for q in query_ids] if query_ids else config.queries
    own_http = http is None and sources is None
    http = http or client_for(settings)
    try:
        sources = sources if sources is not None else build_sources(settings.sources, http)
        report = PollReport()
        settle_destinations(config, store, stamp(now), run_id=run_id)
        for query in queries:
            for name in query.sources:
                source = sources.get(name)
                if source is None:  # configured, no fetcher yet: the receipt says so
                    continue
                report.outcomes.append(
                    poll_one(config, query, source, store, settings, now=now,
                             run_id=run_id, progress=progress))
        return report
    finally:
        if own_http:
            http.close()


def settle_destinations(config: Config, store: Store, now: str, *, run_id: int = 0) -> None:
    """Before a poll: a renamed destination takes over what its old names hold (see
    Store.adopt_renames), a destination removed on purpose has what it still owes set aside
    (Store.retire), and each route in the YAML is noted from when it was first seen, so a
    destination added to a query is never handed the older studies the overlap finds again
    (see Store.queue_found); a route gone from the YAML is forgotten, so one put back later
    is added again, from then on."""
    with store.transaction():
        store.adopt_renames(config.renames())
        store.retire(config.retired, now)
        routes = {(destination, query.id) for query in config.queries
                  for destination in config.routes(query)}
        for destination, query_id in sorted(routes):
            store.route_since(destination, query_id, now, run_id=run_id)
        store.keep_routes(routes)


def window_for(query: Query, source: Source, store: Store, settings: Settings,
               now: datetime) -> Window:
    return date_window(store.position(query.id, source.name), terms=query.terms_for(source.name),
                       lookback_days=query.lookback_days, overlap_days=settings.overlap_days,
                       today=now.date())


def poll_one(config: Config, query: Query, source: Source, store: Store, settings: Settings,
             *, now: datetime, run_id: int,
             progress: PollProgress | None = None) -> PollOutcome:
    """Fetch, then store in one transaction; any failure is recorded and the window kept."""
    stamp_now = stamp(now)
    window = window_for(query, source, store, settings, now)
    outcome = PollOutcome(query.id, source.name, window)
    retry_since = stamp(now - timedelta(days=RETRY_QUARANTINED_DAYS))
    retry = [held.source_id for held in store.held_records(
        source=source.name, query_id=query.id, states=("watching", "quarantined"))
        if held.first_seen >= retry_since]
    position = store.position(query.id, source.name)
    try:
        on_progress = (functools.partial(progress, f"{query.id} / {label(source.name)}")
                       if progress else None)
        # Every request of the fetch within WATCHER_POLL_TIMEOUT: a source that pages or
        # answers for ever fails this poll, not every later one.
        with poll_deadline(settings.poll_timeout):
            result = source.fetch(query.search(source.name), window, FetchContext(
                store.known_ids, retry, position.cursor, on_progress, settings.overlap_days))
        with store.transaction():
            _keep_decide_apply(config, query, source, result, store, outcome, run_id,
                               stamp_now)
    except Exception as exc:  # one failing poll must not stop the others
        if storage_cause(exc) is not None:
            raise  # the database's disk, not this source: nothing can be recorded; stop the run
        outcome.error = failure_line(exc, label(source.name))
        outcome.seen = outcome.new = outcome.queued = 0
        outcome.quarantined = []
        with store.transaction():
            store.record_failure(query.id, source.name, error=outcome.error, now=stamp_now)
            _log_poll(store, outcome, run_id, stamp_now)
        log.info("%s / %s failed: %s", query.id, label(source.name), outcome.error,
                 exc_info=not isinstance(exc, WatcherError))
        return outcome
    for warning in outcome.warnings:
        log.warning("%s / %s: %s", query.id, label(source.name), warning)
    return outcome


def _keep_decide_apply(config: Config, query: Query, source: Source, result: FetchResult,
                       store: Store, outcome: PollOutcome, run_id: int, now: str) -> None:
    """Keep what was fetched, decide the rest (watcher.poll_plan), write it (poll_apply)."""
    name = source.name
    assert outcome.window is not None
    outcome.warnings = list(result.warnings)  # a poll failing part-way still logs these
    kept = poll_apply.Kept(warnings=outcome.warnings)
    poll_apply.keep(config, query, name, result, store, now, kept)
    snapshot = poll_apply.snapshot(query, name, result, store, kept)
    terms = terms_hash(query.terms_for(name))
    plan = poll_plan.decide(query.id, name, result, snapshot, window=outcome.window,
                            terms=terms)
    outcome.warnings += plan.awaited_warnings
    outcome.new, outcome.held, outcome.seen = kept.new, plan.held, plan.seen
    outcome.quarantined = kept.set_aside + plan.set_aside
    outcome.queued = kept.queued + poll_apply.apply(config, query, name, plan, kept, store,
                                                    run_id=run_id, now=now)
    _log_poll(store, outcome, run_id, now, result=result, terms=terms)
    outcome.queued += search_drift.check(config, query, name, store, now)


def _log_poll(store: Store, outcome: PollOutcome, run_id: int, now: str, *,
              result: FetchResult | None = None, terms: str | None = None) -> None:
    window = outcome.window
    store.log_poll(run_id=run_id, query_id=outcome.query_id, source=outcome.source,
                   window_start=window.start.isoformat() if window else None,
                   window_end=window.end.isoformat() if window else None,
                   seen=outcome.seen, new=outcome.new, warnings=outcome.warnings,
                   error=outcome.error, now=now, count=result.count if result else None,
                   translation=result.translation if result else None, terms_hash=terms)


# --- re-parsing kept records -----------------------------------------------------------------

def reparse(config: Config, store: Store, *, now: datetime | None = None,
            batch: int = 200) -> dict[str, int]:
    """Re-parse every kept raw record with today's parsers, no network: refreshes the merged
    studies, and a record quarantined as unparseable that now parses leaves the quarantine and
    is matched (and alerted) for the queries that found it. Returns counts. The caller holds
    the run lock (see watcher.pipeline)."""
    when = stamp(now or utc_now())
    counts = {"records": 0, "fixed": 0, "failed": 0}
    queries = {q.id: q for q in config.queries}
    with store.transaction():
        settle_destinations(config, store, when)
        for name, spec in REGISTRY.items():
            if spec.parse_records is None:
                continue
            after = 0
            while rows := store.kept_records(name, after_id=after, limit=batch):
                after = rows[-1].id
                results = spec.parse_records([row.payload for row in rows])
                for row, result in zip(rows, results, strict=True):
                    counts["records"] += 1
                    fixed = _reparsed(store, row, result, when)
                    if fixed is None:
                        counts["failed"] += 1
                    elif fixed:
                        counts["fixed"] += 1
                        for held in store.held_records(("quarantined",), source=name):
                            query = queries.get(held.query_id)
                            if held.source_id == row.source_id and query is not None:
                                poll_apply.match(config, query, name, fixed, store, run_id=0,
                                                 now=when)
                        store.release(name, [row.source_id])
    return counts


def _reparsed(store: Store, row: KeptRecord, result: SourceRecord, now: str) -> int | None:
    """Store one re-parse result: None if still unparseable, the study id if the record was
    unparseable before and now reads, 0 otherwise."""
    study, error = result.study, result.error
    if study is None:
        store.save_record(row.source, row.source_id, row.payload, None, now,
                          parse_error=error or "unreadable")
        return None
    saved = store.save_record(row.source, row.source_id, row.payload, study, now,
                              modified=row.modified)
    return saved.study_id if row.parse_error and saved.study_id else 0
