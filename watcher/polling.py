"""Polling: ask each source for what is new to each saved query, keep what it returned, turn
it into events, and move the query's position on, one (query, source) per transaction.

- a poll moves its position only once everything it listed is stored (or accounted for);
  a failing poll keeps its window (records a shared fetch already stored stay stored, and are
  simply known next run: watcher.poll_run);
- a record that cannot be had (listed but never returned, or unparseable) is retried, then
  quarantined with its reason, so it never holds its query back for ever;
- one failing query or source never stops the others.
"""

from __future__ import annotations

import functools
from datetime import datetime

from . import poll_apply, poll_run
from .clock import stamp, utc_now
from .config import Config, Query
from .db import Store
from .db.rows import KeptRecord
from .http import HttpClient, client_for, poll_deadline
from .models import SourceRecord
from .poll_outcome import (
    RETRY_QUARANTINED_DAYS,
    PollOutcome,
    PollProgress,
    PollReport,
    conclude,
    failed,
    retry_ids,
    tell_warnings,
    window_for,
)
from .settings import Settings
from .sources import REGISTRY, FetchContext, Source, TwoPhaseSource, build_sources, label

__all__ = ["RETRY_QUARANTINED_DAYS", "PollOutcome", "PollProgress", "PollReport", "poll",
           "poll_one", "reparse", "settle_destinations", "window_for"]


def poll(config: Config, store: Store, settings: Settings, *, now: datetime | None = None,
         query_ids: list[str] | None = None, sources: dict[str, Source] | None = None,
         http: HttpClient | None = None, run_id: int = 0,
         progress: PollProgress | None = None) -> PollReport:
    """Poll each enabled (query, source) over its window since the last successful poll (under
    the run lock, which the caller holds: see watcher.pipeline). A source whose searches list
    ids only (PubMed) is polled for every query at once (watcher.poll_run): one search per
    query, one fetch of the run's unknown ids; the others one (query, source) at a time.
    Outcomes are reported query by query, in the YAML's order."""
    now = now or utc_now()
    queries = [config.query(q) for q in query_ids] if query_ids else config.queries
    own_http = http is None and sources is None
    http = http or client_for(settings)
    try:
        sources = sources if sources is not None else build_sources(settings.sources, http)
        settle_destinations(config, store, stamp(now), run_id=run_id)
        outcomes: dict[tuple[str, str], PollOutcome] = {}
        for name, source in sources.items():
            if isinstance(source, TwoPhaseSource):
                polled = [query for query in queries if name in query.sources]
                for outcome in poll_run.poll_source(config, polled, source, store, settings,
                                                    now=now, run_id=run_id,
                                                    progress=progress):
                    outcomes[outcome.query_id, name] = outcome
        report = PollReport()
        for query in queries:
            for name in query.sources:
                source = sources.get(name)
                if source is None:  # configured, no fetcher yet: the receipt says so
                    continue
                outcome = outcomes.get((query.id, name))
                report.outcomes.append(outcome or poll_one(
                    config, query, source, store, settings, now=now, run_id=run_id,
                    progress=progress))
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


def poll_one(config: Config, query: Query, source: Source, store: Store, settings: Settings,
             *, now: datetime, run_id: int,
             progress: PollProgress | None = None) -> PollOutcome:
    """Fetch, then store in one transaction; any failure is recorded and the window kept."""
    stamp_now = stamp(now)
    window = window_for(query, source.name, store, settings, now)
    outcome = PollOutcome(query.id, source.name, window)
    retry = retry_ids(query, source.name, store, now)
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
            outcome.warnings = list(result.warnings)  # a poll failing part-way logs these
            kept = poll_apply.Kept(warnings=outcome.warnings)
            poll_apply.keep(config, query, source.name, result, store, stamp_now, kept)
            conclude(config, query, source.name, result, kept, store, outcome, run_id,
                     stamp_now)
    except Exception as exc:  # one failing poll must not stop the others
        return failed(store, outcome, exc, run_id=run_id, now=stamp_now)
    tell_warnings(outcome)
    return outcome


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
