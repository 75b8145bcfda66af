"""The worker's APScheduler: the poll job, one digest job per scheduled destination, and the
retries of digests that could not be sent. Only this module and the worker know APScheduler;
what each job does is in ``jobs``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from ..clock import stamp, utc_now
from ..config import Config
from ..settings import Settings

log = logging.getLogger("watcher.serve")

#: What a job of the timetable calls: ``run("poll")``, ``run("digest:NAME")``,
#: ``run("retry:NAME")``.
Step = Callable[..., None]


class Timetable:
    """One job at a time (one executor thread), each job once at a time, late firings
    coalesced into one and run however late (misfire grace None: a weekly digest delayed by a
    long poll is still sent)."""

    def __init__(self, settings: Settings, step: Step):
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        self.settings = settings
        self.step = step
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC")
        self.retries: dict[str, int] = {}  # destination -> failed sends in a row

    def schedule(self, cfg: Config, last_sent: Callable[[str], datetime | None]) -> set[str]:
        """(Re)build the jobs from *cfg*: the poll job and one digest job per schedule.
        Returns the destinations whose digest job was (re)made."""
        from apscheduler.triggers.interval import IntervalTrigger

        if self.scheduler.get_job("poll") is None:
            self.scheduler.add_job(self.step, IntervalTrigger(
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
            anchor = last_sent(name) if schedule.every else None
            self.scheduler.add_job(self.step, schedule.trigger(anchor),
                                   args=(f"digest:{name}",), kwargs={"schedule": schedule},
                                   id=f"digest:{name}", name=f"poll and send {name}",
                                   replace_existing=True)
            log.info("scheduled %s: %s", name, schedule.describe())
        for query in cfg.queries:
            if not set(wanted) & set(query.destinations):
                log.info("query %s routes to no scheduled destination: polled by the poll job"
                         " only, its digest is sent by `watcher digest`", query.id)
        return added

    def fire_now(self, destination: str) -> None:
        """Run *destination*'s digest job now (a firing it missed)."""
        self.scheduler.modify_job(f"digest:{destination}", next_run_time=utc_now())

    def retry(self, cfg: Config, destination: str, failed: bool) -> None:
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
        self.scheduler.add_job(self.step, DateTrigger(when), args=(f"retry:{destination}",),
                               id=f"retry:{destination}", name=f"send {destination} again",
                               replace_existing=True)
        log.warning("%s: digest not sent; trying again in %s (attempt %d)", destination,
                    _duration(delay), attempt + 1)

    def forget(self, destination: str) -> None:
        """No longer count *destination*'s failed sends (it is no longer scheduled)."""
        self.retries.pop(destination, None)


def _duration(seconds: float) -> str:
    """'5 min', '1 h', '2 s': how long until a retry, as a log line says it."""
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
