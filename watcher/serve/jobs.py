"""What `watcher serve` does at each step, as plain functions: each opens the database, does
its work through the library core, logs what it did and returns an ``Outcome``. None of them
knows about APScheduler; the worker turns outcomes into retries and notices."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from .. import health, pipeline
from ..clock import stamp, utc_now
from ..config import Config
from ..db import Store, storage
from ..errors import StorageError, failure_line, named
from ..events import QueryHealth
from ..schedules import Schedule
from ..settings import Settings

log = logging.getLogger("watcher.serve")

OPS = health.OPS


@dataclass(frozen=True)
class Outcome:
    """How a job went: *error* is the first thing that failed (None when all went well);
    *retry* says trying again soon may help (a digest that could not be sent)."""

    error: str | None = None
    retry: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@contextlib.contextmanager
def digest_stream(log_format: str) -> Iterator[TextIO]:
    """Where a terminal destination's digest is written: stdout as it is, or, with JSON
    logs, one log line holding it, so that every line on stdout stays a JSON object."""
    if log_format != "json":
        yield sys.stdout
        return
    buffer = io.StringIO()
    try:
        yield buffer
    finally:
        if buffer.getvalue().strip():
            log.info("%s", buffer.getvalue().rstrip("\n"))


# --- the jobs ------------------------------------------------------------------------------

def poll(cfg: Config, settings: Settings) -> Outcome:
    """Poll every query, then note sources failing longer than WATCHER_HEALTH_FAILING_HOURS."""
    with Store(settings.db) as store:
        report = pipeline.poll_run(cfg, store, settings)
        new = sum(o.new for o in report.outcomes)
        log.info("polled %d query/source pair(s): %d new, %d failed",
                 len(report.outcomes), new, len(report.failures))
        errors = report.error_lines()
        for line in errors:
            log.error("%s", line)
        notices = health.report_failing_sources(
            cfg, store, now=utc_now(), hours=settings.health_failing_hours)
        if notices:
            log.warning("%d source(s) failing longer than %g hours: noted for the next "
                        "digest", notices, settings.health_failing_hours)
    return Outcome(error=errors[0] if errors else None)


def digest(cfg: Config, settings: Settings, destination: str) -> Outcome:
    """Poll the queries routed to *destination*, then send its digest. A digest that could
    not be sent (or a full disk) asks for a retry; one that cannot send at all does not."""
    queries = [q.id for q in cfg.queries if destination in q.destinations]
    with Store(settings.db) as store:
        try:
            if queries:
                with digest_stream(settings.log_format) as stream:
                    report = pipeline.run_once(cfg, store, settings, query_ids=queries,
                                               stream=stream, command=f"serve {destination}",
                                               destinations=[destination],
                                               preview_unsendable=False, scheduled=True)
                failures, deliveries = report.poll.error_lines(), report.deliveries
            else:
                with storage.guarded(store.path, stamp(utc_now())), \
                        digest_stream(settings.log_format) as stream:
                    deliveries = pipeline.deliver(cfg, store, settings, names=[destination],
                                                  stream=stream, scheduled=True)
                failures = []
        except StorageError as exc:  # a full disk: nothing more is sent; retried as a failure
            log.error("%s: %s", destination, exc)
            return Outcome(error=str(exc), retry=True)
    for line in failures:
        log.error("%s", line)
    for outcome in deliveries:
        if outcome.error:
            log.error("%s", named(outcome.destination, outcome.error))
        elif outcome.skipped:  # cannot send at all (a setting missing): no retry helps
            log.warning("%s: digest not sent (%s); %d item(s) stay pending",
                        outcome.destination, outcome.skipped, outcome.items)
        else:
            log.info("%s: digest done (%d item(s))", outcome.destination, outcome.items)
    failed = [o.error for o in deliveries if o.destination == destination and o.error]
    skipped = [o.skipped for o in deliveries if o.skipped]
    error = next(iter(failed + failures + skipped), None)
    if settings.archive_dir and any(o.sent for o in deliveries):
        rebuild_archive(cfg, settings)
    return Outcome(error=error, retry=bool(failed))


def rebuild_archive(cfg: Config, settings: Settings) -> None:
    """Write the static archive into WATCHER_ARCHIVE_DIR after a digest went out. A failure
    is logged, never the digest's: what was sent stays sent, and the next digest tries again."""
    from ..archive.writer import write_archive

    folder = Path(settings.archive_dir or "")
    try:
        with Store.reading(settings.db) as store:
            written = write_archive(store, folder, cfg.conditions(), config=cfg)
    except Exception as exc:  # a broken archive must not stop the worker
        log.error("%s", failure_line(exc, f"archive not rebuilt in {folder}"))
        return
    log.info("archive rebuilt in %s: %d studies, %d digest(s)", folder, written.studies,
             written.digests)


# --- the ops destination -------------------------------------------------------------------

def notify_ops(cfg: Config, settings: Settings, message: str, edit: str = "") -> Outcome:
    """Tell the `ops` destination (if configured) about an invalid edit, once per edit:
    *edit* tells edits apart, so the same mistake made again after a fix is told again."""
    if OPS not in cfg.destinations:
        return Outcome()
    now = utc_now()
    try:
        with Store(settings.db) as store, digest_stream(settings.log_format) as stream:
            digest = hashlib.sha256((message + edit).encode()).hexdigest()[:16]
            event = QueryHealth.config_error(digest, message)
            outcomes = pipeline.notify(cfg, store, settings, event, OPS, now=now, stream=stream)
        return _ops_told(outcomes)
    except Exception as exc:
        log.error("could not tell %s: %s", OPS, exc)
        return Outcome(error=str(exc))


