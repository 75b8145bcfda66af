"""`watcher serve`: a thin APScheduler loop over the library core, built to run unattended.

Jobs, rebuilt from the YAML at start and whenever it changes:
- ``poll``: every WATCHER_POLL_EVERY minutes (default 180, first run at start; a fraction such
  as 0.5 is 30 s), poll every query, so digests are never built from stale data and a missed
  run is caught up by the next one (positions live in the database);
- ``digest:NAME`` for each destination with a schedule (cron, or ``every: 6h`` counted from the
  last digest sent): poll the queries routed to it, then send its digest. A digest whose last
  firing was missed while the worker was down (the last digest sent, and the last such job that
  completed with nothing to send, are older than the schedule's previous fire time) is sent at
  start-up.
- ``retry:NAME``: a scheduled digest that could not be sent (Slack down for a minute) is tried
  again after WATCHER_DIGEST_RETRY seconds (default 300), then twice as long each time up to an
  hour, until it goes out or its next firing comes: a weekly digest is not lost for a week.

One job runs at a time (one executor thread), each job once at a time, late firings coalesce
into one and run however late (misfire grace None: a weekly digest delayed by a long poll is
still sent). One worker per database: a lease in the database, renewed in the background.
SIGTERM/SIGINT let the current step finish (or abandon it after WATCHER_STOP_GRACE seconds,
default 20: the core commits per item, so nothing is half-recorded, and the abandoned run is
marked interrupted, its digest's unsent items pending again) and exit 0; SIGHUP reloads the
YAML. An invalid edit is logged once (and sent to a destination named ``ops``, if configured)
while the last valid configuration keeps running.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from . import config as config_module
from . import health, pipeline
from .config import Config
from .db import Store, storage
from .db.lease import holder_gone, process_space
from .errors import ConfigError, StorageError, WatcherError
from .models import Event
from .redact import install_log_scrubbing
from .runtime import named, stamp, utc_now
from .schedules import Schedule
from .settings import Settings

log = logging.getLogger(__name__)

#: Seconds a stop waits for the current step before abandoning it (well inside 30 s); the
#: default of WATCHER_STOP_GRACE.
STOP_GRACE = Settings.stop_grace
OPS = health.OPS


# --- logging -------------------------------------------------------------------------------

class JsonFormatter(logging.Formatter):
    """One JSON object per line (WATCHER_LOG_FORMAT=json), for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info or record.exc_text:
            entry["traceback"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(log_format: str, debug: bool = False) -> None:
    """serve logs to stdout, one line per event, scrubbed of secrets."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, handlers=[handler],
                        force=True)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    install_log_scrubbing()


# --- schedules -----------------------------------------------------------------------------

def missed_digest(schedule: Schedule, last_sent: str | None, now: datetime) -> bool:
    """Whether a firing of *schedule* fell between the last digest sent and *now* (the worker
    was down). A destination never sent to has missed nothing: it waits for its schedule."""
    if not last_sent:
        return False
    after = _utc(last_sent)
    fire = schedule.next_fire(after)
    return fire is not None and after < fire <= now


def _duration(seconds: float) -> str:
    """'5 min', '1 h', '2 s': how long until a retry, as a log line says it."""
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


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


def _snapshot(folder: str) -> dict[str, tuple[int, int]]:
    """(mtime, size) of each YAML file: a change means reload."""
    path = Path(folder)
    files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")) if path.is_dir() else []
    found = {}
    for file in files:
        try:
            info = file.stat()
        except OSError:
            continue
        found[str(file)] = (info.st_mtime_ns, info.st_size)
    return found


def _left_open(store: Store, table: str, where: str, since: str, *columns: str) -> list[tuple]:
    """Rows of *table* matching *where* that were started at or after *since* (by this worker:
    it held the run lock since then, so no other process started any)."""
    wanted = ", ".join(("id", *columns))
    return store.conn.execute(f"SELECT {wanted} FROM {table} WHERE {where} AND started >= ?"
                              " ORDER BY id", (since,)).fetchall()


# --- the worker ----------------------------------------------------------------------------

class Worker:
    """One `watcher serve` process: its lease, its configuration and its scheduler."""

    def __init__(self, settings: Settings):
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        self.settings = settings
        self.host = socket.gethostname()
        self.pid = os.getpid()
        # pid and host alone are not unique: containers often run `serve` as pid 1 under the
        # same host name, and each must see the other's lease as another worker's; the process
        # space (boot and PID namespace) tells a later worker whether the pid is one it can see
        space = process_space()
        self.holder = (f"serve pid {self.pid} on {self.host} ({secrets.token_hex(3)}"
                       + (f", ns {space})" if space else ")"))
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC")
        self.config: Config | None = None
        self.snapshot: dict[str, tuple[int, int]] = {}
        self.bad_snapshot: dict[str, tuple[int, int]] | None = None
        self.stopping = threading.Event()
        self.step = threading.Lock()  # held while a job runs
        self.reload_lock = threading.Lock()
        self.loop_over = threading.Event()  # run() has left (or skipped) the scheduler loop
        self.started = stamp(utc_now())
        self.retries: dict[str, int] = {}  # destination -> failed sends in a row

    # -- lease --------------------------------------------------------------------------

    def take_lease(self) -> None:
        store = Store(self.settings.db)
        try:
            previous = store.lease()
            gone = previous is not None and holder_gone(previous, self.host)
            other = store.take_lease(self.holder, host=self.host, pid=self.pid, now=utc_now(),
                                     ttl=self.settings.lease_seconds,
                                     dead=previous["holder"] if gone and previous else None)
        finally:
            store.close()
        if other:
            raise WatcherError(f"another worker is running: {other['holder']} (since "
                               f"{other['since']}, lease renewed {other['renewed']}, expires "
                               f"{other['expires']})")
        if previous and previous["holder"] != self.holder:
            log.warning("took over the worker lease from %s (%s)", previous["holder"],
                        f"its process is gone from this host; the lease would have expired "
                        f"{previous['expires']}" if gone else f"expired {previous['expires']}")
        log.info("worker lease taken: %s", self.holder)

    def keep_lease(self) -> None:
        """Renew the lease every quarter of its life until stopped (its own connection)."""
        interval = self.settings.lease_seconds / 4
        store = Store(self.settings.db)
        try:
            while not self.stopping.wait(interval):
                try:
                    if not store.renew_lease(self.holder, now=utc_now(),
                                             ttl=self.settings.lease_seconds):
                        log.error("worker lease lost to another worker; stopping")
                        os.kill(self.pid, signal.SIGTERM)
                        return
                except Exception as exc:  # a busy database: try again next time
                    log.warning("could not renew the worker lease: %s", exc)
        finally:
            store.close()

    def release_lease(self) -> None:
        store = Store(self.settings.db)
        try:
            store.release_lease(self.holder)
        finally:
            store.close()

    # -- configuration ------------------------------------------------------------------

    def reload(self, force: bool = False) -> None:
        """Load the YAML if it changed (or *force*); keep the last valid one if it is invalid."""
        with self.reload_lock:
            snapshot = _snapshot(self.settings.queries)
            if not force and self.config is not None and snapshot == self.snapshot:
                return
            if self.config is not None and snapshot == self.bad_snapshot:
                return  # that invalid edit was reported already
            try:
                cfg = config_module.load(self.settings.queries)
            except ConfigError as exc:
                if self.config is None:
                    raise
                self.bad_snapshot = snapshot
                message = ("queries not reloaded, the last valid configuration keeps running: "
                           + str(exc).replace("\n", "; "))
                log.error("%s", message)
                self.notify_ops(message, edit=repr(sorted(snapshot.items())))
                return
            first = self.config is None
            self.config, self.snapshot, self.bad_snapshot = cfg, snapshot, None
            self.adopt_renames(cfg)
            added = self.schedule_jobs(cfg)
            if not first:
                log.info("queries reloaded: %d queries, %d destinations", len(cfg.queries),
                         len(cfg.destinations))
                # a destination renamed while this worker runs goes on from the old name's
                # history: a firing it missed, or a retry the old name's job was waiting for
                renamed = {name for name in added if cfg.destinations[name].renamed_from}
                if renamed:
                    try:
                        self.catch_up(renamed)
                    except Exception:  # its schedule still runs; the traceback goes to the log
                        log.exception("could not check %s for a missed digest",
                                      ", ".join(sorted(renamed)))

    def adopt_renames(self, cfg: Config) -> None:
        """A renamed destination takes over its old names' history (renamed_from) before its
        schedule is read from it: its last digest and firings are the old name's."""
        if not cfg.renames():
            return
        store = Store(self.settings.db)
        try:
            store.adopt_renames(cfg.renames())
        except Exception as exc:  # the next poll or digest adopts them before it runs
            log.error("could not move renamed destinations' items yet: %s", exc)
        finally:
            store.close()

    def notify_ops(self, message: str, edit: str = "") -> None:
        """Tell the `ops` destination (if configured) about an invalid edit, once per edit:
        *edit* tells edits apart, so the same mistake made again after a fix is told again."""
        cfg = self.config
        if cfg is None or OPS not in cfg.destinations:
            return
        now = utc_now()
        store = Store(self.settings.db)
        try:
            with store.exclusive():
                with store.transaction():
                    digest = hashlib.sha256((message + edit).encode()).hexdigest()[:16]
                    event = Event(f"config_error:{digest}",
                                  "query_health", None, None, {"message": message})
                    event_id, created = store.add_event(event, stamp(now))
                    if created:
                        store.queue(OPS, event_id, stamp(now))
                self.send_ops(cfg, store)
        except Exception as exc:
            log.error("could not tell %s: %s", OPS, exc)
        finally:
            store.close()

    def send_ops(self, cfg: Config, store: Store) -> None:
        """Send the `ops` destination what is pending for it, now (under the run lock)."""
        with store.exclusive(), self.digest_stream() as stream:
            outcomes = pipeline.deliver(cfg, store, self.settings, names=[OPS], stream=stream)
        for outcome in outcomes:
            if outcome.error:
                log.error("%s", named(OPS, outcome.error))

    def ops_pending(self, cfg: Config) -> int | None:
        """Items pending for an `ops` destination without a schedule of its own (None when
        there is none): what a job queues for it is sent when the job ends, since `serve`
        never sends an unscheduled destination otherwise."""
        ops = cfg.destinations.get(OPS)
        if ops is None or ops.schedule is not None:
            return None
        store = Store(self.settings.db)
        try:
            return store.pending_counts().get(OPS, 0)
        finally:
            store.close()

    def schedule_jobs(self, cfg: Config) -> set[str]:
        """(Re)build the jobs from *cfg*: the poll job and one digest job per schedule.
        Returns the destinations whose digest job was (re)made."""
        from apscheduler.triggers.interval import IntervalTrigger

        if self.scheduler.get_job("poll") is None:
            self.scheduler.add_job(self.run_job, IntervalTrigger(
                seconds=self.settings.poll_every * 60), args=("poll",), id="poll",
                name="poll every query", next_run_time=utc_now())
            log.info("scheduled poll: every %g minutes", self.settings.poll_every)
        wanted = {name: d.schedule for name, d in cfg.destinations.items() if d.schedule}
        for job in self.scheduler.get_jobs():
            kind, _, name = job.id.partition(":")
            if kind in ("digest", "retry") and name not in wanted:
                job.remove()
                if kind == "digest":
                    log.info("unscheduled %s", name)
        added = set()
        for name, schedule in wanted.items():
            job = self.scheduler.get_job(f"digest:{name}")
            if job is not None and job.kwargs.get("schedule") == schedule:
                continue
            added.add(name)
            anchor = self.last_sent(name) if schedule.every else None
            self.scheduler.add_job(self.run_job, schedule.trigger(anchor),
                                   args=(f"digest:{name}",), kwargs={"schedule": schedule},
                                   id=f"digest:{name}", name=f"poll and send {name}",
                                   replace_existing=True)
            log.info("scheduled %s: %s", name, schedule.describe())
        for query in cfg.queries:
            if not set(wanted) & set(query.destinations):
                log.info("query %s routes to no scheduled destination: polled by the poll job"
                         " only, its digest is sent by `watcher digest`", query.id)
        return added

    def last_sent(self, destination: str) -> datetime | None:
        """When *destination*'s last digest reached it (an interval counts from there)."""
        store = Store(self.settings.db)
        try:
            sent, _ = store.last_digest(destination)
        finally:
            store.close()
        return _utc(sent) if sent else None

    def catch_up(self, names: set[str] | None = None) -> None:
        """Send now each digest (of *names*, default all) whose firing was missed while no
        worker ran (or under the name it had before)."""
        assert self.config is not None
        store = Store(self.settings.db)
        try:
            now = utc_now()
            for name, dest in self.config.destinations.items():
                if not dest.schedule or (names is not None and name not in names):
                    continue
                sent, _ = store.last_digest(name)
                if missed_digest(dest.schedule, _last_fired(store, name, sent), now):
                    log.warning("%s: digest missed while %s (last sent %s); sending it now",
                                name, "the worker was down" if names is None else
                                "it had its old name", sent)
                    self.scheduler.modify_job(f"digest:{name}", next_run_time=now)
                elif store.left_partial(name):  # its retry lived in the last worker's memory
                    log.warning("%s: the rest of a digest only partly sent is still pending;"
                                " sending it now", name)
                    self.scheduler.modify_job(f"digest:{name}", next_run_time=now)
        finally:
            store.close()

    @contextlib.contextmanager
    def digest_stream(self) -> Iterator[TextIO]:
        """Where a terminal destination's digest is written: stdout as it is, or, with JSON
        logs, one log line holding it, so that every line on stdout stays a JSON object."""
        if self.settings.log_format != "json":
            yield sys.stdout
            return
        buffer = io.StringIO()
        try:
            yield buffer
        finally:
            if buffer.getvalue().strip():
                log.info("%s", buffer.getvalue().rstrip("\n"))

    # -- jobs ---------------------------------------------------------------------------

    def run_job(self, what: str, schedule: Schedule | None = None) -> None:
        """One step: reload the YAML if it changed, then poll (and send); never raise."""
        if self.stopping.is_set():
            return
        with self.step:
            try:
                self.reload()
                cfg = self.config
                assert cfg is not None
                before = self.ops_pending(cfg)
                kind, _, name = what.partition(":")
                if what == "poll":
                    self.poll(cfg)
                elif self.still_scheduled(cfg, name, kind):
                    self.digest(cfg, name)
                after = self.ops_pending(cfg)
                if before is not None and after is not None and after > before:
                    store = Store(self.settings.db)  # a notice for ops: tell it now, once
                    try:
                        self.send_ops(cfg, store)
                    finally:
                        store.close()
            except WatcherError as exc:
                log.error("%s: %s", what, exc)
            except Exception:  # keep the scheduler alive; the traceback goes to the log
                log.exception("job %s failed", what)

    def still_scheduled(self, cfg: Config, destination: str, kind: str) -> bool:
        """Whether the (just reloaded) queries still schedule *destination*: an edit can remove
        or unschedule it after its firing or retry was due, and serve never sends a destination
        without a schedule (nor one that no longer exists)."""
        dest = cfg.destinations.get(destination)
        if dest is not None and dest.schedule is not None:
            return True
        self.retries.pop(destination, None)
        log.info("%s: %s dropped: the queries no longer schedule it", destination,
                 "retry" if kind == "retry" else "firing")
        return False

    def poll(self, cfg: Config) -> None:
        store = Store(self.settings.db)
        try:
            report = pipeline.poll_run(cfg, store, self.settings)
            new = sum(o.new for o in report.outcomes)
            log.info("polled %d query/source pair(s): %d new, %d failed",
                     len(report.outcomes), new, len(report.failures))
            for line in report.error_lines():
                log.error("%s", line)
            notices = health.report_failing_sources(
                cfg, store, now=utc_now(), hours=self.settings.health_failing_hours)
            if notices:
                log.warning("%d source(s) failing longer than %g hours: noted for the next "
                            "digest", notices, self.settings.health_failing_hours)
        finally:
            store.close()

    def digest(self, cfg: Config, destination: str) -> None:
        queries = [q.id for q in cfg.queries if destination in q.destinations]
        store = Store(self.settings.db)
        try:
            if queries:
                with self.digest_stream() as stream:
                    report = pipeline.run_once(cfg, store, self.settings, query_ids=queries,
                                               stream=stream, command=f"serve {destination}",
                                               destinations=[destination],
                                               preview_unsendable=False)
                failures, deliveries = report.poll.error_lines(), report.deliveries
            else:
                with storage.guarded(store.path, stamp(utc_now())), store.exclusive(), \
                        self.digest_stream() as stream:
                    deliveries = pipeline.deliver(cfg, store, self.settings,
                                                  names=[destination], stream=stream)
                failures = []
        except StorageError as exc:  # a full disk: nothing more is sent; retried as a failure
            log.error("%s: %s", destination, exc)
            self.retry_if_failed(cfg, destination, True)
            return
        finally:
            store.close()
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
        self.retry_if_failed(cfg, destination,
                             any(o.error for o in deliveries if o.destination == destination))

    def retry_if_failed(self, cfg: Config, destination: str, failed: bool) -> None:
        """Try a digest that could not be sent again: after WATCHER_DIGEST_RETRY seconds, then
        twice as long each time (at most an hour), unless its next firing comes first."""
        from apscheduler.triggers.date import DateTrigger

        if not failed:
            self.retries.pop(destination, None)
            return
        dest = cfg.destinations.get(destination)
        if dest is None or dest.schedule is None or not self.scheduler.running:
            return
        attempt = self.retries[destination] = self.retries.get(destination, 0) + 1
        delay = min(self.settings.digest_retry * 2 ** (attempt - 1), 3600.0)
        when = utc_now() + timedelta(seconds=delay)
        firing = self.scheduler.get_job(f"digest:{destination}")
        upcoming = getattr(firing, "next_run_time", None)
        if upcoming is not None and upcoming <= when:
            log.warning("%s: digest not sent; its next firing tries again (%s)", destination,
                        stamp(upcoming))
            return
        self.scheduler.add_job(self.run_job, DateTrigger(when), args=(f"retry:{destination}",),
                               id=f"retry:{destination}", name=f"send {destination} again",
                               replace_existing=True)
        log.warning("%s: digest not sent; trying again in %s (attempt %d)", destination,
                    _duration(delay), attempt + 1)

    # -- running ------------------------------------------------------------------------

    def run(self) -> None:
        self.started = stamp(utc_now())  # what this worker began is what it may close
        # Handlers first: a stop while the lease is being taken must give it up, not kill the
        # process with the lease held (the next worker would be refused until it expires).
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, self._hangup)
        self.reload(force=True)  # an invalid configuration at start is an error (exit 2)
        self.take_lease()
        keeper = threading.Thread(target=self.keep_lease, name="lease", daemon=True)
        keeper.start()
        try:
            try:
                self.catch_up()
            except Exception:  # the schedules still run; the traceback goes to the log
                log.exception("could not check for missed digests")
            try:
                if not self.stopping.is_set():
                    self.scheduler.start()  # returns once _stop has shut it down
            finally:
                self.loop_over.set()
            if not self.step.acquire(timeout=self.settings.stop_grace):
                log.warning("the current step did not finish within %gs: abandoning it; what "
                            "it had not recorded stays pending", self.settings.stop_grace)
                self.abandon()
                self.release_lease()
                logging.shutdown()
                sys.stdout.flush()
                os._exit(0)  # the job thread cannot be interrupted; SQLite rolls it back
        finally:
            self.stopping.set()
            self.release_lease()
        log.info("stopped")

    def abandon(self) -> None:
        """Close what the abandoned step left open, so the database tells the truth: its run
        ends 'interrupted' (as after Ctrl-C) and a digest it was sending is closed, its unsent
        items back to pending. A Slack bot digest's items stay 'sending' instead: its message
        may have been posted, and the next digest checks the channel for it before resending.
        The step's thread is still running; the process exits right after this."""
        note = f"abandoned: the step outlived the stop grace ({self.settings.stop_grace:g}s)"
        destinations = self.config.destinations if self.config else {}
        kinds = {name: destination.kind for name, destination in destinations.items()}
        store = Store(self.settings.db)
        try:
            store.conn.execute("PRAGMA busy_timeout = 2000")  # stay inside the platform's wait
            now = stamp(utc_now())
            runs = _left_open(store, "runs", "status = 'running'", self.started)
            for run_id, in runs:
                store.finish_run(run_id, status="interrupted", now=now, summary={"error": note})
            for digest_id, destination in _left_open(store, "digests", "state = 'sending'",
                                                     self.started, "destination"):
                if kinds.get(destination) == "slack":
                    log.warning("%s: digest %d was being sent; the next digest checks the "
                                "channel before sending its items again", destination, digest_id)
                    continue
                store.finish_digest(digest_id, now=now,
                                    error="the worker stopped before this item was sent")
            log.warning("abandoned step recorded: %d run(s) marked interrupted", len(runs))
        except Exception as exc:  # the next start still finds and re-offers what is open
            log.error("could not record the abandoned step: %s", exc)
        finally:
            store.close()

    def _stop(self, signum: int, frame: object) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        log.info("signal %s: stopping after the current step", signal.Signals(signum).name)
        threading.Thread(target=self._shut_down, daemon=True).start()

    def _shut_down(self) -> None:
        """Shut the scheduler down once it runs. A stop during start-up can come before the
        scheduler started (shutting it down then raises) yet after run() checked for a stop
        (it would then run forever): so retry until it runs or run() is past it."""
        from apscheduler.schedulers import SchedulerNotRunningError

        while not self.loop_over.is_set():
            try:
                self.scheduler.shutdown(wait=False)
                return
            except SchedulerNotRunningError:
                self.loop_over.wait(0.05)

    def _hangup(self, signum: int, frame: object) -> None:
        log.info("SIGHUP: reloading the queries")
        threading.Thread(target=self.reload, kwargs={"force": True}, daemon=True).start()


def serve(settings: Settings) -> None:
    """Run the worker until SIGTERM or SIGINT."""
    Worker(settings).run()


def scheduled_job(settings: Settings, destination: str) -> None:
    """What a destination's scheduled firing does (poll its queries, send its digest), run once
    outside the scheduler; never raises."""
    worker = Worker(settings)
    worker.reload(force=True)
    worker.run_job(f"digest:{destination}")
