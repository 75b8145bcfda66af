"""Polling a two-phase source (PubMed, see sources.base.TwoPhaseSource) for a whole run: search
all, fetch the union, store per query. As few requests as the protocol allows: one search per
query (plus the slices of a window past the source's limit), a corrections search at most once
a day, one fetch per batch of the run's unknown ids, however many queries list them.

1. Search: each query's search over its own window, as a per-query poll would. A failing
   search fails that query alone (one line, window kept); the others go on.
2. Corrections: one search by modification date for the queries' terms (joined with OR); the
   stored ids it lists are fetched again, but those a query lists again that were fetched within
   the overlap days (the next search still covers them). Each query has a corrections position
   (the end of the last corrections window searched for it, and when): the search is made only
   when one of the run's searched queries last had it WATCHER_CORRECTIONS_EVERY_HOURS (24, less
   EARLY) ago or more. It covers every searched query but a first poll, from the earliest of
   their positions (minus the overlap days) to the run's window end, and each query's
   corrections position moves there when it concludes, with its window: a `--query` run moves
   only its own. A first poll needs none (what it stores is fetched now), but for the stored
   records it lists (a renamed query's: searched apart, over its window); its position starts at
   its window's end. When a search fails, every query of the run fails with its one line and
   keeps its windows, and nothing is fetched: the next run searches the same revisions again, so
   no correction is lost.
3. Fetch: the union of the queries' unknown ids, their retried ids and the corrections, each
   once, in batches of the source's ``fetch_batch`` across the whole run (corrections first).
   Each batch is stored in its own transaction as it arrives (memory holds two batches, not a
   back-fill); storing is query-independent (a new study's event waits for the per-query match).
   An efetch failing part-way fails only the queries whose ids (or the run's corrections) did
   not all arrive; what was stored stays stored and is simply known next run.
4. Conclude, per query in one transaction: its unparseable records set aside, then decided
   and applied as a per-query poll is (watcher.poll_outcome.conclude), its corrections
   position moved.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from . import poll_apply
from .clock import stamp
from .config import Config, Query
from .db import Store
from .db.storage import storage_cause
from .http import poll_deadline
from .models import SourceRecord
from .poll_flight import batches, in_background
from .poll_outcome import (
    PollOutcome,
    PollProgress,
    conclude,
    failed,
    retry_ids,
    tell_warnings,
    window_for,
)
from .settings import Settings
from .sources import FetchResult, Listing, Search, TwoPhaseSource, Window, label

#: How much sooner than WATCHER_CORRECTIONS_EVERY_HOURS a corrections search is still due: a
#: daily schedule whose start varies a little searches every day, not every other day.
EARLY = timedelta(minutes=10)


@dataclass
class _Part:
    """One query's share of the run."""

    query: Query
    search: Search[Any]
    outcome: PollOutcome
    retry: list[str]
    kept: poll_apply.Kept
    listing: Listing = field(default_factory=lambda: Listing("", []))
    asked: list[str] = field(default_factory=list)  # fetched for it: unknown, then retried
    retried: list[str] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)  # unparseable records set aside for it
    corrected: date | None = None  # its corrections position (None: its first poll)
    overdue: bool = False  # its last corrections search is WATCHER_CORRECTIONS_EVERY_HOURS old

    @property
    def ok(self) -> bool:
        return self.outcome.error is None


@dataclass
class _Corrections:
    """The run's corrections search: the queries it covers (all but first polls), made when
    one of them is overdue."""

    covered: list[_Part]
    overlap_days: int

    def due(self, parts: list[_Part]) -> list[_Part]:
        """Those of *parts* it covers, if one of them is overdue (else none): a query whose
        own search failed does not make the others search."""
        covered = [part for part in parts if any(part is c for c in self.covered)]
        return covered if any(part.overdue for part in covered) else []

    def window(self, parts: list[_Part]) -> Window:
        """From the earliest corrections position of *parts* (minus the overlap) to the end of
        their windows."""
        end = max(part.outcome.window.end for part in parts if part.outcome.window)
        start = min(part.corrected for part in parts if part.corrected) - timedelta(
            days=self.overlap_days)
        return Window(min(start, end), end)

    def search(self, source: TwoPhaseSource, parts: list[_Part]) -> Listing:
        return source.revised([part.search for part in parts], self.window(parts))