def send_ops(cfg: Config, settings: Settings) -> Outcome:
    """Send the `ops` destination what is pending for it, now."""
    with Store(settings.db) as store, digest_stream(settings.log_format) as stream:
        outcomes = pipeline.deliver(cfg, store, settings, names=[OPS], stream=stream)
    return _ops_told(outcomes)


def _ops_told(outcomes: list[pipeline.DeliveryOutcome]) -> Outcome:
    errors = [outcome.error for outcome in outcomes if outcome.error]
    for error in errors:
        log.error("%s", named(OPS, error))
    return Outcome(error=errors[0] if errors else None)


def ops_pending(cfg: Config, settings: Settings) -> int | None:
    """Items pending for an `ops` destination without a schedule of its own (None when
    there is none): what a job queues for it is sent when the job ends, since `serve`
    never sends an unscheduled destination otherwise."""
    ops = cfg.destinations.get(OPS)
    if ops is None or ops.schedule is not None:
        return None
    with Store(settings.db) as store:
        return store.pending_counts().get(OPS, 0)


# --- what the schedules start from ---------------------------------------------------------

def adopt_renames(cfg: Config, settings: Settings) -> None:
    """A renamed destination takes over its old names' history (renamed_from) before its
    schedule is read from it: its last digest and firings are the old name's."""
    if not cfg.renames():
        return
    try:
        with Store(settings.db) as store:
            store.adopt_renames(cfg.renames())
    except Exception as exc:  # the next poll or digest adopts them before it runs
        log.error("could not move renamed destinations' items yet: %s", exc)


def last_sent(settings: Settings, destination: str) -> datetime | None:
    """When *destination*'s last digest reached it (an interval counts from there)."""
    with Store(settings.db) as store:
        sent, _ = store.last_digest(destination)
    return _utc(sent) if sent else None


def due_now(cfg: Config, settings: Settings, names: set[str] | None = None) -> list[str]:
    """The scheduled destinations (of *names*, default all) whose digest is due now: a firing
    missed while no worker ran (or under the name it had before), or the rest of a digest only
    partly sent (its retry lived in the last worker's memory)."""
    due = []
    with Store(settings.db) as store:
        now = utc_now()
        for name, dest in cfg.destinations.items():
            if not dest.schedule or (names is not None and name not in names):
                continue
            sent, _ = store.last_digest(name)
            if missed_digest(dest.schedule, _last_fired(store, name, sent), now):
                log.warning("%s: digest missed while %s (last sent %s); sending it now",
                            name, "the worker was down" if names is None else
                            "it had its old name", sent)
                due.append(name)
            elif store.left_partial(name):  # its retry lived in the last worker's memory
                log.warning("%s: the rest of a digest only partly sent is still pending;"
                            " sending it now", name)
                due.append(name)
    return due


def missed_digest(schedule: Schedule, last_sent: str | None, now: datetime) -> bool:
    """Whether a firing of *schedule* fell between the last digest sent and *now* (the worker
    was down). A destination never sent to has missed nothing: it waits for its schedule."""
    if not last_sent:
        return False
    after = _utc(last_sent)
    fire = schedule.next_fire(after)
    return fire is not None and after < fire <= now


def _utc(stamped: str) -> datetime:
    moment = datetime.fromisoformat(stamped)
    if moment.tzinfo is None:  # written by hand (sqlite's datetime()): UTC, as ours are
        moment = moment.replace(tzinfo=UTC)
    return moment


def _last_fired(store: Store, destination: str, sent: str | None) -> str | None:
    """When *destination*'s schedule last fired and did its work: its last digest sent, or a
    later scheduled job that completed with nothing to send (Slack skips an empty digest, so
    only the job's run records that firing). A job that failed did not: it is caught up."""
    fired = store.last_run_not_sending(f"serve {destination}", destination)
    if not sent or not fired:
        return sent or fired
    return max(sent, fired, key=_utc)


# --- a stop that could not wait ------------------------------------------------------------

def close_abandoned(cfg: Config | None, settings: Settings, since: str) -> None:
    """Close what the abandoned step left open, so the database tells the truth: its run
    ends 'interrupted' (as after Ctrl-C) and a digest it was sending is closed, its unsent
    items back to pending. A Slack bot digest's items stay 'sending' instead: its message
    may have been posted, and the next digest checks the channel for it before resending.
    The step's thread is still running; the process exits right after this."""
    note = f"abandoned: the step outlived the stop grace ({settings.stop_grace:g}s)"
    destinations = cfg.destinations if cfg else {}
    kinds = {name: destination.kind for name, destination in destinations.items()}
    try:
        with Store(settings.db) as store:
            store.wait_for_locks_at_most(2000)  # stay inside the platform's wait
            now = stamp(utc_now())
            runs = store.runs_left_running(since)
            for run_id in runs:
                store.finish_run(run_id, status="interrupted", now=now, summary={"error": note})
            for digest_id, destination in store.digests_left_sending(since):
                if kinds.get(destination) == "slack":
                    log.warning("%s: digest %d was being sent; the next digest checks the "
                                "channel before sending its items again", destination, digest_id)
                    continue
                store.finish_digest(digest_id, now=now,
                                    error="the worker stopped before this item was sent")
            log.warning("abandoned step recorded: %d run(s) marked interrupted", len(runs))
    except Exception as exc:  # the next start still finds and re-offers what is open
        log.error("could not record the abandoned step: %s", exc)
