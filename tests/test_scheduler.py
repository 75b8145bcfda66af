"""`watcher serve`: weekday names fire on the named day, each scheduled job polls only its own
queries and sends only its own destination (plus the log), and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.conftest import QUERIES_YAML, ROOT
from watcher.config import Schedule
from watcher.scheduler import scheduled_job

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


def test_serve_stops_cleanly_on_sigterm(env):
    env.write_queries(TWO_DESTINATIONS)
    process = subprocess.Popen([sys.executable, "-m", "watcher", "serve"], cwd=ROOT,
                               env={**os.environ, **env.vars()}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    assert process.poll() is None, process.stderr.read() if process.stderr else ""
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "scheduled daily: 0 9 * * mon-fri (Europe/London)" in err