@dataclass
class _Run:
    """What the run fetches for every query, and what the fetch brought."""

    refresh: list[str]  # stored ids fetched again for their corrections
    owners: dict[str, _Part]  # each unknown or retried id -> the first query that asked
    corrected: Window | None = None  # the corrections window searched (None: none)
    covered: list[_Part] = field(default_factory=list)  # the queries it covered
    studies: dict[str, int] = field(default_factory=dict)  # source id -> its study
    returned: set[str] = field(default_factory=set)  # source ids of the records returned
    arrived: set[str] = field(default_factory=set)  # ids whose batch was answered and stored
    unparseable: dict[str, str | None] = field(default_factory=dict)  # source id -> error
    failure: Exception | None = None  # the fetch that stopped the run's fetching

    @property
    def asked(self) -> list[str]:
        """Every id fetched, each once: the corrections first (every query waits for them),
        then each query's, in the queries' order."""
        return self.refresh + list(self.owners)


class _Searches:
    """Phase 1, up to the source's ``in_flight`` searches at a time (its rate limiter still
    spaces every request: answers' latency overlaps), each within WATCHER_POLL_TIMEOUT, in
    daemon threads (see poll_flight); with ``in_flight`` 1, one after another in this one."""

    def __init__(self, parts: list[_Part], source: TwoPhaseSource, settings: Settings,
                 corrections: _Corrections):
        self._source = source
        self._timeout = settings.poll_timeout
        self._listings: dict[int, Future[Listing]] = {}
        self.revised_for_all: Future[Listing] | None = None
        in_flight = max(1, int(source.in_flight))
        if in_flight == 1 or len(parts) == 1:
            return  # each is searched when asked for
        gate, name = threading.Semaphore(in_flight), f"{source.name}-search"
        for part in parts:
            self._listings[id(part)] = in_background(name, self._search, part, gate=gate)
        # The corrections search for every query, in flight with theirs: used when every
        # query's search listed (else it is asked again for those that did; see _plan).
        if corrections.due(parts):
            self.revised_for_all = in_background(name, self._revised, corrections,
                                                 gate=gate)

    def _revised(self, corrections: _Corrections) -> Listing:
        with poll_deadline(self._timeout):
            return corrections.search(self._source, corrections.covered)

    def _search(self, part: _Part) -> Listing:
        assert part.outcome.window is not None
        with poll_deadline(self._timeout):
            return self._source.search(part.search, part.outcome.window)

    def listing(self, part: _Part) -> Listing:
        future = self._listings.get(id(part))
        return future.result() if future is not None else self._search(part)


def poll_source(config: Config, queries: list[Query], source: TwoPhaseSource, store: Store,
                settings: Settings, *, now: datetime, run_id: int,
                progress: PollProgress | None = None) -> list[PollOutcome]:
    """Poll *source* for every query in *queries*; one outcome per query, in their order."""
    when = stamp(now)
    name = source.name
    parts = []
    for query in queries:
        outcome = PollOutcome(query.id, name, window_for(query, name, store, settings, now))
        parts.append(_Part(query, query.search(name), outcome,
                           retry_ids(query, name, store, now), poll_apply.Kept()))
    corrections = _schedule(parts, name, store, settings, now)
    searched = _Searches(parts, source, settings, corrections)
    for part in parts:
        try:
            part.listing = searched.listing(part)
        except Exception as exc:  # one failing search must not stop the others
            failed(store, part.outcome, exc, run_id=run_id, now=when)
    live = [part for part in parts if part.ok]
    if live:
        try:
            everyone = searched.revised_for_all if len(live) == len(parts) else None
            run = _plan(live, source, store, settings, corrections, everyone)
        except Exception as exc:  # the corrections search: every query waits for it
            for part in live:
                failed(store, part.outcome, exc, run_id=run_id, now=when)
        else:
            _fetch(config, live, run, source, store, settings, when, progress)
            for part in live:
                _conclude(config, part, run, store, run_id, when)
            _unmatched(live, run, store)
    for part in live:
        if part.ok:
            tell_warnings(part.outcome)
    return [part.outcome for part in parts]


def _schedule(parts: list[_Part], source: str, store: Store, settings: Settings,
              now: datetime) -> _Corrections:
    """Each query's corrections position (a position from before they had their own: its
    window's end), and whether the run's corrections search is due: one of its queries last
    had one WATCHER_CORRECTIONS_EVERY_HOURS ago or more (less EARLY; or never, or later
    than now)."""
    every = settings.corrections_every_hours * 3600 - EARLY.total_seconds()  # seconds
    for part in parts:
        position = store.position(part.query.id, source)
        end = position.corrections_end or position.window_end
        part.corrected = date.fromisoformat(end) if end else None
        if part.corrected is not None:
            at = _moment(position.corrections_at)
            # a last search in the future (a run whose clock was ahead): due, not in a year
            part.overdue = at is None or at > now or (now - at).total_seconds() >= every
    return _Corrections([part for part in parts if part.corrected is not None],
                        settings.overlap_days)


