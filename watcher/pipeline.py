"""The library core: poll every source for every saved query, then deliver pending digests.

The CLI, the scheduler, the demo and the tests all call these functions. The guarantees:
- a (query, source) poll either stores everything it fetched and advances its window in one
  transaction, or stores nothing and leaves the window where it was;
- one failing query, source or destination never stops the others;
- a digest is marked sent only after its sender returned.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TextIO

from . import digest as digest_module
from .config import Config, Destination, Query
from .db import Store
from .destinations import TERMINAL, Disabled, build_sender
from .errors import UsageError, WatcherError
from .filters import judge
from .http import HttpClient, RetryPolicy
from .render.common import receipt_line
from .settings import Settings
from .sources import LABELS, REGISTRY, FetchResult, Source, Window, build_sources, terms_hash

log = logging.getLogger(__name__)


@dataclass
class PollOutcome:
    query_id: str
    source: str
    window: Window | None
    seen: int = 0
    new: int = 0  # studies first stored by this poll
    queued: int = 0  # outbox rows added
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
            label = LABELS.get(source, source)
            prefix = "" if label in error else f"{label}: "
            lines.append(f"{prefix}{error} ({which} not polled; window kept for the next run)")
        return lines


@dataclass
class DeliveryOutcome:
    destination: str
    items: int = 0
    sent: bool = False
    skipped: str | None = None  # why the destination did not send (items stay pending)
    error: str | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="seconds")


def make_http(settings: Settings) -> HttpClient:
    return HttpClient(timeout=settings.http_timeout,
                      retry=RetryPolicy(backoff=settings.retry_backoff),
                      secrets=settings.secrets())


# --- polling ---------------------------------------------------------------------------------

def poll(config: Config, store: Store, settings: Settings, *, now: datetime | None = None,
         query_ids: list[str] | None = None, sources: dict[str, Source] | None = None,
         http: HttpClient | None = None, run_id: int = 0) -> PollReport:
    """Poll each enabled (query, source) over its window since the last successful poll."""
    now = now or utc_now()
    queries = [config.query(q) for q in query_ids] if query_ids else config.queries
    own_http = http is None and sources is None
    http = http or make_http(settings)
    try:
        sources = sources if sources is not None else build_sources(settings, http)
        report = PollReport()
        with store.exclusive():
            for query in queries:
                for name in query.sources:
                    source = sources.get(name)
                    if source is None:  # configured, no fetcher yet: the receipt says so
                        continue
                    report.outcomes.append(
                        poll_one(query, source, store, settings, now=now, run_id=run_id))
        return report
    finally:
        if own_http:
            http.close()


def window_for(query: Query, source: Source, store: Store, settings: Settings,
               today: date) -> Window:
    """From the last successful window's end minus an overlap. A new query looks back
    `lookback_days`; an edited one looks back that far too, but never leaves a gap after its
    last successful window."""
    position = store.position(query.id, source.name)
    lookback = today - timedelta(days=query.lookback_days)
    if position.window_end:
        start = date.fromisoformat(position.window_end) - timedelta(days=settings.overlap_days)
        if position.terms_hash != terms_hash(source.terms(query)):
            start = min(start, lookback)
    else:
        start = lookback
    return Window(min(start, today), today)


def poll_one(query: Query, source: Source, store: Store, settings: Settings, *,
             now: datetime, run_id: int) -> PollOutcome:
    """Fetch, then store in one transaction; any failure is recorded and the window kept."""
    stamp_now = stamp(now)
    window = window_for(query, source, store, settings, now.date())
    outcome = PollOutcome(query.id, source.name, window)
    try:
        result = source.fetch(query, window, store.known_ids)
        with store.transaction():
            _store_result(query, source, result, store, outcome, run_id, stamp_now)
    except Exception as exc:  # one failing poll must not stop the others
        outcome.error = _one_line(exc, source.label)
        outcome.seen = outcome.new = outcome.queued = 0
        with store.transaction():
            store.record_failure(query.id, source.name, error=outcome.error, now=stamp_now)
            _log_poll(store, outcome, run_id, stamp_now)
        log.info("%s / %s failed: %s", query.id, source.label, outcome.error,
                 exc_info=not isinstance(exc, WatcherError))
        return outcome
    for warning in result.warnings:
        log.warning("%s / %s: %s", query.id, source.label, warning)
    return outcome


def _store_result(query: Query, source: Source, result: FetchResult, store: Store,
                  outcome: PollOutcome, run_id: int, now: str) -> None:
    outcome.seen = len(result.matched)
    outcome.warnings = result.warnings
    for study in result.studies:
        _, is_new = store.save_study(study, now)
        outcome.new += is_new
    for value in result.matched:
        study_id = store.find_study({result.scheme: value})
        if study_id is None:  # listed by the search, not returned by the fetch: incomplete
            continue
        verdict = judge(store.get_study(study_id), query.filters)
        store.add_match(study_id, query.id, source.name, run_id=run_id, now=now,
                        excluded=verdict.excluded, labels=verdict.labels)
        if verdict.excluded:
            continue
        for destination in (*query.destinations, TERMINAL.name):
            outcome.queued += store.queue(destination, study_id, now)
    if result.incomplete:
        # What was fetched is kept and queued; the window stays so the rest is asked again.
        outcome.error = result.incomplete
        store.record_failure(query.id, source.name, error=result.incomplete, now=now)
    else:
        store.advance(query.id, source.name, window_end=outcome.window.end.isoformat(),
                      terms_hash=terms_hash(source.terms(query)), now=now)
    _log_poll(store, outcome, run_id, now)


def _one_line(exc: Exception, label: str) -> str:
    if isinstance(exc, WatcherError):
        return str(exc)
    return " ".join(f"{label}: unexpected {type(exc).__name__}: {exc}".split())


def _log_poll(store: Store, outcome: PollOutcome, run_id: int, now: str) -> None:
    window = outcome.window
    store.log_poll(run_id=run_id, query_id=outcome.query_id, source=outcome.source,
                   window_start=window.start.isoformat() if window else None,
                   window_end=window.end.isoformat() if window else None,
                   seen=outcome.seen, new=outcome.new, warnings=outcome.warnings,
                   error=outcome.error, now=now)


# --- delivery --------------------------------------------------------------------------------

def destinations_of(config: Config) -> dict[str, Destination]:
    return {**config.destinations, TERMINAL.name: TERMINAL}


def routed_conditions(config: Config, destination: str) -> dict[str, str]:
    """query id -> condition for the queries whose studies go to *destination*, in YAML order."""
    return {q.id: q.condition for q in config.queries
            if destination == TERMINAL.name or destination in q.destinations}


def not_polled(config: Config, sources: dict[str, type] | dict[str, Source],
               query_ids: set[str]) -> dict[str, int]:
    counts: Counter = Counter()
    for query in config.queries:
        if query.id in query_ids:
            counts.update(name for name in query.sources if name not in sources)
    return dict(counts)


def build_digest(config: Config, store: Store, destination: str, *,
                 now: datetime) -> tuple[digest_module.Digest, int]:
    """The pending digest for *destination* and the last poll id its receipt covers."""
    since, after_poll = store.last_digest(destination)
    conditions = routed_conditions(config, destination)
    through = store.last_poll_id()
    digest = digest_module.build(
        destination, store.pending(destination), conditions, store.polls_after(after_poll),
        generated=stamp(now), since=since,
        not_polled=not_polled(config, REGISTRY, set(conditions)))
    return digest, through


def deliver(config: Config, store: Store, settings: Settings, *, now: datetime | None = None,
            names: list[str] | None = None, stream: TextIO | None = None
            ) -> list[DeliveryOutcome]:
    """Send each destination its pending digest; the terminal always gets one (with its
    receipt) so a run that found nothing still says what it checked."""
    now = now or utc_now()
    stream = stream or sys.stdout
    all_destinations = destinations_of(config)
    unknown = [n for n in names or [] if n not in all_destinations]
    if unknown:
        raise UsageError(f"unknown destination {unknown[0]!r} (configured: "
                         f"{', '.join(all_destinations)})")
    outcomes = []
    with store.exclusive():
        for name, destination in all_destinations.items():
            if not names or name in names:
                outcomes.append(_deliver_one(config, store, settings, name, destination,
                                             now=now, stream=stream))
    return outcomes


def _deliver_one(config: Config, store: Store, settings: Settings, name: str,
                 destination: Destination, *, now: datetime, stream: TextIO) -> DeliveryOutcome:
    outcome = DeliveryOutcome(name)
    try:
        sender = build_sender(destination, settings, stream)
    except Disabled as reason:
        outcome.skipped = str(reason)
        outcome.items = store.pending_counts().get(name, 0)
        return outcome
    try:
        digest, through = build_digest(config, store, name, now=now)
        outcome.items = digest.total
        sender.send(digest)
    except Exception as exc:  # not accepted: the items stay pending for the next run
        outcome.error = _one_line(exc, name)
        log.info("%s: %s", name, outcome.error, exc_info=not isinstance(exc, WatcherError))
        return outcome
    try:
        store.mark_sent(name, [item.outbox_id for item in digest.items], now=stamp(now),
                        through_poll=through, receipt=receipt_line(digest))
    except Exception as exc:  # sent but not recorded: say so loudly, it may repeat
        outcome.error = (f"digest was sent but could not be recorded, so it may be sent again: "
                         f"{_one_line(exc, name)}")
        return outcome
    outcome.sent = True
    return outcome


# --- the main job ------------------------------------------------------------------------------

@dataclass
class RunReport:
    poll: PollReport
    deliveries: list[DeliveryOutcome]

    @property
    def ok(self) -> bool:
        return not self.poll.failures and not any(d.error for d in self.deliveries)


def run_once(config: Config, store: Store, settings: Settings, *, now: datetime | None = None,
             query_ids: list[str] | None = None, stream: TextIO | None = None,
             sources: dict[str, Source] | None = None, command: str = "run --once",
             destinations: list[str] | None = None) -> RunReport:
    """Poll, store, queue, then deliver pending digests (to *destinations*, default all)."""
    now = now or utc_now()
    for query_id in query_ids or []:
        config.query(query_id)  # unknown ids are a usage error before anything is recorded
    with store.exclusive():
        run_id = store.start_run(command, stamp(now))
        poll_report = poll(config, store, settings, now=now, query_ids=query_ids,
                           sources=sources, run_id=run_id)
        deliveries = deliver(config, store, settings, now=now, stream=stream,
                             names=destinations)
    report = RunReport(poll_report, deliveries)
    store.finish_run(run_id, status="ok" if report.ok else "failed", now=stamp(utc_now()),
                     summary={
                         "polls": len(poll_report.outcomes),
                         "failed": len(poll_report.failures),
                         "new": sum(o.new for o in poll_report.outcomes),
                         "sent": {d.destination: d.items for d in deliveries if d.sent},
                     })
    return report
