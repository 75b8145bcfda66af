"""`watcher serve`: weekday names fire on the named day, each scheduled job polls only its own
queries and sends only its own destination (plus the log), and an interval schedule
(``every: 6h``) keeps its cadence from the last digest sent and refuses nonsense."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from tests.helpers import EVERYTHING, QUERIES_YAML
from watcher.config import Schedule
from watcher.runtime import stamp, utc_now
from watcher.serve.jobs import missed_digest
from watcher.serve.worker import Worker, scheduled_job

TWO_DESTINATIONS = QUERIES_YAML.replace("defaults:\n", """destinations:
  daily:
    kind: terminal
    schedule: {cron: "0 9 * * mon-fri", timezone: Europe/London}
  weekly:
    kind: terminal
    schedule: {cron: "30 8 * * mon", timezone: America/New_York}
defaults:
  destinations: [daily]
""").replace("  - id: anxiety\n", "  - id: anxiety\n    destinations: [weekly]\n")


def test_weekday_names_fire_on_that_day_in_that_time_zone():
    trigger = Schedule(cron="30 8 * * mon", timezone="America/New_York").trigger()
    saturday = datetime(2026, 11, 21, 12, 0, tzinfo=ZoneInfo("UTC"))
    fire = trigger.get_next_fire_time(None, saturday)
    assert fire.strftime("%A %H:%M") == "Monday 08:30"
    assert fire.utcoffset().total_seconds() == -5 * 3600


def test_a_scheduled_job_polls_its_queries_and_sends_only_its_destination(
        env, corpus_server, capsys):
    env.write_queries(TWO_DESTINATIONS)
    scheduled_job(env.settings(), "weekly")
    terms = [c["term"] for c in corpus_server.calls("esearch") if c["datetype"] == "edat"]
    assert len(terms) == 1 and "social anxiety" in terms[0], "only the query routed to weekly"
    pending = env.store().pending_counts()
    assert "weekly" not in pending, "weekly got its digest"
    printed = capsys.readouterr().out
    assert "digest for weekly" in printed and "digest for terminal" not in printed
    assert "digest for daily" not in printed
    scheduled_job(env.settings(), "daily")
    assert "daily" not in env.store().pending_counts()


def _fire(schedule: Schedule, after: datetime) -> datetime:
    return schedule.trigger().get_next_fire_time(None, after)


def test_monday_0800_berlin_fires_at_0800_berlin_across_both_clock_changes():
    email = Schedule(cron="0 8 * * mon", timezone="Europe/Berlin")
    # Spring: clocks go forward on Sunday 29 March 2026 (CET +01:00 -> CEST +02:00).
    before_spring = _fire(email, datetime(2026, 3, 17, 12, 0, tzinfo=UTC))
    after_spring = _fire(email, datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert before_spring.astimezone(UTC) == datetime(2026, 3, 23, 7, 0, tzinfo=UTC)
    assert after_spring.astimezone(UTC) == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    # Autumn: clocks go back on Sunday 25 October 2026 (CEST -> CET).
    before_autumn = _fire(email, datetime(2026, 10, 13, 12, 0, tzinfo=UTC))
    after_autumn = _fire(email, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert before_autumn.astimezone(UTC) == datetime(2026, 10, 19, 6, 0, tzinfo=UTC)
    assert after_autumn.astimezone(UTC) == datetime(2026, 10, 26, 7, 0, tzinfo=UTC)
    for fire in (before_spring, after_spring, before_autumn, after_autumn):
        local = fire.astimezone(ZoneInfo("Europe/Berlin"))
        assert local.strftime("%A %H:%M") == "Monday 08:00"


def test_weekday_lists_and_ranges_skip_the_other_days():
    weekdays = Schedule(cron="0 9 * * mon-fri", timezone="Europe/London")
    friday_evening = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    assert _fire(weekdays, friday_evening).strftime("%A %H:%M") == "Monday 09:00"
    thrice = Schedule(cron="15 7 * * mon,wed,fri", timezone="Asia/Tokyo")
    days = []
    moment = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)  # a Sunday
    for _ in range(3):
        moment = _fire(thrice, moment + timedelta(minutes=1))
        days.append(moment.strftime("%a %H:%M"))
    assert days == ["Mon 07:15", "Wed 07:15", "Fri 07:15"]


def test_a_weekly_digest_missed_while_down_is_recognised():
    weekly = Schedule(cron="30 8 * * mon", timezone="America/New_York")
    last_sent = "2026-11-16T13:31:00+00:00"  # Monday 16 Nov, 08:31 New York
    tuesday_after_next = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    sunday = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert missed_digest(weekly, last_sent, tuesday_after_next), "Monday 23 Nov was missed"
    assert not missed_digest(weekly, last_sent, sunday), "nothing due yet"
    assert not missed_digest(weekly, None, tuesday_after_next), "never sent: wait for schedule"


def test_an_interval_schedule_counts_from_the_last_digest_sent():
    every = Schedule(every="6h")
    assert every.seconds == 6 * 3600 and every.cron is None
    sent = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    trigger = every.trigger(sent)
    assert trigger.get_next_fire_time(None, sent + timedelta(hours=1)) == sent + timedelta(hours=6)
    late = trigger.get_next_fire_time(None, sent + timedelta(hours=7))
    assert late == sent + timedelta(hours=12), "a restart keeps the cadence"
    assert missed_digest(every, sent.isoformat(), sent + timedelta(hours=6, seconds=1))
    assert not missed_digest(every, sent.isoformat(), sent + timedelta(hours=5))
    assert Schedule(every="30s").seconds == 30 and Schedule(every="1d").seconds == 86400


@pytest.mark.parametrize("fields, message", [
    ({"every": "0s"}, "must be between 1s and 366d"),
    ({"every": "400d"}, "must be between 1s and 366d"),
    ({"every": 30}, "'30' is not an interval: write a whole number and a unit s, m, h or d"),
    ({"every": "2w"}, "'2w' is not an interval"),
    ({"every": "1.5h"}, "'1.5h' is not an interval"),
    ({}, "a schedule needs 'cron'"),
    ({"every": "1h", "cron": "0 9 * * mon"}, "either 'cron' or 'every', not both"),
    ({"every": "1d", "timezone": "Europe/London"}, "'timezone' only applies to a cron schedule"),
])
def test_an_invalid_interval_schedule_is_refused_with_one_clear_reason(fields, message):
    with pytest.raises(ValidationError) as caught:
        Schedule(**fields)
    assert message in str(caught.value)


def test_validate_shows_an_interval_schedule_and_reports_a_bad_one_at_its_line(env):
    env.write_queries(QUERIES_YAML.replace("defaults:\n", """destinations:
  often:
    kind: terminal
    schedule: {every: 15m}
