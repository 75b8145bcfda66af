"""What one (query, source) poll comes to, however its records were fetched: its window, its
outcome and report, a failure recorded in one line with the window kept, and the per-query
conclusion (decide with watcher.poll_plan, write with watcher.poll_apply, log the poll). Shared
by the per-query poll (watcher.polling.poll_one) and the run-level one (watcher.poll_run)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import poll_apply, poll_plan, search_drift
from .clock import stamp
from .config import Config, Query
from .db import Store
from .db.storage import storage_cause
from .errors import WatcherError, failure_line
from .settings import Settings
from .sources import FetchResult, Window, date_window, label, terms_hash

log = logging.getLogger("watcher.polling")

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


def window_for(query: Query, source: str, store: Store, settings: Settings,
               now: datetime) -> Window:
    return date_window(store.position(query.id, source), terms=query.terms_for(source),
                       lookback_days=query.lookback_days, overlap_days=settings.overlap_days,
                       today=now.date())


def retry_ids(query: Query, source: str, store: Store, now: datetime) -> list[str]:
    """The ids this query holds (awaited or quarantined within RETRY_QUARANTINED_DAYS): asked
    for again in case they reappear upstream."""
    since = stamp(now - timedelta(days=RETRY_QUARANTINED_DAYS))
    return [held.source_id for held in store.held_records(
        source=source, query_id=query.id, states=("watching", "quarantined"))
        if held.first_seen >= since]


def failed(store: Store, outcome: PollOutcome, exc: BaseException, *, run_id: int,
           now: str) -> PollOutcome:
    """Record a poll's failure in one line; its window stays where it was. A failing disk is
    not this source's failure: it is raised, and stops the run."""
    if storage_cause(exc) is not None:
        raise exc
    outcome.error = failure_line(exc, label(outcome.source))
    outcome.seen = outcome.new = outcome.queued = 0
    outcome.quarantined = []
    with store.transaction():
        store.record_failure(outcome.query_id, outcome.source, error=outcome.error, now=now)
        log_poll(store, outcome, run_id, now)
    log.info("%s / %s failed: %s", outcome.query_id, label(outcome.source), outcome.error,
             exc_info=(type(exc), exc, exc.__traceback__)
             if not isinstance(exc, WatcherError) else None)
    return outcome


def conclude(config: Config, query: Query, source: str, result: FetchResult,
             kept: poll_apply.Kept, store: Store, outcome: PollOutcome, run_id: int,
             now: str) -> None:
    """Once the poll's records are kept (in *kept*): decide the rest (watcher.poll_plan),
    write it (poll_apply), log the poll. Inside the poll's transaction."""
    assert outcome.window is not None
    snapshot = poll_apply.snapshot(query, source, result, store, kept)
    terms = terms_hash(query.terms_for(source))
    plan = poll_plan.decide(query.id, source, result, snapshot, window=outcome.window,
                            terms=terms)
    outcome.warnings += plan.awaited_warnings
    outcome.new, outcome.held, outcome.seen = kept.new, plan.held, plan.seen
    outcome.quarantined = kept.set_aside + plan.set_aside
    outcome.queued = kept.queued + poll_apply.apply(config, query, source, plan, kept, store,
                                                    run_id=run_id, now=now)
    log_poll(store, outcome, run_id, now, result=result, terms=terms)
    outcome.queued += search_drift.check(config, query, source, store, now)


def log_poll(store: Store, outcome: PollOutcome, run_id: int, now: str, *,
             result: FetchResult | None = None, terms: str | None = None) -> None:
    window = outcome.window
    store.log_poll(run_id=run_id, query_id=outcome.query_id, source=outcome.source,
                   window_start=window.start.isoformat() if window else None,
                   window_end=window.end.isoformat() if window else None,
                   seen=outcome.seen, new=outcome.new, warnings=outcome.warnings,
                   error=outcome.error, now=now, count=result.count if result else None,
                   translation=result.translation if result else None, terms_hash=terms)


def tell_warnings(outcome: PollOutcome) -> None:
    for warning in outcome.warnings:
        log.warning("%s / %s: %s", outcome.query_id, label(outcome.source), warning)
