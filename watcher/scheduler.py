"""`watcher serve`: a thin APScheduler loop over the library core.

Each destination with a schedule gets one job: poll the queries routed to it, then send its
digest (the terminal digest goes to the log). Jobs run one at a time, a missed firing within an
hour still runs once, and SIGTERM stops the loop between jobs.
"""

from __future__ import annotations

import logging
import signal
import sys

from . import config as config_module
from . import pipeline
from .db import Store
from .errors import ConfigError, WatcherError
from .settings import Settings

log = logging.getLogger(__name__)


def scheduled_job(settings: Settings, destination: str) -> None:
    """Reload the YAML (edits apply without a restart), poll, deliver; never raise."""
    try:
        cfg = config_module.load(settings.queries)
        store = Store(settings.db)
        try:
            queries = [q.id for q in cfg.queries if destination in q.destinations]
            if not queries:
                log.warning("%s: no query routes to it; nothing to poll", destination)
                return
            report = pipeline.run_once(cfg, store, settings, query_ids=queries,
                                       stream=sys.stdout, command=f"serve {destination}",
                                       destinations=[destination], preview_unsendable=False)
        finally:
            store.close()
        for line in report.poll.error_lines():
            log.error("%s", line)
        for outcome in report.deliveries:
            if outcome.error:
                log.error("%s: %s", outcome.destination, outcome.error)
    except ConfigError as exc:
        log.error("queries not loaded, nothing polled: %s", str(exc).replace("\n", "; "))
    except WatcherError as exc:
        log.error("%s", exc)
    except Exception:  # keep the scheduler alive; the traceback goes to the log
        log.exception("job for %s failed", destination)


def serve(settings: Settings) -> None:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler

    logging.getLogger().setLevel(logging.INFO)
    cfg = config_module.load(settings.queries)
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="UTC",
    )
    for name, destination in cfg.destinations.items():
        if destination.schedule is None:
            continue
        scheduler.add_job(scheduled_job, destination.schedule.trigger(), args=(settings, name),
                          id=f"digest:{name}", name=f"poll and send {name}")
        log.info("scheduled %s: %s (%s)", name, destination.schedule.cron,
                 destination.schedule.timezone)
    scheduled = {name for name, d in cfg.destinations.items() if d.schedule is not None}
    for query in cfg.queries:
        if not scheduled & set(query.destinations):
            log.warning("query %s routes to no scheduled destination: `serve` never polls it",
                        query.id)
    if not scheduler.get_jobs():
        raise WatcherError("no destination has a schedule; nothing to serve "
                           "(use `watcher run --once` from cron instead)")

    def stop(signum: int, frame: object) -> None:
        log.info("signal %s: stopping after the current job", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
