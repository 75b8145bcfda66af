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

from . import health, query_health
from .config import Config, Query
from .corrections import corrects_a_kept_study, queue_corrections
from .db import Store, content_hash
from .db.storage import storage_cause
from .errors import WatcherError
from .filters import judge
from .http import HttpClient, poll_deadline
from .models import Event, Study
from .runtime import make_http, one_line, stamp, utc_now
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

#: Runs in which a listed record may fail to arrive before it is quarantined.
QUARANTINE_AFTER = 3
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
    http = http or make_http(settings)
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
    retry = [row["source_id"] for row in store.quarantined(
        source=source.name, query_id=query.id, states=("watching", "quarantined"))
        if row["first_seen"] >= retry_since]
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
            _store_result(config, query, source, result, store, outcome, run_id, stamp_now)
    except Exception as exc:  # one failing poll must not stop the others
        if storage_cause(exc) is not None:
            raise  # the database's disk, not this source: nothing can be recorded; stop the run
        outcome.error = one_line(exc, label(source.name))
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


def _store_result(config: Config, query: Query, source: Source, result: FetchResult,
                  store: Store, outcome: PollOutcome, run_id: int, now: str) -> None:
    name = source.name
    outcome.warnings = list(result.warnings)
    record_study: dict[str, int] = {}
    for record in result.records:
        if record.study is None:  # kept raw, set aside with its reason
            store.save_record(name, record.source_id, record.raw, None, now,
                              modified=record.modified, parse_error=record.error)
            _quarantine(config, query, source, store, outcome, record.source_id,
                        kind="unparseable", reason=f"could not be parsed: {record.error}",
                        now=now)
            continue
        saved = store.save_record(name, record.source_id, record.raw, record.study, now,
                                  modified=record.modified)
        outcome.new += saved.new_study
        if saved.study_id is not None:
            record_study[record.source_id] = saved.study_id
            outcome.queued += queue_corrections(saved.study_id, saved.previous, record.study,
                                                store, now, config)
            if saved.changed and saved.previous is not None:
                outcome.queued += _changed(config, query, name, saved.study_id, saved.previous,
                                           record.study, record.raw, store, now)
        for conflict in saved.conflicts:
            outcome.warnings.append(f"{record.source_id}: id {conflict} already belongs to "
                                    "another study (kept there; see `watcher status`)")
    # Records this query set aside that are now stored (fetched here, by another query, or
    # under another id) are this query's matches after all: each query that held one is told
    # of it, then lets it go. Another query's hold is left for that query's own poll.
    recovered = []
    for row in store.quarantined(source=name, query_id=query.id,
                                 states=("watching", "quarantined")):
        study_id = (record_study.get(row["source_id"])
                    or store.find_study({result.scheme: row["source_id"]}))
        if study_id is not None:
            outcome.queued += _match(config, query, name, study_id, store, run_id=run_id,
                                     now=now)
            recovered.append(row["source_id"])
    store.release(name, recovered, query_id=query.id)

    awaited: dict[int, list[str]] = {}  # try number -> ids still awaited
    for source_id in result.missing:
        if store.find_study({result.scheme: source_id}) is not None:
            continue  # another record returned carries this id: nothing is missing
        already = store.quarantined(source=name, query_id=query.id)
        if any(row["source_id"] == source_id for row in already):
            continue  # asked again and still absent: stays quarantined, holds nothing
        reason = f"listed by the search but not returned by {label(name)}"
        attempts = store.note_missing(name, source_id, query.id, reason=reason, now=now)
        if attempts >= QUARANTINE_AFTER:
            _quarantine(config, query, source, store, outcome, source_id, kind="missing",
                        reason=f"{reason} in {attempts} runs", now=now)
        else:
            awaited.setdefault(attempts, []).append(source_id)
    for attempts, ids in sorted(awaited.items()):
        outcome.held = True
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        outcome.warnings.append(
            f"{len(ids)} record(s) listed by the search but not returned by {label(name)} "
            f"({shown}), try {attempts} of {QUARANTINE_AFTER}: asked again next run, then set "
            "aside")

    if outcome.quarantined:
        ids = outcome.quarantined
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        # The receipt lists them itself; the log line is for whoever watches the run.
        log.warning("%s / %s: %d record(s) quarantined (%s); see `watcher status`", query.id,
                    label(name), len(ids), shown)

    outcome.seen = len(result.matched)
    for value in result.matched:
        study_id = record_study.get(value) or store.find_study({result.scheme: value})
        if study_id is not None:  # else missing or unparseable: handled above
            outcome.queued += _match(config, query, name, study_id, store, run_id=run_id,
                                     now=now)

    position = store.position(query.id, name)
    if outcome.held:  # what arrived is kept; the window stays so the rest is asked again
        store.advance(query.id, name, window_end=position.window_end,
                      terms_hash=position.terms_hash or "", now=now, cursor=position.cursor)
    else:
        assert outcome.window is not None
        store.advance(query.id, name, window_end=outcome.window.end.isoformat(),
                      terms_hash=terms_hash(query.terms_for(name)), now=now,
                      cursor=result.cursor)
    _log_poll(store, outcome, run_id, now, result=result,
              terms=terms_hash(query.terms_for(name)))
    outcome.queued += query_health.check(config, query, name, store, now)