def _moment(value: str | None) -> datetime | None:
    """A stored time; None when there is none or it is no time (then the search is due)."""
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def _plan(live: list[_Part], source: TwoPhaseSource, store: Store, settings: Settings,
          corrections: _Corrections, revised_for_all: Future[Listing] | None) -> _Run:
    """Phase 2: the run's corrections search when due (over the terms of the queries whose
    own search listed: a term PubMed refuses would fail it for all; *revised_for_all*, when
    every query's did, already asked), then what each query needs fetched."""
    scheme = live[0].listing.scheme
    listed = dict.fromkeys(value for part in live
                           for value in (*part.listing.ids, *part.retry))
    known = store.known_ids(scheme, listed)
    covered = corrections.due(live)
    revised = Listing("", [])
    if revised_for_all is not None:
        revised = revised_for_all.result()
    elif covered:
        with poll_deadline(settings.poll_timeout):
            revised = corrections.search(source, covered)
    # A first poll does not fetch the stored records it lists (a renamed query's): their
    # revisions over its window are searched for, apart (nothing else may cover them).
    firsts = [p for p in live if p.corrected is None and not known.isdisjoint(p.listing.ids)]
    if spans := [p.outcome.window for p in firsts if p.outcome.window]:
        with poll_deadline(settings.poll_timeout):
            more = source.revised([p.search for p in firsts], Window(
                min(w.start for w in spans), max(w.end for w in spans)))
        revised = Listing("", [*revised.ids, *more.ids], [*revised.warnings, *more.warnings])
    owners: dict[str, _Part] = {}
    for part in live:
        wanted = [value for value in part.listing.ids if value not in known]
        unknown = set(wanted)
        part.retried = [value for value in part.retry
                        if value not in known and value not in unknown]
        part.asked = wanted + part.retried
        for value in part.asked:
            owners.setdefault(value, part)
    # The corrections search's warnings no query's own gave: logged once, with the first's.
    told = {w for part in live for w in part.listing.warnings}
    live[0].listing.warnings += [w for w in dict.fromkeys(revised.warnings) if w not in told]
    # A stored id revised that a query lists again (its window's overlap) is fetched for it
    # unless fetched within the overlap: the next corrections search still covers that copy.
    fresh = store.fetched_since(source.name, [v for v in revised.ids if v in listed], (max(
        p.outcome.window.end for p in live if p.outcome.window) - timedelta(
            days=settings.overlap_days)).isoformat())
    refresh = sorted(store.known_ids(scheme, [v for v in revised.ids if v not in fresh]))
    run = _Run(refresh, owners, corrections.window(covered) if covered else None, covered)
    for part in live:  # what any query keeps lands in one map; phase 4 gives each its share
        part.kept.studies = run.studies
    return run


def _fetch(config: Config, live: list[_Part], run: _Run, source: TwoPhaseSource,
           store: Store, settings: Settings, now: str,
           progress: PollProgress | None) -> None:
    """Phase 3: fetch every asked id once, in shared batches, each stored as it arrives. A
    failing batch stops the fetching; run.failure says why, run.arrived what came.

    The next batch is asked for while one is stored (one ahead: memory holds two batches; see
    poll_flight.batches), so a back-fill waits for its answers while it stores, not after."""
    asked = run.asked
    batch = source.fetch_batch
    chunks = [asked[start:start + batch] for start in range(0, len(asked), batch)]
    what = (f"{live[0].query.id} / {label(source.name)}" if len(live) == 1
            else f"{len(live)} queries / {label(source.name)}")
    try:
        # The whole fetch within WATCHER_POLL_TIMEOUT (the batch fetched ahead too: it runs in
        # this context): a source answering for ever fails the queries still waiting, not
        # every later run.
        with poll_deadline(settings.poll_timeout):
            for number, (chunk, records) in enumerate(batches(source, chunks), start=1):
                _store_batch(config, live, run, chunk, records, store, now)
                run.arrived.update(chunk)
                run.returned.update(record.source_id for record in records)
                del records  # memory holds this batch and the one on its way
                if progress:
                    progress(what, min(number * batch, len(asked)), len(asked))
    except Exception as exc:
        if storage_cause(exc) is not None:
            raise  # the database's disk, not the source: stop the run
        run.failure = exc