defaults:
"""))
    shown = env.cli("validate")
    assert shown.exit_code == 0 and "often: terminal terminal; schedule every 15m" in shown.stdout
    path = env.write_queries(QUERIES_YAML.replace("defaults:\n", """destinations:
  often:
    kind: terminal
    schedule:
      every: 15 minutes
defaults:
"""))
    result = env.cli("validate")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:5: destinations.often.schedule.every: every "
                                    "'15 minutes' is not an interval"), result.stderr


def test_a_renamed_destination_keeps_its_interval_from_the_old_names_last_digest(env):
    often = EVERYTHING.replace("defaults:\n", "destinations:\n  often:\n    kind: terminal\n"
                               "    schedule: {every: 6h}\ndefaults:\n  destinations: [often]\n")
    env.write_queries(often)
    store = env.store()
    five_hours_ago = stamp(utc_now() - timedelta(hours=5))
    store.finish_digest(store.begin_digest("often", [], now=five_hours_ago, through_poll=0,
                                           receipt="r"), now=five_hours_ago)
    env.write_queries(often.replace("  often:\n", "  team-often:\n    renamed_from: often\n")
                      .replace("[often]", "[team-often]"))
    worker = Worker(env.settings())
    worker.reload(force=True)
    job = worker.timetable.scheduler.get_job("digest:team-often")
    fire = job.trigger.get_next_fire_time(None, utc_now())
    assert fire <= utc_now() + timedelta(hours=1), "six hours after the old name's digest"
