"""The library core's front door: the CLI, the scheduler, the demo and the tests call these.

Polling lives in :mod:`watcher.polling`, delivery in :mod:`watcher.delivery`; this module runs
them together as the main job and keeps the run log honest (a run is never left "running").
It is also the one layer that takes the run lock (``Store.exclusive``, see watcher.db.lock):
each entry point here holds it around everything it does, once; nothing below takes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from . import delivery, polling
from .clock import stamp, utc_now
from .config import Config
from .db import Store, storage
from .delivery import DeliveryOutcome, build_digest, preview
from .destinations import Sender
from .events import Event
from .http import client_for
from .lookups import step as lookups
from .polling import PollOutcome, PollProgress, PollReport, poll_one
from .settings import Settings
from .sources import Source

__all__ = ["DeliveryOutcome", "PollOutcome", "PollReport", "RunReport", "build_digest",
           "client_for", "deliver", "notify", "poll", "poll_one", "poll_run", "preview",
           "reparse", "run_once", "stamp", "utc_now"]


@dataclass
class RunReport:
    poll: PollReport
    deliveries: list[DeliveryOutcome]
    #: The look-ups after the polls (watcher.lookups): a failing one is retried next run and
    #: does not fail the run.
    lookups: lookups.Lookups = field(default_factory=lookups.Lookups)

    @property
    def ok(self) -> bool:
        return not self.poll.failures and not any(d.error for d in self.deliveries)


def run_once(config: Config, store: Store, settings: Settings, *, now: datetime | None = None,
             query_ids: list[str] | None = None, stream: TextIO | None = None,
             sources: dict[str, Source] | None = None, command: str = "run --once",
             destinations: list[str] | None = None, senders: dict[str, Sender] | None = None,
             preview_unsendable: bool = True,
             progress: PollProgress | None = None, dry_run: bool = False,
             scheduled: bool = False) -> RunReport:
    """Poll, store, queue, then deliver pending digests (to *destinations*, default all).
    *dry_run*: poll without secrets and send nothing (*store* should be a copy): each
    destination is reported as not sent because of the dry run, not for a missing token.
    *scheduled*: a schedule fired it (a quiet Slack digest is then a heartbeat)."""
    now = now or utc_now()
    for query_id in query_ids or []:
        config.query(query_id)  # unknown ids are a usage error before anything is recorded
    with storage.guarded(store.path, stamp(now)):  # a full disk is named as such, once
        with store.exclusive():
            run_id = store.start_run(command, stamp(now))
            try:
                poll_report = polling.poll(config, store,
                                           settings.without_secrets() if dry_run else settings,
                                           now=now,
                                           query_ids=query_ids, sources=sources, run_id=run_id,
                                           progress=progress)
                looked = lookups.run(config, store, settings, now=now)
                deliveries = delivery.deliver(config, store, settings, now=now, stream=stream,
                                              names=destinations, senders=senders,
                                              preview_unsendable=preview_unsendable,
                                              dry_run=dry_run, scheduled=scheduled)
            except BaseException as exc:
                _abandon(store, run_id, exc)
                raise
        report = RunReport(poll_report, deliveries, looked)
        store.finish_run(run_id, status="ok" if report.ok else "failed", now=stamp(utc_now()),
                         summary={
                             "polls": len(poll_report.outcomes),
                             "failed": len(poll_report.failures),
                             "new": sum(o.new for o in poll_report.outcomes),
                             "sent": {d.destination: d.items for d in deliveries if d.sent},
                         })
    storage.forget(store.path)  # everything was recorded: the database can be written again
    return report


def poll_run(config: Config, store: Store, settings: Settings, *,
             query_ids: list[str] | None = None, now: datetime | None = None,
             progress: PollProgress | None = None) -> PollReport:
    """`watcher poll`: poll and queue only, as one logged run."""
    now = now or utc_now()
    for query_id in query_ids or []:
        config.query(query_id)
    with storage.guarded(store.path, stamp(now)):
        with store.exclusive():
            run_id = store.start_run("poll", stamp(now))
            try:
                report = polling.poll(config, store, settings, now=now, query_ids=query_ids,
                                      run_id=run_id, progress=progress)
                lookups.run(config, store, settings, now=now)
            except BaseException as exc:
                _abandon(store, run_id, exc)
                raise
        store.finish_run(run_id, status="failed" if report.failures else "ok",
                         now=stamp(utc_now()),
                         summary={"polls": len(report.outcomes),
                                  "failed": len(report.failures)})
    storage.forget(store.path)
    return report


def poll(config: Config, store: Store, settings: Settings, **options: Any) -> PollReport:
    """Poll without logging a run (see watcher.polling.poll for *options*), under the lock."""
    for query_id in options.get("query_ids") or []:
        config.query(query_id)  # unknown ids are a usage error before waiting for the lock
    with store.exclusive():
        return polling.poll(config, store, settings, **options)


def deliver(config: Config, store: Store, settings: Settings,
            **options: Any) -> list[DeliveryOutcome]:
    """`watcher digest`: send pending digests (see watcher.delivery.deliver for *options*),
    under the run lock: serve and a hand-run command never send the same digest twice."""
    delivery.check_names(config, options.get("names"))  # a typo is told without waiting
    with store.exclusive():
        return delivery.deliver(config, store, settings, **options)


def notify(config: Config, store: Store, settings: Settings, event: Event, destination: str, *,
           now: datetime | None = None, stream: TextIO | None = None) -> list[DeliveryOutcome]:
    """Record *event* once (by its key), queue it for *destination* if it is new, and send
    *destination* what it has pending, under one hold of the run lock (`serve` telling ops
    of an invalid edit of the queries)."""
    when = stamp(now or utc_now())
    with store.exclusive():
        with store.transaction():
            event_id, created = store.add_event(event, when)
            if created:
                store.queue(destination, event_id, when)
        return delivery.deliver(config, store, settings, names=[destination], stream=stream)


def reparse(config: Config, store: Store, **options: Any) -> dict[str, int]:
    """`watcher reparse` (see watcher.polling.reparse), under the run lock."""
    with store.exclusive():
        return polling.reparse(config, store, **options)


def _abandon(store: Store, run_id: int, exc: BaseException) -> None:
    """Ctrl-C, SIGTERM, a full disk or a bug: mark the run so it is never left 'running'. On a
    full disk even that may fail: the run's own error is then the one reported, and the run
    row stays 'running' (nothing reads a run's status to decide what to do)."""
    status = "interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) else "failed"
    cause = storage.storage_cause(exc)
    summary = {"error": type(exc).__name__, **({"storage": cause} if cause else {})}
    try:
        store.finish_run(run_id, status=status, now=stamp(utc_now()), summary=summary)
    except Exception as again:
        if storage.storage_cause(again) is None:
            raise