def _store_batch(config: Config, live: list[_Part], run: _Run, chunk: list[str],
                 records: list[SourceRecord], store: Store, now: str) -> None:
    """Store one fetched batch in one transaction (a record under an id no one asked for is
    counted for the batch's first query)."""
    fallback = run.owners.get(chunk[0], live[0])
    with store.transaction():
        for record in records:
            _keep(config, live, run, record, store, now, fallback=fallback)


def _keep(config: Config, live: list[_Part], run: _Run, record: SourceRecord, store: Store,
          now: str, *, fallback: _Part) -> None:
    """Store one record, its corrections and links counted for the query that first asked
    for it (*fallback*, the batch's first query, for a record under an id no one asked)."""
    owner = run.owners.get(record.source_id, fallback)
    options = owner.query.sources.get(owner.outcome.source)
    tracked = list(getattr(options, "track", None) or [])
    if poll_apply.keep_record(config, owner.outcome.source, record, store, now, owner.kept,
                              query_id=owner.query.id, tracked=tracked):
        return
    run.unparseable[record.source_id] = record.error
    if record.source_id in run.owners:
        return  # set aside for each query that asked for it, in its own stage
    # A refreshed record that no longer parses: set aside for the queries that found it.
    scheme = live[0].listing.scheme
    study = store.find_study({scheme: record.source_id})
    found = {match.query_id for match in store.matches_of(study)} if study else set()
    for part in [part for part in live if part.query.id in found] or [fallback]:
        part.strays.append(record.source_id)


def _conclude(config: Config, part: _Part, run: _Run, store: Store, run_id: int,
              now: str) -> None:
    """Phase 4, for one query in one transaction: fails it when the run's fetch stopped before
    its ids (or the corrections) arrived; else sets aside its unparseable records, then
    decides and applies as a per-query poll does."""
    outcome, name = part.outcome, part.outcome.source
    if run.failure is not None and not all(
            value in run.arrived for value in (*run.refresh, *part.asked)):
        failed(store, outcome, run.failure, run_id=run_id, now=now)
        return
    listing = part.listing
    result = FetchResult(scheme=listing.scheme,
                         matched=listing.ids + [v for v in part.retried if v in run.returned],
                         records=[], missing=[v for v in part.asked if v not in run.returned],
                         warnings=listing.warnings, count=listing.count,
                         translation=listing.translation)
    kept = part.kept
    kept.studies = {value: store.survivor_of(run.studies[value])
                    for value in (*listing.ids, *part.asked) if value in run.studies}
    try:
        with store.transaction():
            outcome.warnings = [*listing.warnings, *kept.warnings]
            kept.warnings = outcome.warnings  # conflicts found while deciding log here too
            for value in dict.fromkeys((*part.asked, *part.strays)):
                if value in run.unparseable:
                    poll_apply.set_aside_unparseable(config, part.query, name, store, value,
                                                     run.unparseable[value], now, kept)
            conclude(config, part.query, name, result, kept, store, outcome, run_id, now)
            _move_corrections(part, run, store, now)
    except Exception as exc:  # one failing poll must not stop the others
        failed(store, outcome, exc, run_id=run_id, now=now)


def _unmatched(live: list[_Part], run: _Run, store: Store) -> None:
    """A new study is stored under the query that asked for it (db.studies.save_record):
    one no concluding query matched (it failed) has its conditions re-derived (none)."""
    matched = {value for part in live if part.ok for value in (*part.listing.ids, *part.asked)}
    strays = {study for value, study in run.studies.items() if value not in matched}
    if strays:
        with store.transaction():
            for study in strays:
                store.refresh_conditions(store.survivor_of(study))


def _move_corrections(part: _Part, run: _Run, store: Store, now: str) -> None:
    """The query's corrections position: to the end of the run's corrections window when it
    covered the query; to its window's end on its first poll (it stored nothing before, and
    what it stored now is as revised as it gets); else where it was."""
    if run.corrected is not None and any(part is c for c in run.covered):
        end = run.corrected.end
    elif part.corrected is None and part.outcome.window is not None:
        end = part.outcome.window.end
    else:
        return
    store.advance_corrections(part.query.id, part.outcome.source, end=end.isoformat(), now=now)