def _match(config: Config, query: Query, source: str, study_id: int, store: Store, *,
           run_id: int, now: str) -> int:
    """Record that *query* found the study; unless its filters exclude it, the study's
    new-study event is queued to the query's destinations. Returns the outbox rows added."""
    study = store.get_study(study_id)
    verdict = judge(study, query.filters)
    excluded = verdict.excluded or (
        "correction notice (told as a correction of the study it names)"
        if corrects_a_kept_study(study, store) else None)
    store.add_match(study_id, query.id, source, run_id=run_id, now=now,
                    excluded=excluded, labels=verdict.labels)
    if excluded:
        return 0
    event_id, _ = store.add_event(Event(f"new:{study_id}", "new", study_id), now)
    return sum(store.queue_found(destination, event_id, study_id=study_id, query_id=query.id,
                                 run_id=run_id, now=now) for destination in config.routes(query))


def _changed(config: Config, query: Query, source: str, study_id: int, previous: Study,
             current: Study, raw: str, store: Store, now: str) -> int:
    """A kept record came back different: if a tracked field changed, one change event (keyed
    by the new content, so another query seeing the same change adds nothing) goes to the
    destinations that were told about the study. Untracked edits only update the record."""
    spec = REGISTRY.get(source)
    if spec is None or spec.changes is None:
        return 0
    options = query.sources.get(source)
    tracked = list(getattr(options, "track", None) or [])
    what = spec.changes(previous, current, tracked)
    if not what:
        return 0
    event_id, new = store.add_event(Event(
        f"change:{source}:{content_hash(raw)[:20]}", "trial_changed", study_id, query.id,
        {"changes": [phrase for _, phrase in what], "fields": [name for name, _ in what],
         "label": "changed"}), now)
    if not new:
        return 0
    return sum(store.queue(destination, event_id, now)
               for destination in store.destinations_told(study_id))


def _quarantine(config: Config, query: Query, source: Source, store: Store,
                outcome: PollOutcome, source_id: str, *, kind: str, reason: str,
                now: str) -> None:
    """Set a record aside and tell the team once, as a query-health event."""
    store.quarantine(source.name, source_id, query.id, kind=kind, reason=reason, now=now)
    outcome.quarantined.append(source_id)
    message = (f"{label(source.name)} record {source_id} was set aside for query {query.id}: "
               f"{reason}. The query moves on; `watcher status` lists quarantined records.")
    health.tell(config, store, Event(
        f"quarantine:{source.name}:{source_id}:{query.id}", "query_health", None, query.id,
        {"message": message, "source": source.name, "source_id": source_id}), query, now)


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
            while rows := store.records(name, after_id=after, limit=batch):
                after = rows[-1]["id"]
                results = spec.parse_records([row["payload"] for row in rows])
                for row, result in zip(rows, results, strict=True):
                    counts["records"] += 1
                    fixed = _reparsed(store, row, result, when)
                    if fixed is None:
                        counts["failed"] += 1
                    elif fixed:
                        counts["fixed"] += 1
                        for held in store.quarantined(source=name):
                            query = queries.get(held["query_id"])
                            if held["source_id"] == row["source_id"] and query is not None:
                                _match(config, query, name, fixed, store, run_id=0, now=when)
                        store.release(name, [row["source_id"]])
    return counts


def _reparsed(store: Store, row: dict, result: object, now: str) -> int | None:
    """Store one re-parse result: None if still unparseable, the study id if the record was
    unparseable before and now reads, 0 otherwise."""
    study, error = getattr(result, "study", None), getattr(result, "error", None)
    if study is None:
        store.save_record(row["source"], row["source_id"], row["payload"], None, now,
                          parse_error=error or "unreadable")
        return None
    saved = store.save_record(row["source"], row["source_id"], row["payload"], study, now,
                              modified=row["modified"])
    return saved.study_id if row["parse_error"] and saved.study_id else 0
