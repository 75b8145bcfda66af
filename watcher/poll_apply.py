"""The one place a poll's decisions (watcher.poll_plan) are written: records kept, records set
aside and the team told once, matches recorded and their new-study events queued, the position
moved, the poll logged. Runs inside the poll's transaction, in the order the digest's items
will be read back."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from . import health
from .config import Config, Query
from .corrections import NOTICE_TYPES, corrects_a_kept_study, queue_corrections
from .db import Store
from .events import Event, NewStudy
from .filters import judge
from .identity import apply_link
from .models import SourceRecord
from .poll_plan import Plan, SetAside, Snapshot, change, conflict_warnings, shown, unparseable
from .sources import FetchResult, label
from .versions import versions_of

log = logging.getLogger("watcher.polling")


@dataclass
class Kept:
    """What keeping a poll's fetched records did."""

    studies: dict[str, int] = field(default_factory=dict)  # source id -> its study
    new: int = 0  # studies first stored
    queued: int = 0  # outbox rows added (corrections, changes, notices)
    set_aside: list[str] = field(default_factory=list)
    #: Warnings, added to as records are kept (the poll's own list: one failing part-way
    #: still logs what it had found).
    warnings: list[str] = field(default_factory=list)


def keep(config: Config, query: Query, source: str, result: FetchResult, store: Store,
         now: str, kept: Kept) -> Kept:
    """Store every fetched record into *kept*; tell what each reveals (a correction, a
    tracked change) or set it aside when it cannot be parsed."""
    options = query.sources.get(source)
    tracked = list(getattr(options, "track", None) or [])
    for record in result.records:
        if not keep_record(config, source, record, store, now, kept, query_id=query.id,
                           tracked=tracked):
            set_aside_unparseable(config, query, source, store, record.source_id,
                                  record.error, now, kept)
    # a record kept later (or a link) may have merged a study kept earlier into another
    kept.studies = {source_id: store.survivor_of(study_id)
                    for source_id, study_id in kept.studies.items()}
    return kept


def keep_record(config: Config, source: str, record: SourceRecord, store: Store, now: str,
                kept: Kept, *, query_id: str, tracked: list[str]) -> bool:
    """Store one fetched record into *kept* and tell what it reveals (a correction, a change
    of a *tracked* field, a preprint's article): what does not depend on which query asked,
    apart from the change event's query. False when it cannot be parsed: it is kept raw,
    for the caller to set aside for the queries that asked for it."""
    if record.study is None:
        store.save_record(source, record.source_id, record.packed, None, now,
                          modified=record.modified, parse_error=record.error)
        return False
    saved = store.save_record(source, record.source_id, record.packed, record.study, now,
                              modified=record.modified, conditions=query_id)
    kept.new += saved.new_study
    if saved.study_id is not None:
        kept.studies[record.source_id] = saved.study_id
        kept.queued += queue_corrections(saved.study_id, saved.previous, record.study,
                                         store, now, config)
        if saved.changed and saved.previous is not None:
            event = change(source, tracked, study_id=saved.study_id, query_id=query_id,
                           previous=saved.previous, current=record.study,
                           content=record.packed.digest)
            if event is not None:
                kept.queued += _tell_told(store, event, now)
        for link in versions_of(record.study.details):  # a preprint <-> its article
            kept.queued += apply_link(store, config, link, now)
    kept.warnings += conflict_warnings(record.source_id, saved.conflicts)
    return True


def set_aside_unparseable(config: Config, query: Query, source: str, store: Store,
                          source_id: str, error: str | None, now: str, kept: Kept) -> None:
    """A record kept raw because it cannot be parsed: set aside for *query*, told once."""
    _set_aside(config, query, source, store, unparseable(query.id, source, source_id, error),
               now)
    kept.set_aside.append(source_id)


def snapshot(query: Query, source: str, result: FetchResult, store: Store,
             kept: Kept) -> Snapshot:
    """What the decisions read from the store once the records are kept."""
    held = store.held_records(source=source, query_id=query.id,
                              states=("watching", "quarantined", "released"))
    ids = {*result.matched, *result.missing, *(h.source_id for h in held)}
    found = {value: study_id for value in ids
             if (study_id := store.find_study({result.scheme: value})) is not None}
    position = store.position(query.id, source)
    return Snapshot(kept.studies, found, tuple(held), position.window_end,
                    position.terms_hash, position.cursor)


def apply(config: Config, query: Query, source: str, plan: Plan, kept: Kept, store: Store,
          *, run_id: int, now: str) -> int:
    """Write *plan* once *kept* is stored: held records the query gets back, missing records
    counted (and set aside), what the search found, the position moved. Returns the outbox
    rows added."""
    queued = 0
    for _, study_id in plan.recovered:
        queued += match(config, query, source, study_id, store, run_id=run_id, now=now)
    store.release(source, [source_id for source_id, _ in plan.recovered], query_id=query.id)
    for missing in plan.missing:
        store.note_missing(source, missing.source_id, query.id, reason=missing.reason,
                           now=now)
        if missing.set_aside is not None:
            _set_aside(config, query, source, store, missing.set_aside, now)
    aside = kept.set_aside + plan.set_aside
    if aside:  # the receipt lists them itself; the log line is for whoever watches the run
        log.warning("%s / %s: %d record(s) quarantined (%s); see `watcher status`", query.id,
                    label(source), len(aside), shown(aside))
    for study_id in plan.matched:
        queued += match(config, query, source, study_id, store, run_id=run_id, now=now)
    store.advance(query.id, source, window_end=plan.move.window_end,
                  terms_hash=plan.move.terms_hash, now=now, cursor=plan.move.cursor)
    return queued


def match(config: Config, query: Query, source: str, study_id: int, store: Store, *,
          run_id: int, now: str) -> int:
    """Record that *query* found the study; unless its filters exclude it, the study's
    new-study event is queued to the query's destinations. Returns the outbox rows added."""
    study = store.judged_view(study_id, details_when=NOTICE_TYPES)
    verdict = judge(study, query.filters)
    excluded = verdict.excluded or (
        "correction notice (told as a correction of the study it names)"
        if corrects_a_kept_study(study, store) else None)
    store.add_match(study_id, query.id, source, run_id=run_id, now=now,
                    excluded=excluded, labels=verdict.labels)
    if excluded:
        return 0
    event_id, _ = store.add_event(NewStudy.of(study_id), now)
    return sum(store.queue_found(destination, event_id, study_id=study_id, query_id=query.id,
                                 run_id=run_id, now=now) for destination in config.routes(query))


def _tell_told(store: Store, event: Event, now: str) -> int:
    """Store *event* once; when new, queue it to the destinations that were told about (or
    are owed) its study. Returns the outbox rows added."""
    assert event.study_id is not None
    event_id, new = store.add_event(event, now)
    if not new:
        return 0
    return sum(store.queue(destination, event_id, now)
               for destination in store.destinations_told(event.study_id))


def _set_aside(config: Config, query: Query, source: str, store: Store, aside: SetAside,
               now: str) -> None:
    """Quarantine a record and tell the team once, as a query-health event."""
    store.quarantine(source, aside.source_id, query.id, kind=aside.kind, reason=aside.reason,
                     now=now)
    health.tell(config, store, aside.notice, query, now)
