"""Delivery: build each destination's digest from its pending events and send it, recording
every accepted message before the next, so a failure part-way leaves only the unsent rest
pending and nothing is ever marked sent that the destination did not accept."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TextIO

from . import digest as digest_module
from .clock import stamp, utc_now
from .config import Config, Destination, Query
from .db import Store
from .db.storage import storage_cause
from .destinations import KINDS, Context, Disabled, RecoversSent, Sender, build_sender
from .errors import DeliveryError, UsageError, WatcherError, failure_line, named
from .placement import Topic
from .render import text
from .render.common import receipt_line
from .settings import Settings
from .sources import REGISTRY
from .variables import NoSettings

log = logging.getLogger(__name__)


@dataclass
class DeliveryOutcome:
    destination: str
    items: int = 0
    sent: bool = False
    parts: int = 0  # messages accepted
    skipped: str | None = None  # why the destination did not send (items stay pending)
    error: str | None = None
    withheld: int = 0  # items the current filters exclude


def routed_queries(config: Config, destination: str) -> dict[str, digest_module.RoutedQuery]:
    """The queries whose events go to *destination*, in YAML order."""
    return {q.id: digest_module.RoutedQuery(q.condition, q.filters, _searches(q))
            for q in config.queries if destination in config.routes(q)}


def _searches(query: Query) -> dict[str, dict[str, str]]:
    """source -> what the query asks it: a registry's own parameters where it has them
    (ClinicalTrials.gov's query.*), else the exact terms (PubMed's full search)."""
    out: dict[str, dict[str, str]] = {}
    for source in query.sources:
        search = query.search(source)
        params = getattr(search.options, "search_params", None)
        out[source] = params(search.intervention) if params else {"term": search.terms}
    return out


def topics(config: Config, query_ids: set[str]) -> dict[str, Topic]:
    """What each query's condition is about, from its condition terms in every source (a
    registry's ``condition``, else the source's ``terms``): how the digest finds a study's
    primary condition (see watcher.placement)."""
    found: dict[str, Topic] = {}
    for query in config.queries:
        if query.id in query_ids:
            terms = [getattr(options, "condition", None) or getattr(options, "terms", None)
                     for options in query.sources.values()]
            drug = [query.intervention_terms(source) for source in query.sources]
            found[query.id] = Topic.of(query.condition, [t for t in terms if t],
                                       [t for t in drug if t])
    return found


def not_polled(config: Config, query_ids: set[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for query in config.queries:
        if query.id in query_ids:
            for name in query.sources:
                if not REGISTRY[name].factory:
                    counts[name] = counts.get(name, 0) + 1
    return counts


@dataclass(frozen=True)
class BuiltDigest:
    """A destination's pending digest, built once per delivery and passed on: the digest, the
    last poll id its receipt covers, and the (outbox id, reason) of items the current filters
    now exclude."""

    digest: digest_module.Digest
    through_poll: int
    withheld: list[tuple[int, str]]


def build_digest(config: Config, store: Store, destination: str, *,
                 now: datetime, archive: str | None = None) -> BuiltDigest:
    """The pending digest for *destination* (see BuiltDigest); *archive*: where the static
    archive is served (WATCHER_ARCHIVE_URL), which the digest links into."""
    since, after_poll = store.last_digest(destination)
    routed = routed_queries(config, destination)
    through = store.last_poll_id()
    items, withheld = digest_module.select(store.pending(destination, withheld=True),
                                           routed)
    polls = store.polls_since(after_poll)
    # What the polls this receipt covers set aside (stamped with their poll's time): not
    # "since the last digest", which a stamp of the same second as that digest would repeat.
    covered = {(poll.query_id, poll.source, poll.finished) for poll in polls}
    quarantined = [held for held in store.held_records(states=("quarantined",))
                   if since is None or (held.query_id, held.source, held.last_seen) in covered]
    digest = digest_module.build(
        destination, items, {q: r.condition for q, r in routed.items()},
        polls, generated=stamp(now), since=since,
        not_polled=not_polled(config, set(routed)), quarantined=quarantined,
        outages=store.outages(), queries=routed, topics=topics(config, set(routed)))
    return BuiltDigest(replace(digest, archive=archive or ""), through, withheld)


def deliver(config: Config, store: Store, settings: Settings, *, now: datetime | None = None,
            names: list[str] | None = None, stream: TextIO | None = None,
            senders: dict[str, Sender] | None = None, preview_unsendable: bool = False,
            dry_run: bool = False, scheduled: bool = False) -> list[DeliveryOutcome]:
    """Send each destination its pending digest. With *preview_unsendable*, when no configured
    destination can send, their digests are printed to *stream* instead (nothing is marked).
    With *dry_run* nothing is sent: each destination is skipped as "dry run" (plus what it
    would lack to send, read from *settings*, which then keep their secrets: no sender is
    built). *scheduled*: a schedule's firing (serve), where a quiet digest is a heartbeat
    (see DestinationOptions.sends_quiet). The caller holds the run lock (see
    watcher.pipeline)."""
    now = now or utc_now()
    stream = stream or sys.stdout
    all_destinations = config.all_destinations()
    check_names(config, names)
    outcomes = []
    store.adopt_renames(config.renames())  # before anything is built from its history
    with store.transaction():
        store.retire(config.retired, stamp(now))
    for name, destination in all_destinations.items():
        if not names or name in names:
            sender = (senders or {}).get(name)
            if dry_run and sender is None and reaches_out(destination):
                outcomes.append(_dry_run(store, settings, name, destination))
                continue
            outcomes.append(_deliver_one(config, store,
                                         settings.without_secrets() if dry_run else settings,
                                         name, destination,
                                         sender, now=now, stream=stream,
                                         scheduled=scheduled))
    if preview_unsendable and outcomes and all(o.skipped for o in outcomes):
        for outcome in outcomes:
            if outcome.items:
                built = build_digest(config, store, outcome.destination, now=now,
                                     archive=settings.archive_url)
                stream.write(f"-- not sent to {outcome.destination} ({outcome.skipped});"
                             " pending:\n")
                stream.write(text.render(built.digest))
    return outcomes


def check_names(config: Config, names: list[str] | None) -> None:
    """A UsageError for the first of *names* that is not a configured destination."""
    known = config.all_destinations()
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise UsageError(_unknown(config, unknown[0]))


def reaches_out(destination: Destination) -> bool:
    """Whether the destination's kind sends beyond this process (it has settings: a token, a
    server); the terminal does not, and still prints in a dry run."""
    return KINDS[destination.kind].settings is not NoSettings


def _dry_run(store: Store, settings: Settings, name: str,
             destination: Destination) -> DeliveryOutcome:
    """Why a dry run did not send: the dry run itself, and what a real run would lack (a
    token really not set), never a lack the dry run made by dropping the secrets."""
    missing = KINDS[destination.kind].missing(settings.destination(destination.kind))
    return DeliveryOutcome(name, skipped="dry run" + (f"; and {missing}" if missing else ""),
                           items=store.pending_counts().get(name, 0))


def _deliver_one(config: Config, store: Store, settings: Settings, name: str,
                 destination: Destination, sender: Sender | None, *, now: datetime,
                 stream: TextIO, scheduled: bool = False) -> DeliveryOutcome:
    outcome = DeliveryOutcome(name)
    if sender is None:
        try:
            sender = build_sender(destination, settings.destination(destination.kind),
                                  Context(stream, settings.http_timeout))
        except Disabled as reason:
            outcome.skipped = str(reason)
            outcome.items = store.pending_counts().get(name, 0)
            return outcome
    when = stamp(now)
    try:
        _recover_interrupted(store, name, destination, sender)
        built = build_digest(config, store, name, now=now, archive=settings.archive_url)
        if built.withheld:
            with store.transaction():
                for outbox_id, reason in built.withheld:
                    store.withhold([outbox_id], reason)
            outcome.withheld = len(built.withheld)
        digest = digest_module.limit(built.digest, destination.max_items)
        outcome.items = digest.total + len(digest.notices)
        if not digest.items and not digest.failing and \
                not destination.sends_quiet(scheduled=scheduled):
            return outcome
        parts = sender.prepare(digest)
    except Exception as exc:  # could not even be built: everything stays pending
        if storage_cause(exc) is not None:
            raise  # the database's disk, not this destination: stop the run
        outcome.error = failure_line(exc, name)
        outcome.items = outcome.items or store.pending_counts().get(name, 0)
        log.info("%s", named(name, outcome.error), exc_info=not isinstance(exc, WatcherError))
        return outcome
    carried = [i for item in digest.items for i in item.outbox_ids]
    digest_id = store.begin_digest(name, carried, now=when, through_poll=built.through_poll,
                                   receipt=receipt_line(digest),
                                   rendered=text.render(digest))  # what the archive shows
    error = None
    uncertain: list[int] = []  # items of a message that may have arrived after all
    try:
        for index, part in enumerate(parts):
            # lets a sender tag the message; 'started' tells this database's digest 1 from
            # another install's (or a rebuilt database's) digest 1 in the same channel
            part.meta.update(digest_id=digest_id, part=index, started=when)
            external_id = sender.send(part)
            store.record_message(digest_id, name, part=index, outbox_ids=part.outbox_ids,
                                 external_id=external_id, now=stamp(utc_now()),
                                 channel=destination.channel,
                                 channel_id=part.meta.get("channel_id"))
            outcome.parts += 1
    except Exception as exc:  # not accepted: the unsent rest stays pending for the next run
        if storage_cause(exc, files=False) is not None:
            raise  # accepted but not recorded: its items stay 'sending' (see _recover_interrupted)
        error = failure_line(exc, name)
        if getattr(exc, "uncertain", False):
            uncertain = list(part.outbox_ids)
        log.info("%s", named(name, error), exc_info=not isinstance(exc, WatcherError))
    except BaseException:  # Ctrl-C, SIGTERM: close the digest, then stop
        _close(store, digest_id, name, None)
        raise
    state, error = _close(store, digest_id, name, error, uncertain)
    if state in ("partial", "failed") and not error:  # a sender whose parts left items out
        error = (f"{name}: {store.pending_counts().get(name, 0)} item(s) were not carried by"
                 " any message; they stay pending")
    if error:
        sent_note = f" ({outcome.parts} of {len(parts)} messages were sent)" if outcome.parts \
            else ""
        outcome.error = error + sent_note
    outcome.sent = state == "sent"
    return outcome


def _close(store: Store, digest_id: int, name: str, error: str | None,
           uncertain: list[int] | None = None) -> tuple[str, str | None]:
    """Close the digest: (its state, the error to report). If even that fails, accepted
    messages stay recorded and the rest stays 'sending', which the next digest offers again;
    the next destination is still served."""
    try:
        return store.finish_digest(digest_id, now=stamp(utc_now()), error=error,
                                   uncertain=uncertain), error
    except Exception as exc:
        if storage_cause(exc) is not None:
            raise
        problem = failure_line(exc, name)
        log.info("%s", named(name, problem), exc_info=not isinstance(exc, WatcherError))
        return "sending", error or problem


def _recover_interrupted(store: Store, name: str, destination: Destination,
                         sender: Sender) -> None:
    """Before a new digest: when a dead process left items 'sending', ask a sender that can
    look (Slack, by its messages' metadata) which of those messages the destination already
    holds, and record them as sent so they are not posted twice. It is told the channel id
    the digest's messages (or the latest ones to the same channel) went to; a message it finds
    is recorded with that channel as it was configured then. When the check
    cannot run, the items stay 'sending' with the error (health and status report it) and the
    destination sends nothing this time: sending them blind could post them twice."""
    if not isinstance(sender, RecoversSent):  # a capability the sender declares
        return
    interrupted = store.interrupted(name)
    if not interrupted:
        return
    carried = {(row.digest_id, row.id) for row in interrupted}
    digests = sorted({row.digest_id for row in interrupted if row.digest_id})
    known = store.channel_id(name, destination.channel) if destination.channel else None
    interrupted = [replace(row, channel_id=row.channel_id or known,
                           channel=row.channel if row.channel_id else destination.channel)
                   for row in interrupted]
    addressed = {row.digest_id: row.channel for row in interrupted}
    try:
        found = sender.recover(interrupted)
    except Exception as exc:
        error = (f"{failure_line(exc, name)}; {len(interrupted)} item(s) of an interrupted digest "
                 "stay unsent until it can be checked which of them the destination holds")
        with store.transaction():
            store.stuck(name, error)
        raise DeliveryError(error) from None
    recorded = {(d, m.part) for d in digests for m in store.messages_of(d)}
    when = stamp(utc_now())
    for digest_id, part, outbox_ids, external_id, channel_id in found:
        if (digest_id, part) in recorded:
            continue
        recorded.add((digest_id, part))
        ids = [i for i in outbox_ids if (digest_id, i) in carried]
        store.record_message(digest_id, name, part=part, outbox_ids=ids,
                             external_id=external_id, now=when,
                             channel=addressed.get(digest_id), channel_id=channel_id)
        log.info("%s: message %s of digest %s was already posted; %d item(s) marked sent",
                 name, part, digest_id, len(ids))
    for digest_id in digests:
        store.finish_digest(digest_id, now=when, error="interrupted before this item was sent")


def preview(config: Config, store: Store, destination: str | None, *,
            now: datetime | None = None, archive: str | None = None) -> tuple[str, int, str]:
    """What *destination* would be sent now, rendered, without sending or marking anything:
    (destination name, items, text)."""
    known = config.all_destinations()
    name = destination or next(iter(known), "terminal")
    if name not in known:
        raise UsageError(_unknown(config, name))
    with store.undone():  # what the digest would be once renames are adopted; none is now
        store.adopt_renames(config.renames())
        built = build_digest(config, store, name, now=now or utc_now(), archive=archive).digest
    built = digest_module.limit(built, known[name].max_items)
    spec = KINDS[known[name].kind]
    rendered = spec.preview(built, known[name]) if spec.preview else text.render(built)
    return name, len(built.items), rendered


def _unknown(config: Config, name: str) -> str:
    """Why *name* cannot be sent: retired on purpose reads differently from a typo."""
    if name in config.retired:
        return (f"destination {name!r} is retired (retired: in the YAML): what it owed is set "
                "aside, never sent")
    known = config.all_destinations()
    return f"unknown destination {name!r} (configured: {', '.join(known) or 'none'})"
