"""The `watcher serve` process: wires the timetable to the jobs, reloads the YAML when it
changes, holds the lease, and turns SIGTERM/SIGINT into a clean stop and SIGHUP into a reload.
See the package's docstring for what it runs and when."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .. import config as config_module
from ..clock import stamp, utc_now
from ..config import Config
from ..errors import ConfigError, WatcherError
from ..schedules import Schedule
from ..settings import Settings
from .jobs import (
    adopt_renames,
    close_abandoned,
    digest,
    due_now,
    last_sent,
    notify_ops,
    ops_pending,
    poll,
    send_ops,
)
from .lease import Holder, held_lease
from .timetable import Timetable

log = logging.getLogger("watcher.serve")


class Worker:
    """One `watcher serve` process: its configuration, its timetable and its stop."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.holder = Holder.this_process()
        self.timetable = Timetable(settings, self.run_job)
        self.config: Config | None = None
        self.snapshot: dict[str, tuple[int, int]] = {}
        self.bad_snapshot: dict[str, tuple[int, int]] | None = None
        self.stopping = threading.Event()
        self.step = threading.Lock()  # held while a job runs
        self.reload_lock = threading.Lock()
        self.loop_over = threading.Event()  # run() has left (or skipped) the scheduler loop
        self.started = stamp(utc_now())

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
                notify_ops(self.config, self.settings, message,
                           edit=repr(sorted(snapshot.items())))
                return
            first = self.config is None
            self.config, self.snapshot, self.bad_snapshot = cfg, snapshot, None
            adopt_renames(cfg, self.settings)
            added = self.timetable.schedule(cfg, lambda name: last_sent(self.settings, name))
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

    def catch_up(self, names: set[str] | None = None) -> None:
        """Send now each digest (of *names*, default all) whose firing was missed while no
        worker ran (or under the name it had before)."""
        assert self.config is not None
        for name in due_now(self.config, self.settings, names):
            self.timetable.fire_now(name)

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
                before = ops_pending(cfg, self.settings)
                kind, _, name = what.partition(":")
                if what == "poll":
                    poll(cfg, self.settings)
                elif self.still_scheduled(cfg, name, kind):
                    self.timetable.retry(cfg, name, digest(cfg, self.settings, name).retry)
                after = ops_pending(cfg, self.settings)
                if before is not None and after is not None and after > before:
                    send_ops(cfg, self.settings)  # a notice for ops: tell it now, once
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
        self.timetable.forget(destination)
        log.info("%s: %s dropped: the queries no longer schedule it", destination,
                 "retry" if kind == "retry" else "firing")
        return False

    # -- running ------------------------------------------------------------------------

    def run(self) -> None:
        self.started = stamp(utc_now())  # what this worker began is what it may close
        # Handlers first: a stop while the lease is being taken must give it up, not kill the
        # process with the lease held (the next worker would be refused until it expires).
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, self._hangup)
        self.reload(force=True)  # an invalid configuration at start is an error (exit 2)
        with held_lease(self.settings.db, self.holder, self.settings.lease_seconds) as lease:
            try:
                try:
                    self.catch_up()
                except Exception:  # the schedules still run; the traceback goes to the log
                    log.exception("could not check for missed digests")
                try:
                    if not self.stopping.is_set():
                        self.timetable.scheduler.start()  # returns once _stop shut it down
                finally:
                    self.loop_over.set()
                if not self.step.acquire(timeout=self.settings.stop_grace):
                    log.warning("the current step did not finish within %gs: abandoning it; "
                                "what it had not recorded stays pending",
                                self.settings.stop_grace)
                    close_abandoned(self.config, self.settings, self.started)
                    lease.release()
                    logging.shutdown()
                    sys.stdout.flush()
                    os._exit(0)  # the job thread cannot be interrupted; SQLite rolls it back
            finally:
                self.stopping.set()
        log.info("stopped")

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
                self.timetable.scheduler.shutdown(wait=False)
                return
            except SchedulerNotRunningError:
                self.loop_over.wait(0.05)

    def _hangup(self, signum: int, frame: object) -> None:
        log.info("SIGHUP: reloading the queries")
        threading.Thread(target=self.reload, kwargs={"force": True}, daemon=True).start()


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


def serve(settings: Settings) -> None:
    """Run the worker until SIGTERM or SIGINT."""
    Worker(settings).run()


def scheduled_job(settings: Settings, destination: str) -> None:
    """What a destination's scheduled firing does (poll its queries, send its digest), run once
    outside the scheduler; never raises."""
    worker = Worker(settings)
    worker.reload(force=True)
    worker.run_job(f"digest:{destination}")
