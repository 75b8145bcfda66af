"""Destination schedules: five cron fields with weekday names, in a time zone, checked so that
the scheduler (APScheduler 3) fires exactly when cron would; or a fixed interval (``every: 6h``)
for a cadence that need not follow the clock. Cron strings the scheduler would read
differently, and fixed times that a clock change repeats or skips, are refused."""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta
from datetime import time as datetime_time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator, model_validator

from .described import shown as _shown
from .yaml_base import Strict

#: ``every`` units, in seconds.
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_EVERY = 1  # seconds: a digest cannot fire more often than this
MAX_EVERY = 366 * 86400
EVERY_FORMAT = "a whole number and a unit s, m, h or d (for example 30s, 15m, 6h, 1d)"


def parse_every(value: str) -> int:
    """Seconds in an interval such as ``6h``; ValueError with one line otherwise."""
    match = re.fullmatch(r"(\d+)\s*([smhd])", value.strip().lower())
    if not match:
        raise ValueError(f"every {_shown(value)} is not an interval: write {EVERY_FORMAT}")
    seconds = int(match[1]) * UNITS[match[2]]
    if not MIN_EVERY <= seconds <= MAX_EVERY:
        raise ValueError(f"every {_shown(value)} must be between {MIN_EVERY}s and 366d")
    return seconds


class Schedule(Strict):
    """When a destination gets its digest: either a 5-field cron with weekday names, in a time
    zone (``cron``, ``timezone``), or a fixed interval (``every: 6h``) counted from the last
    digest sent, so a restart neither skips nor repeats one.

    The scheduler (APScheduler 3) reads some cron strings differently from cron itself; those
    are rejected here rather than silently sent on other days or twice."""

    cron: str | None = None
    every: str | None = None
    timezone: str = "UTC"

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # `every: 30` in YAML: say which unit is missing, not "type"
        if isinstance(value, str):
            parse_every(value)
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
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
    def _one_kind(self) -> Schedule:
        if self.cron is None and self.every is None:
            raise ValueError("a schedule needs 'cron' (for example cron: \"0 9 * * mon\") or "
                             "'every' (for example every: 6h)")
        if self.cron is not None and self.every is not None:
            raise ValueError("a schedule has either 'cron' or 'every', not both")
        if self.every is not None and "timezone" in self.model_fields_set:
            raise ValueError("'timezone' only applies to a cron schedule; 'every' counts from "
                             "the last digest sent (use cron for a time of day)")
        return self

    @model_validator(mode="after")
    def _clock_changes(self) -> Schedule:
        if self.cron is None:
            return self
        problem = clock_change_problem(self.cron, self.timezone, datetime.now(UTC).date())
        if problem:
            raise ValueError(problem)
        return self

    @property
    def seconds(self) -> int | None:
        """An interval schedule's length in seconds (None for cron)."""
        return parse_every(self.every) if self.every is not None else None

    def describe(self) -> str:
        """How logs and `validate` show it."""
        if self.every is not None:
            return f"every {self.every} (counted from the last digest sent)"
        return f"{self.cron} ({self.timezone})"

    def trigger(self, anchor: datetime | None = None):
        """The APScheduler trigger for this schedule. An interval fires at *anchor* (the last
        digest sent) plus whole intervals; without one, an interval from now."""
        if self.every is not None:
            from apscheduler.triggers.interval import IntervalTrigger

            step = timedelta(seconds=self.seconds or 0)
            start = anchor + step if anchor is not None else None
            return IntervalTrigger(seconds=step.total_seconds(), start_date=start, timezone=UTC)
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(self.timezone))

    def next_fire(self, after: datetime) -> datetime | None:
        """The first firing at or after *after* counted from a digest sent at *after*."""
        if self.every is not None:
            return after + timedelta(seconds=self.seconds or 0)
        return self.trigger().get_next_fire_time(None, after)


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
