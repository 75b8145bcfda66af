"""`watcher serve` in process, without a running worker: weekday names fire on the named day,
each scheduled job polls only its own queries and sends only its own destination (plus the log),
an interval schedule (``every: 6h``) keeps its cadence from the last digest sent and refuses
nonsense; the lease held for a ``with`` block; what each job function returns."""

from __future__ import annotations

import threading
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from tests.helpers import EVERYTHING, QUERIES_YAML
from watcher.clock import stamp, utc_now
from watcher.config import Schedule
from watcher.errors import WatcherError
from watcher.serve import jobs
from watcher.serve.jobs import missed_digest
from watcher.serve.lease import Holder, held_lease
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


# --- schedules -----------------------------------------------------------------------------

def test_weekday_names_fire_on_that_day_in_that_time_zone():
    trigger = Schedule(cron="30 8 * * mon", timezone="America/New_York").trigger()
    saturday = datetime(2026, 11, 21, 12, 0, tzinfo=ZoneInfo("UTC"))
    fire = trigger.get_next_fire_time(None, saturday)
    assert fire.strftime("%A %H:%M") == "Monday 08:30"
    assert fire.utcoffset().total_seconds() == -5 * 3600


# --- scheduled jobs ------------------------------------------------------------------------

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


# --- cron and interval schedules -----------------------------------------------------------

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


# --- the worker lease held for a `with` block ----------------------------------------------

ELSEWHERE = Holder("serve pid 4242 on elsewhere (abcdef)", "elsewhere", 4242)


def test_the_lease_is_taken_for_the_block_and_given_up_at_its_end(env):
    holder = Holder.this_process()
    with held_lease(str(env.db), holder, 120) as lease:
        with closing(env.store()) as store:
            row = store.lease()
        assert row.holder == holder.name and row.pid == holder.pid
        assert not lease.lost.is_set()
    with closing(env.store()) as store:
        assert store.lease() is None, "released on exit"


def test_the_lease_is_renewed_on_its_own_thread_while_the_block_runs(env):
    with held_lease(str(env.db), Holder.this_process(), 0.4):  # renewed every 0.1 s
        assert any(t.name == "lease" for t in threading.enumerate())
        with closing(env.store()) as store:
            first = store.lease()
            time.sleep(0.6)  # longer than the lease's life: only renewals keep it
            later = store.lease()
        assert later.renewed > first.renewed and later.expires > first.expires
        assert datetime.fromisoformat(later.expires) > utc_now()
    deadline = time.monotonic() + 2
    while any(t.name == "lease" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(t.name == "lease" for t in threading.enumerate()), "the thread ends too"


def test_the_lease_is_refused_while_another_live_worker_holds_it(env):
    with closing(env.store()) as store:
        assert store.take_lease(ELSEWHERE.name, host=ELSEWHERE.host, pid=ELSEWHERE.pid,
                                now=utc_now(), ttl=120) is None
    entered = False
    refused = r"another worker is running: serve pid 4242 on elsewhere \(abcdef\) \(since "
    with pytest.raises(WatcherError, match=refused), held_lease(str(env.db),
                                                                 Holder.this_process(), 120):
        entered = True
    assert not entered
    with closing(env.store()) as store:
        assert store.lease().holder == ELSEWHERE.name, "the live holder keeps it"


def test_a_lease_taken_over_by_another_worker_is_seen_as_lost(env):
    told = threading.Event()
    holder = Holder.this_process()
    with held_lease(str(env.db), holder, 0.4, on_lost=told.set) as lease:
        with closing(env.store()) as store:  # another worker took it (as after an expiry)
            store.release_lease(holder.name)
            store.take_lease(ELSEWHERE.name, host=ELSEWHERE.host, pid=ELSEWHERE.pid,
                             now=utc_now(), ttl=120)
        assert lease.lost.wait(2) and told.is_set()
    with closing(env.store()) as store:
        assert store.lease().holder == ELSEWHERE.name, "giving up ours leaves theirs"


# --- what a job returns --------------------------------------------------------------------

TERMINAL = QUERIES_YAML.replace("defaults:\n", """destinations:
  screen:
    kind: terminal
defaults:
  destinations: [screen]
""")


def test_a_poll_that_goes_well_returns_ok(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    outcome = jobs.poll(env.config(), env.settings())
    assert outcome == jobs.Outcome() and outcome.ok and not outcome.retry
    assert env.store().pending_counts(), "it polled and queued what it found"


def test_a_poll_whose_source_fails_returns_its_error_and_no_retry(env, unused_port):
    env.write_queries(QUERIES_YAML)
    settings = env.settings(WATCHER_EUTILS_URL=f"http://127.0.0.1:{unused_port}/")
    outcome = jobs.poll(env.config(), settings)
    assert not outcome.ok and not outcome.retry
    assert "PubMed" in outcome.error and "127.0.0.1" in outcome.error, outcome.error


def test_a_digest_that_goes_out_returns_ok(env, corpus_server, capsys):
    env.write_queries(TERMINAL)
    outcome = jobs.digest(env.config(), env.settings(), "screen")
    assert outcome.ok and not outcome.retry, outcome
    assert "digest for screen" in capsys.readouterr().out
    assert "screen" not in env.store().pending_counts()


def test_a_digest_whose_source_fails_is_sent_and_returns_the_error_without_a_retry(
        env, unused_port, capsys):
    env.write_queries(TERMINAL)
    settings = env.settings(WATCHER_EUTILS_URL=f"http://127.0.0.1:{unused_port}/")
    outcome = jobs.digest(env.config(), settings, "screen")
    assert not outcome.ok and "PubMed" in outcome.error and not outcome.retry, outcome
    assert "digest for screen" in capsys.readouterr().out, "the digest still went out"


def test_a_digest_the_destination_refused_asks_for_a_retry(env, corpus_server, slack):
    env.write_queries(TERMINAL.replace("    kind: terminal\n", "    kind: slack_webhook\n"))
    settings = env.settings(SLACK_WEBHOOK_URL=slack.webhook_url)
    slack.quirk_next("http_500", method="webhook")
    outcome = jobs.digest(env.config(), settings, "screen")
    assert not outcome.ok and outcome.retry, outcome
    assert env.store().pending_counts().get("screen", 0) > 0, "its items stay pending"
    assert jobs.digest(env.config(), settings, "screen") == jobs.Outcome(), "sent next time"
