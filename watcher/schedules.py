"""Destination schedules: five cron fields with weekday names, in a time zone, checked so that
the scheduler (APScheduler 3) fires exactly when cron would. Cron strings it would read
differently, and fixed times that a clock change repeats or skips, are refused."""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta
from datetime import time as datetime_time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator, model_validator

from .described import shown as _shown
from .sources.base import Strict


class Schedule(Strict):
    """When a destination gets its digest: a 5-field cron with weekday names, in a time zone.

    The scheduler (APScheduler 3) reads some cron strings differently from cron itself; those
    are rejected here rather than silently sent on other days or twice."""

    cron: str
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        shown = _shown(value)
        if len(fields) != 5:
            raise ValueError(
                f"cron {shown} needs 5 fields (minute hour day-of-month month weekday)"
            )
        day, weekday = fields[2], fields[4]
        if "/" in weekday:
            raise ValueError(
                f"cron {shown}: a step ('/') in the weekday field counts from Monday in the "
                "scheduler but from Sunday in cron; list the days instead (for example "
                "mon,wed,fri)"
            )
        if re.search(r"\d", weekday):
            raise ValueError(
                f"cron {shown}: write weekdays as names (mon, tue, ... sun), not numbers; "
                "the scheduler counts 0 as Monday, unlike cron"
            )
        if not day.startswith("*") and not weekday.startswith("*"):
            raise ValueError(
                f"cron {shown} sets both a day of the month ({day}) and a weekday ({weekday}): "
                "cron runs on either, but the scheduler only on days matching both; keep one "
                "of them (or use two destinations)"
            )
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"cron {shown} is not valid: {exc}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {_shown(value)} (use an IANA name such as Europe/London)"
            ) from None
        return value

    @model_validator(mode="after")
    def _clock_changes(self) -> Schedule:
        problem = clock_change_problem(self.cron, self.timezone, datetime.now(UTC).date())
        if problem:
            raise ValueError(problem)
        return self

    def trigger(self):
        """The APScheduler trigger for this schedule."""
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(self.timezone))


def clock_change_problem(cron: str, zone: str, start: date, days: int = 731) -> str | None:
    """Why *cron* is unsafe in *zone* around a daylight-saving change within *days* of *start*,
    or None.

    On the night the clocks go back, APScheduler 3 fires a fixed time inside the repeated hour
    twice (once per UTC offset); on the night they go forward it fires a time inside the skipped
    hour an hour late, or not at all when the skipped hour starts at midnight. Cron fires such a
    job once in both cases. So a fixed time that falls in a repeated or skipped interval is
    refused. A schedule with ``*`` in the hour field (every hour, every n hours) follows the
    clock as it runs, as cron does, and is allowed.
    """
    if cron.split()[1].startswith("*"):
        return None
    from apscheduler.triggers.cron import CronTrigger

    wall_clock = CronTrigger.from_crontab(cron, timezone=UTC)  # matches local times as such
    for instant, before, after in _clock_changes(zone, start, days):
        old, new = instant + before, instant + after  # the local time read just before / after
        first, last = min(old, new), max(old, new)
        fire = wall_clock.get_next_fire_time(None, first)
        if fire is None or fire >= last:
            continue
        span = f"{first:%H:%M}-{last:%H:%M}"
        if new < old:
            what = (f"{fire:%H:%M} happens twice on {fire:%Y-%m-%d} when the clocks go back "
                    f"({span} repeats), so the scheduler would send twice")
        else:
            what = (f"{fire:%H:%M} does not exist on {fire:%Y-%m-%d} when the clocks go forward "
                    f"({span} is skipped), so the scheduler would send late or not at all")
        return f"cron {_shown(cron)} in {zone}: {what}; pick a time outside {span}"
    return None


@functools.lru_cache(maxsize=64)
def _clock_changes(zone: str, start: date, days: int) -> tuple[tuple[datetime, timedelta,
                                                                     timedelta], ...]:
    """(instant in UTC, UTC offset before, UTC offset after) for each change of *zone*'s UTC
    offset in the *days* from *start*: daily probes, then halving down to the microsecond."""
    tz = ZoneInfo(zone)

    def offset(moment: datetime) -> timedelta:
        return moment.astimezone(tz).utcoffset() or timedelta(0)

    changes = []
    day = datetime.combine(start, datetime_time(), UTC)
    before = offset(day)
    for _ in range(days):
        following = day + timedelta(days=1)
        after = offset(following)
        if after != before:
            low, high = day, following
            while high - low > timedelta(microseconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if offset(middle) == before else (low, middle)
            changes.append((high, before, after))
        day, before = following, after
    return tuple(changes)
