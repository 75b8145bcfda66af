"""What `watcher status`, `watcher health` and `watcher validate` print, built from the
configuration and the typed rows the database hands out (watcher.db.report_rows): the CLI only
prints these lines. `status` tells where each query and source stands (one study's story, with
`--study ID`, is watcher.study_story), `health` one line per problem, `validate` what is watched."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from .clock import stamp, utc_now
from .config import Config
from .db import Store, storage
from .db.report_rows import PositionRow
from .destinations import KINDS
from .health import failing_sources, last_error, orphaned
from .lookups import step as lookups
from .settings import Settings
from .sources import label, polled

#: How far ahead of this machine's clock a lease may have been renewed before `health` says
#: the clocks disagree (such a lease would outlive a dead holder by that much).
CLOCK_SKEW = timedelta(minutes=1)

#: say(line, err): print one line (on stderr when *err*), as the CLI does.
Say = Callable[..., None]


# --- watcher validate ------------------------------------------------------------------------

def watched(config: Config, folder: str) -> Iterator[str]:
    """What `validate` prints: each query with its sources and routes, each destination with
    its target and schedule, each retired destination."""
    yield f"{len(config.queries)} queries in {len(config.files)} file(s) from {folder}"
    for query in config.queries:
        sources = ", ".join(
            label(name) + ("" if polled(name) else " (not polled yet)")
            for name in query.sources) or "no source enabled"
        routes = ", ".join(query.destinations) or "terminal only"
        yield f"- {query.id}: {query.condition}"
        yield f"    sources: {sources}; look-back {query.lookback_days} days"
        yield f"    destinations: {routes}"
    yield "destinations:"
    if not config.destinations:
        yield "- none (digests are printed to the terminal)"
    for name, dest in config.destinations.items():
        target = dest.channel or ", ".join(dest.to or []) or dest.kind
        when = (dest.schedule.describe() if dest.schedule
                else "none (`serve` sends it what each job tells it)" if name == "ops"
                else "none (sent by `run --once` and `digest` only, never by `serve`)")
        renamed = f"; renamed from {', '.join(dest.renamed_from)}" if dest.renamed_from else ""
        yield f"- {name}: {dest.kind} {target}; schedule {when}{renamed}"
    for name in config.retired:
        yield f"- {name}: retired (what it still owes is set aside, never sent)"


def check_online(config: Config, settings: Settings, say: Say) -> bool:
    """`validate --online`: each query's PubMed search over its look-back: how many records,
    how PubMed read the term, and what it could not find (a phrase PubMed drops silently
    narrows the search). Warnings are one line each on stderr, naming the query; returns False
    if a search failed (exit 1), True otherwise, warnings or not (exit 0)."""
    from .errors import failure_line
    from .http import client_for
    from .sources.base import Window
    from .sources.pubmed import PubMedSource

    say("query health (PubMed):")
    today = utc_now().date()
    ok = True
    with contextlib.closing(client_for(settings)) as http:
        source = PubMedSource(settings.source("pubmed"), http)
        for query in config.queries:
            if "pubmed" not in query.sources:
                continue
            window = Window(today - timedelta(days=query.lookback_days), today)
            try:
                page = source.check(query.search("pubmed"), window)
            except Exception as exc:  # one query's failure is reported, the others checked
                say(f"- {query.id}: could not search: {failure_line(exc, 'PubMed')}")
                ok = False
                continue
            say(f"- {query.id}: {page.count} record(s) in the last {query.lookback_days} days")
            say(f"    PubMed read it as: {page.translation or '(no translation)'}")
            for warning in page.warnings:
                say(f"warning: query {query.id}: {warning}", err=True)
    return ok


# --- watcher status --------------------------------------------------------------------------

def status(config: Config | None, store: Store, settings: Settings,
           invalid: str | None = None) -> Iterator[str]:
    """Per query and source: last successful poll, its window, last error and quarantined
    records; id conflicts; per destination: pending items, schedule, last digest sent and
    last error; items pending for a destination no longer in the YAML (ORPHANED); what
    retired destinations had set aside. With no *config* (the YAML is *invalid*: when status is
    most needed) it shows what the database holds. One error met by several queries is
    written once, naming them."""
    positions = {(p.query_id, p.source): p for p in store.positions()}
    windows = store.last_windows()
    stored = (f"{store.count('studies')} studies stored" if Path(settings.db).exists()
              else "not created yet: nothing has run")
    yield f"database: {settings.db} ({stored})"
    if invalid is not None:
        yield (f"queries: the YAML in {settings.queries} is invalid ({invalid}); showing what "
               "the database holds (`watcher validate` lists every error)")
    yield worker_line(store)
    held = store.held_records(states=("watching", "quarantined"))
    pairs = ([(q.id, name) for q in config.queries for name in q.sources] if config
             else list(positions))
    shared = shared_errors([positions[pair] for pair in pairs if pair in positions])
    for query_id, name in pairs:
        if not polled(name):
            yield f"{query_id} / {label(name)}: not polled (not supported yet)"
            continue
        p = positions.get((query_id, name))
        if not p:
            yield f"{query_id} / {label(name)}: never polled"
            continue
        last = windows.get((query_id, name))
        start, end = (last.start, last.end) if last else (None, p.window_end)
        window = f"window {start} to {end}" if start else f"window through {end or '-'}"
        line = (f"{query_id} / {label(name)}: last success {p.last_success or 'never'}"
                f", {window}")
        if p.corrections_at:
            line += f", corrections through {p.corrections_end} as of {p.corrections_at}"
        if p.last_error:
            error = ("the error below" if (name, p.last_error) in shared else p.last_error)
            line += f"; LAST ERROR {p.last_error_at}: {error}"
        yield line
        for record in held:
            if record.query_id == query_id and record.source == name:
                what = "QUARANTINED" if record.state == "quarantined" else "awaited"
                yield (f"    {what} {record.source_id}: {record.reason} (since "
                       f"{record.first_seen}, last tried {record.last_seen})")
    for (name, error), query_ids in shared.items():
        yield (f"LAST ERROR of {label(name)} for {len(query_ids)} queries "
               f"({', '.join(query_ids)}): {error}")
    for conflict in store.id_conflicts():
        yield (f"id conflict: {conflict.scheme}:{conflict.value} belongs to study "
               f"{conflict.owner_study} but {label(conflict.source)} record "
               f"{conflict.source_id} (study {conflict.claimed_by_study}) also claims it")
    yield from lookups.status_lines(store)
    if config is None:
        for name, count in sorted(store.pending_counts().items()):
            yield (f"destination {name}: {count} pending, last sent "
                   f"{store.last_digest(name)[0] or 'never'}")
        return
    yield from _destinations(config, store, settings)


def shared_errors(rows: list[PositionRow]) -> dict[tuple[str, str], list[str]]:
    """(source, last error) -> the queries whose last poll of that source failed with it, for
    each error met by more than one query: a source that is down fails every query alike."""
    found: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        if row.last_error:
            found.setdefault((row.source, row.last_error), []).append(row.query_id)
    return {key: ids for key, ids in found.items() if len(ids) > 1}


def _destinations(config: Config, store: Store, settings: Settings) -> Iterator[str]:
    pending = store.pending_counts()
    for name, dest in config.all_destinations().items():
        names = (name, *dest.renamed_from)  # old names: their history until a run moves it
        sent = max(filter(None, (store.last_digest(n)[0] for n in names)), default=None)
        sending = sum(store.outbox_states(n).get("sending", 0) for n in names)
        waiting = f" ({sending} of them 'sending', not confirmed delivered)" if sending else ""
        count = sum(pending.get(n, 0) for n in names)
        line = (f"destination {name} ({dest.kind}): {count} pending{waiting}, "
                f"last sent {sent or 'never'}; schedule "
                + (dest.schedule.describe() if dest.schedule else "none (`digest` sends it)"))
        missing = KINDS[dest.kind].missing(settings.destination(dest.kind))
        if missing:
            line += f"; CANNOT SEND: {missing}"
        error = last_error(store, dest)
        if error:
            line += f"; LAST ERROR: {error}"
        yield line
    for message in orphaned(config, store).values():
        yield f"ORPHANED: {message}"
    set_aside, maybe_sent = store.retired_counts(), store.retired_counts(maybe_sent=True)
    for name in config.retired:
        count = set_aside.get(name, 0) + pending.get(name, 0)
        unsure = maybe_sent.get(name, 0) + store.outbox_states(name).get("sending", 0)
        yield f"retired destination {name}: {count} item(s) set aside, never sent" + (
            f" again ({unsure} of them were being sent by an interrupted digest: they may be "
            "in it already)" if unsure else "")


def worker_line(store: Store) -> str:
    """Whether a `watcher serve` holds the database, and since when."""
    lease = store.lease()
    if lease is None:
        return "worker: none running (`watcher serve` gives its lease up when it stops)"
    line = (f"worker: {lease.holder} since {lease.since}, lease renewed "
            f"{lease.renewed}")
    if datetime.fromisoformat(lease.expires) <= utc_now():
        line += f"; STALE: expired {lease.expires}, is the worker running?"
    return line


# --- watcher health --------------------------------------------------------------------------

def problems(config: Config, store: Store, *, now: datetime, hours: float,
             settings: Settings | None = None) -> list[str]:
    """`watcher health`: one line per problem; empty when healthy.

    A problem is: a (query, source) whose last error is later than its last success, with that
    last success (or, if it never succeeded, its first failed poll) older than *hours*
    (WATCHER_HEALTH_FAILING_HOURS); a destination that lacks what it needs in this environment
    (with *settings*: a token, an SMTP host), or whose last delivery attempt failed (items are
    pending with an error: a digest that reached it since would have carried them; or items an
    interrupted digest left 'sending' could not be checked against the channel, which holds
    back every later digest); items pending for a destination gone from the YAML (see
    health.orphaned); the database's storage: a run that could not write it (remembered beside
    it, see watcher.db.storage), or less than WATCHER_HEALTH_MIN_FREE_MB free on its file
    system; a worker lease that has expired (only when a lease exists: a worker that stopped
    cleanly gives its lease up), or that was renewed by a clock ahead of this one."""
    lines = [f"source failing: {f.message}" for f in failing_sources(config, store, now=now,
                                                                       hours=hours)]
    for name, destination in config.all_destinations().items():
        missing = (KINDS[destination.kind].missing(settings.destination(destination.kind))
                   if settings else None)
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
    if lease and datetime.fromisoformat(lease.expires) <= now:
        lines.append(f"worker lease is stale: held by {lease.holder} (pid {lease.pid} on "
                     f"{lease.host}), last renewed {lease.renewed}, expired "
                     f"{lease.expires}; is the worker running?")
    elif lease and datetime.fromisoformat(lease.renewed) > now + CLOCK_SKEW:
        lines.append(f"worker lease renewed in the future: held by {lease.holder}, last "
                     f"renewed {lease.renewed}, now {stamp(now)}; the clocks of "
                     f"{lease.host} and this machine disagree, and a stopped worker's lease "
                     f"would block the next one until {lease.expires}")
    return lines
