"""`watcher serve` as a real process against the local E-utilities, ClinicalTrials.gov and
Slack servers: months of running compressed into seconds, a clean stop on SIGTERM mid-poll, a
step outliving the stop grace abandoned and recorded, one worker at a time (a lease taken over
after its holder was killed), live YAML edits (and invalid ones) told to ops, digests caught up
and retried, its logs, and what `watcher status` says about it all. Polls run every second or
so (WATCHER_POLL_EVERY in minutes)."""

from __future__ import annotations

import json
import logging
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from contextlib import closing
from datetime import datetime, timedelta

import pytest

from tests.fakes.slack import SlackServer
from tests.fakes.slowserver import SlowServer
from tests.helpers import (
    HOSTILE_TITLE,
    PUBMED_FILES,
    ROOT,
    SHOWN_TITLE,
    days_ago,
    run_watcher,
    unprintable,
)
from tests.helpers.ctgov import ketamine_trial
from tests.helpers.serve import ONE_QUERY, WITH_OPS, ServeProcess
from watcher.clock import stamp, utc_now
from watcher.db import Store
from watcher.db.lease import process_space
from watcher.errors import WatcherError
from watcher.fakes.ctgov import CtgovServer
from watcher.fakes.eutils import records_from_xml
from watcher.render.slack import unescape
from watcher.serve.lease import Holder, held_lease
from watcher.serve.worker import scheduled_job

# --- running for months, compressed: every study once, on schedule, through a flaky source ---

MONTHS_YAML = """\
destinations:
  team:
    kind: slack
    channel: "#ketamine-watch"
    max_items: 15
    schedule: {every: 3s}
defaults:
  destinations: [team]
  lookback_days: 30
queries:
  - id: everything
    condition: Everything in the corpus
    sources:
      pubmed:
        terms: all[sb]
  - id: trials
    condition: Depression trials
    sources:
      clinicaltrials:
        condition: depression
        intervention: ketamine
"""


TRIALS = ["NCT09300001", "NCT09300002", "NCT09300003"]


@pytest.fixture
def ctgov():
    with CtgovServer() as running:
        for nct in TRIALS:
            running.add_study(ketamine_trial(nct), updated=days_ago(1))
        yield running


def _delivered(slack: SlackServer) -> Counter[int]:
    """How many times each outbox item was carried by an accepted Slack message."""
    return Counter(i for m in slack.messages
                   for i in (m.metadata or {}).get("event_payload", {}).get("outbox_ids", []))


def _receipts(slack: SlackServer) -> list[str]:
    return [unescape(element.get("text", "")) for m in slack.top_level()
            for block in m.blocks for element in block.get("elements", [])
            if "Receipt" in element.get("text", "") or "FAILED" in element.get("text", "")]


def test_serve_polls_and_delivers_on_schedule_survives_a_flaky_source_and_stops_cleanly(
        env, corpus_server, ctgov, slack):
    pmids = {pmid for path in PUBMED_FILES for pmid, _ in records_from_xml(path.read_bytes())}
    env.write_queries(MONTHS_YAML)
    ctgov.fail_every_other("/studies", status=403)  # not retried: that poll fails
    worker = ServeProcess(env.vars(
        WATCHER_POLL_EVERY="0.033",  # minutes: about every 2 s
        WATCHER_CTGOV_URL=ctgov.url, SLACK_API_URL=slack.url, SLACK_BOT_TOKEN=slack.token,
        WATCHER_SLACK_INTERVAL="0.05"))
    worker.wait_for(r"scheduled team: every 3s")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and worker.process.poll() is None:
        if (len(_delivered(slack)) >= len(pmids) + len(TRIALS) and len(slack.top_level()) >= 2
                and any("ClinicalTrials.gov" in r and "FAILED" in r for r in _receipts(slack))):
            break
        time.sleep(0.1)
    started = time.monotonic()
    assert worker.stop(timeout=30) == 0, worker.out
    assert time.monotonic() - started < 30
    assert "stopped" in worker.lines[-1], worker.out

    # Polled and delivered on schedule: the poll job ran repeatedly, and more than one digest
    # reached Slack (the first could carry only 15 items; the rest led the next one).
    assert sum("polled 2 query/source pair(s)" in line for line in worker.lines) >= 2, worker.out
    assert len(slack.top_level()) >= 2, worker.out
    assert slack.rejected == []
    # The flaky source failed, and a digest said so, naming it.
    failing = [r for r in _receipts(slack) if "FAILED" in r]
    assert failing and all("ClinicalTrials.gov" in r for r in failing), _receipts(slack)
    assert "403" in failing[0]

    conn = sqlite3.connect(env.db)
    # Every study reached Slack exactly once: nothing twice, nothing lost.
    delivered = _delivered(slack)
    assert [i for i, n in delivered.items() if n > 1] == [], "no item sent twice"
    rows = conn.execute(
        "SELECT o.id, o.state, s.scheme, s.value FROM outbox o JOIN events e ON e.id = o.event_id"
        " JOIN study_ids s ON s.study_id = e.study_id WHERE o.destination = 'team'"
        " AND s.scheme IN ('pmid', 'nct')").fetchall()
    sent_pmids = {value for _, _, scheme, value in rows if scheme == "pmid"}
    sent_ncts = {value for _, _, scheme, value in rows if scheme == "nct"}
    assert sent_pmids == pmids and sent_ncts == set(TRIALS), "every study was queued"
    assert {state for _, state, _, _ in rows} == {"sent"}, "and sent"
    assert {i for i, *_ in rows} <= set(delivered), "by a message Slack accepted"

    # A consistent database after SIGTERM.
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM outbox WHERE state = 'sending'").fetchone()[0] == 0
    statuses = [s for (s,) in conn.execute("SELECT status FROM runs")]
    assert statuses and "running" not in statuses, statuses
    assert env.store().lease() is None, "a clean stop gives the lease up"
    status = env.cli("status", WATCHER_CTGOV_URL=ctgov.url).stdout
    assert "worker: none running" in status
    assert "trials / ClinicalTrials.gov: last success 20" in status and ", window 20" in status
    assert "destination team (slack): 0 pending, last sent 20" in status, status


# --- stopping: SIGTERM and SIGINT, the stop grace, a stop during start-up --------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_mid_poll_exits_0_and_leaves_a_consistent_database(env, corpus_server,
                                                                        sig):
    env.write_queries(ONE_QUERY)
    corpus_server.slow_next(2, endpoint="efetch")
    worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60"))
    deadline = time.monotonic() + 15
    while not corpus_server.calls("efetch") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert corpus_server.calls("efetch"), worker.out  # the slow fetch is under way
    assert worker.stop(sig=sig) == 0, worker.out
    assert "stopping after the current step" in worker.out and "stopped" in worker.lines[-1]
    conn = sqlite3.connect(env.db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    statuses = [row[0] for row in conn.execute("SELECT status FROM runs")]
    assert statuses and "running" not in statuses, statuses
    studies = conn.execute("SELECT COUNT(*) FROM studies").fetchone()[0]
    queued = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    assert studies == queued > 0, "every stored study was queued in the same step"
    assert env.store().lease() is None, "a clean stop gives the lease up"


def test_a_step_outliving_the_stop_grace_is_abandoned_and_recorded_as_interrupted(
        env, corpus_server):
    """A digest stuck on a webhook that never answers: SIGTERM waits WATCHER_STOP_GRACE (1 s
    here, 20 by default), then exits 0 with the run marked interrupted and the digest's items
    pending again, so `status` shows why and the next digest carries them."""

    env.write_queries("""\
destinations:
  hook:
    kind: slack_webhook
    schedule: {every: 1s}
""" + ONE_QUERY + "    destinations: [hook]\n")
    with SlowServer(["hang"]) as hook:
        worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60", WATCHER_STOP_GRACE="1",
                                 WATCHER_HTTP_TIMEOUT="60",
                                 SLACK_WEBHOOK_URL=hook.url + "services/T0/B0/secret"))
        deadline = time.monotonic() + 15
        while not hook.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hook.requests, worker.out  # the digest is being posted, and hangs
        assert worker.stop(timeout=15) == 0, worker.out
    assert "did not finish within 1s: abandoning it" in worker.out
    assert "abandoned step recorded: 1 run(s) marked interrupted" in worker.out
    conn = sqlite3.connect(env.db)
    runs = dict(conn.execute("SELECT command, status FROM runs WHERE command = 'serve hook'"))
    assert runs == {"serve hook": "interrupted"}
    assert "running" not in {s for (s,) in conn.execute("SELECT status FROM runs")}
    states = dict(conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"))
    assert set(states) == {"pending"} and states["pending"] > 0, states
    assert conn.execute("SELECT state FROM digests").fetchall() == [("failed",)]
    assert env.store().lease() is None
    status = env.cli("status").stdout
    assert "destination hook (slack_webhook)" in status
    assert "LAST ERROR: the worker stopped before this item was sent" in status


def test_an_abandoned_slack_digest_stays_sending_and_the_next_digest_checks_the_channel(
        env, corpus_server):
    """A Slack bot post that never returns may still have been posted: its items are not put
    back blindly (that could post them twice) but left for the next digest, which looks in
    the channel first and then sends what is not there, each item once."""

    env.write_queries("""\
destinations:
  team:
    kind: slack
    channel: "#ketamine-watch"
    schedule: {every: 1s}
""" + ONE_QUERY + "    destinations: [team]\n")
    with SlowServer(["hang"]) as stuck:
        worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60", WATCHER_STOP_GRACE="0.5",
                                 WATCHER_HTTP_TIMEOUT="60", SLACK_API_URL=stuck.url,
                                 SLACK_BOT_TOKEN="xoxb-test"))
        deadline = time.monotonic() + 15
        while not stuck.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stuck.requests, worker.out
        assert worker.stop(timeout=15) == 0, worker.out
    assert "team: digest 1 was being sent; the next digest checks the channel" in worker.out
    conn = sqlite3.connect(env.db)
    assert dict(conn.execute("SELECT command, status FROM runs WHERE command = 'serve team'")
                ) == {"serve team": "interrupted"}
    queued = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    assert dict(conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")) == {
        "sending": queued}
    with SlackServer(interval=0.05) as slack:
        slack.channel_id("#ketamine-watch")  # the channel exists (nothing posted to it yet)
        sent = env.cli("digest", "team", SLACK_API_URL=slack.url, SLACK_BOT_TOKEN=slack.token,
                       WATCHER_SLACK_INTERVAL="0.05")
        assert sent.exit_code == 0, sent.stderr
        carried = [i for m in slack.messages
                   for i in (m.metadata or {}).get("event_payload", {}).get("outbox_ids", [])]
    assert len(carried) == len(set(carried)) == queued > 0
    assert dict(conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")) == {
        "sent": queued}


SIGNAL_DURING_START_UP = """\
import contextlib, os, signal, sys
from watcher.serve import logs, worker as serve_worker
from watcher.settings import Settings

logs.configure_logging("text")
held_lease = serve_worker.held_lease
@contextlib.contextmanager
def signalled_held_lease(*args, **kwargs):
    with held_lease(*args, **kwargs) as lease:
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
        yield lease
serve_worker.held_lease = signalled_held_lease
serve_worker.Worker(Settings.from_env(os.environ)).run()
"""


@pytest.mark.hostile
def test_a_signal_while_the_worker_takes_its_lease_is_handled_not_fatal(env, corpus_server):
    """SIGTERM or SIGINT just after the lease is taken stopped the process by the default
    action (exit -15, or a KeyboardInterrupt) with the lease still held, so the next worker
    was refused for WATCHER_LEASE_SECONDS; a SIGHUP there killed the worker outright."""
    env.write_queries(ONE_QUERY)
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        command = [sys.executable, "-c", textwrap.dedent(SIGNAL_DURING_START_UP), name]
        process = subprocess.Popen(
            command, cwd=ROOT, env={**env.vars(WATCHER_POLL_EVERY="60"), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if name == "SIGHUP":  # it keeps running, its queries reloaded; then stopped
            worker_lines = []
            for line in process.stdout:
                worker_lines.append(line)
                if "polled 1 query/source" in line:
                    break
            process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
        assert process.returncode == 0, (name, out, err)
        assert "Traceback" not in out + err, (name, err)
        with closing(env.store()) as store:
            assert store.lease() is None, f"{name}: the lease was given up"


STOP_DURING_START_UP = """\
import os, signal, sys
from watcher.serve import logs, worker as serve_worker
from watcher.settings import Settings

logs.configure_logging("text")
worker = serve_worker.Worker(Settings.from_env(os.environ))
moment = sys.argv[1]
if moment == "catch-up":  # after the handlers are installed, before the scheduler starts
    catch_up = worker.catch_up
    def stopped_catch_up():
        os.kill(os.getpid(), signal.SIGTERM)
        catch_up()
    worker.catch_up = stopped_catch_up
else:  # just as the scheduler starts: after run() checked for a stop
    start = worker.timetable.scheduler.start
    def stopped_start(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        start(*args, **kwargs)
    worker.timetable.scheduler.start = stopped_start
worker.run()
"""


@pytest.mark.hostile
def test_a_stop_during_start_up_exits_0_at_once_without_a_traceback(env, corpus_server):
    """SIGTERM while `serve` starts (a deploy stopping a worker it just started): the worker
    must stop cleanly, not print a thread's traceback nor hang in a scheduler nobody stops."""
    env.write_queries(ONE_QUERY)
    for moment in ("catch-up", "start"):
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(STOP_DURING_START_UP), moment], cwd=ROOT,
            env={**env.vars(WATCHER_POLL_EVERY="60"), "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, (moment, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout, (moment, done.stderr)
        assert "stopped" in done.stdout, (moment, done.stdout)
        assert env.store().lease() is None, "a clean stop gives the lease up"


# --- one worker per database (the lease), and commands run beside it -------------------------

def test_a_second_worker_is_refused_and_a_dead_holders_lease_is_taken_over(env, corpus_server):
    env.write_queries(ONE_QUERY)
    short = env.vars(WATCHER_POLL_EVERY="60", WATCHER_LEASE_SECONDS="1")
    first = ServeProcess(short)
    first.wait_for(r"worker lease taken")

    second = run_watcher("serve", env=short, timeout=20)
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and f"serve pid {first.process.pid} on" in lines[0], second.stderr

    first.process.kill()  # kill -9: no chance to give the lease up
    first.process.wait(timeout=10)
    assert env.store().lease().pid == first.process.pid
    time.sleep(1.2)  # the dead holder's lease expires
    third = ServeProcess(short)
    third.wait_for(rf"took over the worker lease from serve pid {first.process.pid}")
    assert env.store().lease().pid == third.process.pid
    assert third.stop() == 0, third.out


def test_a_restarted_worker_takes_a_killed_holders_lease_at_once_but_never_a_live_one(
        env, corpus_server):
    """After kill -9, a restarted `serve` on the same host was refused until the dead holder's
    lease expired (two minutes by default), though the holder's pid was gone: a supervisor
    restarting it (systemd's Restart=on-failure) saw it exit 1 over and over meanwhile."""

    if process_space() is None:
        pytest.skip("no /proc: a holder's pid cannot be judged, its lease waits for expiry")
    env.write_queries(ONE_QUERY)
    default_lease = env.vars(WATCHER_POLL_EVERY="60")  # WATCHER_LEASE_SECONDS: 120
    first = ServeProcess(default_lease)
    first.wait_for(r"worker lease taken")
    live = run_watcher("serve", env=default_lease, timeout=20)
    assert live.returncode == 1, "a live holder is never taken over"
    assert f"another worker is running: serve pid {first.process.pid} on" in live.stderr

    first.process.kill()  # kill -9: the lease stays, unexpired, naming a pid that is gone
    first.process.wait(timeout=10)
    held = env.store().lease()
    assert held.pid == first.process.pid
    assert datetime.fromisoformat(held.expires) > utc_now() + timedelta(seconds=60)
    second = ServeProcess(default_lease)
    second.wait_for(rf"took over the worker lease from serve pid {first.process.pid} on .*"
                    r"its process is gone from this host")
    second.wait_for(r"worker lease taken")
    assert env.store().lease().pid == second.process.pid
    assert second.stop() == 0, second.out
    assert env.store().lease() is None


@pytest.mark.parametrize("space", ["00000000", None], ids=["another container", "older watcher"])
def test_a_dead_pid_is_not_taken_over_early_when_it_may_be_another_containers(env, space):
    """Another container with the same host name has its own pids: a pid dead here may be its
    live worker. Only a holder of this very boot and PID namespace is judged by its pid; any
    other waits for its lease to expire."""

    if process_space() is None:
        pytest.skip("no /proc: a holder's pid cannot be judged, its lease waits for expiry")
    env.write_queries(ONE_QUERY)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(gone.stdout)  # a process of this host that has exited
    settings = env.settings()
    holder = Holder.this_process()
    assert process_space() and holder.name.endswith(f", ns {process_space()})")

    def lease_of(name: str) -> None:  # as that holder would have taken it, unexpired
        with closing(env.store()) as store:
            current = store.lease()
            if current:
                store.release_lease(current.holder)
            assert store.take_lease(name, host=holder.host, pid=pid, now=utc_now(),
                                    ttl=120) is None

    lease_of(f"serve pid {pid} on {holder.host} (abcdef" + (f", ns {space})" if space else ")"))
    refused = f"another worker is running: serve pid {pid} on"
    with pytest.raises(WatcherError, match=refused), held_lease(settings.db, holder,
                                                                 settings.lease_seconds):
        pass
    lease_of(f"serve pid {pid} on {holder.host} (abcdef, ns {process_space()})")
    # the same process space: the pid is certainly gone
    with held_lease(settings.db, holder, settings.lease_seconds), closing(env.store()) as store:
        assert store.lease().holder == holder.name


@pytest.mark.hostile
def test_two_workers_with_the_same_pid_and_host_name_are_still_one_at_a_time(env):
    """Two containers started with the same --hostname (or sharing the host's network) both
    run `serve` as pid 1: the lease holder was "serve pid 1 on watcher" for both, so the second
    took the first one's live lease as its own and both ran."""

    env.write_queries(ONE_QUERY)
    settings = env.settings()
    first, second = Holder.this_process(), Holder.this_process()
    assert (first.pid, first.host) == (second.pid, second.host)
    with held_lease(settings.db, first, settings.lease_seconds):
        try:
            with held_lease(settings.db, second, settings.lease_seconds):
                pass
        except WatcherError as refused:
            assert f"serve pid {first.pid} on {first.host}" in str(refused)
        else:
            raise AssertionError("the second worker took the first one's live lease")
    with closing(env.store()) as store:
        assert store.lease() is None


def test_run_once_waits_for_the_workers_current_step(env, corpus_server):
    env.write_queries(ONE_QUERY)
    corpus_server.slow_next(2, endpoint="efetch")
    worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60"))
    deadline = time.monotonic() + 15
    while not corpus_server.calls("efetch") and time.monotonic() < deadline:
        time.sleep(0.02)
    result = run_watcher("run", "--once", env=env.vars(), timeout=30)
    assert result.returncode == 0, result.stderr
    assert "waiting for another watcher process" in result.stderr
    assert worker.stop() == 0
    assert Store(env.db).lease() is None


@pytest.mark.hostile
def test_commands_run_beside_the_worker_lose_none_of_their_writes(env, corpus_server):
    """`watcher poll` while `serve` runs (the README allows it). Each job of the worker opened
    the database file to check its header and closed it, which dropped the POSIX locks of the
    worker's other connection (the lease keeper); the next command to finish then took itself
    for the last user and deleted the -wal file the worker was still writing, and the worker's
    next checkpoint overwrote what a later command had committed. From the first such command
    on, every job of the worker failed with "disk I/O error" until it was restarted."""
    env.write_queries(ONE_QUERY)
    worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="0.01", WATCHER_LEASE_SECONDS="1"))
    worker.wait_for(r"polled 1 query/source", count=2)  # jobs have opened the database
    for _ in range(2):
        assert run_watcher("poll", env=env.vars(), timeout=30).returncode == 0
        polls = sum("polled 1 query/source" in line for line in worker.lines)
        worker.wait_for(r"polled 1 query/source", count=polls + 1)  # the worker writes on
    assert worker.stop() == 0, worker.out
    polls = sum("polled 1 query/source" in line for line in worker.lines)
    with closing(sqlite3.connect(env.db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        commands = [c for (c,) in conn.execute("SELECT command FROM runs")]
    assert commands.count("poll") == polls + 2, commands  # every run, the worker's and ours
    assert "disk I/O error" not in worker.out


def test_status_shows_windows_schedules_what_cannot_send_and_the_worker(env, corpus_server,
                                                                        unused_port):
    env.write_queries("""\
destinations:
  team:
    kind: slack
    channel: "#ketamine-watch"
    schedule: {every: 6h}
""" + ONE_QUERY + "    destinations: [team]\n")
    assert "worker: none running" in env.cli("status").stdout
    env.cli("run", "--once")
    env.cli("poll", WATCHER_EUTILS_URL=f"http://127.0.0.1:{unused_port}/")  # fails: kept
    store = env.store()
    store.take_lease("serve pid 4242 on elsewhere", host="elsewhere", pid=4242,
                     now=utc_now() - timedelta(minutes=10), ttl=120)
    status = env.cli("status").stdout
    line = next(x for x in status.splitlines() if x.startswith("depression / PubMed"))
    window = next(p for p in store.positions() if p.query_id == "depression")
    start = (utc_now() - timedelta(days=30)).date().isoformat()  # the look-back (default 30)
    assert f"window {start} to {window.window_end}" in line, line
    assert "LAST ERROR" in line and "could not reach" in line, line
    team = next(x for x in status.splitlines() if x.startswith("destination team"))
    assert "pending, last sent never; schedule every 6h" in team, team
    assert "CANNOT SEND: SLACK_BOT_TOKEN not set" in team, team
    assert "worker: serve pid 4242 on elsewhere since" in status
    assert "STALE: expired" in status
    store.release_lease("serve pid 4242 on elsewhere")
    assert "worker: none running" in env.cli("status").stdout


# --- live YAML edits, and what the ops destination is told -----------------------------------

def test_yaml_edits_are_picked_up_and_an_invalid_edit_is_reported_once(env, corpus_server):
    env.write_queries(WITH_OPS + ONE_QUERY)
    worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="0.015"))  # about a second
    worker.wait_for(r"polled 1 query/source")
    env.write_queries(WITH_OPS + ONE_QUERY + """\
  - id: anxiety
    condition: Anxiety
    sources:
      pubmed:
        terms: '"social anxiety"[tiab]'
""")
    worker.wait_for(r"queries reloaded: 2 queries")
    worker.wait_for(r"polled 2 query/source")
    assert any("social anxiety" in c["term"] for c in corpus_server.calls("esearch"))

    env.write_queries("queries: [\n")
    worker.process.send_signal(signal.SIGHUP)
    worker.wait_for(r"queries not reloaded, the last valid configuration keeps running")
    before = len(corpus_server.calls("esearch"))
    polls = sum("polled 2 query/source" in line for line in worker.lines)
    worker.wait_for(r"polled 2 query/source", count=polls + 2)  # the old config keeps running
    assert len(corpus_server.calls("esearch")) >= before + 4
    assert worker.stop() == 0, worker.out
    logged = [line for line in worker.lines if "ERROR" in line and "not reloaded" in line]
    assert len(logged) == 1, "reported once, not at every job"
    assert "queries.yaml" in logged[0]
    ops = worker.out[worker.out.index("digest for ops"):]
    assert "queries not reloaded" in ops, "the ops destination was told"


@pytest.mark.hostile
def test_the_same_invalid_edit_made_again_after_a_fix_is_told_to_ops_again(env, corpus_server):
    """Break the YAML, fix it, break it the same way next week: ops must hear of it both
    times (it was told only once ever, since the notice was keyed by its message alone)."""
    env.write_queries(WITH_OPS + ONE_QUERY)
    worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="0.015"))  # about a second
    worker.wait_for(r"polled 1 query/source")
    for time_round in (1, 2):
        env.write_queries("queries: [\n")
        worker.wait_for(r"ERROR .*queries not reloaded", count=time_round)
        worker.wait_for(r"^! queries not reloaded", count=time_round)  # ops's digest
        env.write_queries(WITH_OPS + ONE_QUERY)
        worker.wait_for(r"queries reloaded: 1 queries", count=time_round)
    assert worker.stop() == 0, worker.out
    told = [line for line in worker.lines if line.startswith("! queries not reloaded")]
    assert len(told) == 2, worker.out


@pytest.mark.hostile
def test_an_ops_destination_that_cannot_be_reached_is_reported_once_and_blocks_nothing(
        env, corpus_server, unused_port):
    """The ops webhook is down when an invalid edit is to be told: one error line naming it
    (not "ops: ops: ..."), no retry at every job, polls go on, and `health` names it."""
    env.write_queries("""\
destinations:
  ops:
    kind: slack_webhook
""" + ONE_QUERY)
    hook = f"http://127.0.0.1:{unused_port}/services/T0/B0/hooksecret"
    worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="0.015", SLACK_WEBHOOK_URL=hook))
    worker.wait_for(r"polled 1 query/source")
    env.write_queries("queries: [\n")
    worker.wait_for(r"ERROR .*ops: Slack could not be reached")
    polls = sum("polled 1 query/source" in line for line in worker.lines)
    worker.wait_for(r"polled 1 query/source", count=polls + 3)
    worker.process.send_signal(signal.SIGHUP)  # the same edit: already told
    worker.wait_for(r"polled 1 query/source", count=polls + 4)
    assert worker.stop() == 0, worker.out
    failed = [line for line in worker.lines if "could not be reached" in line and "ERROR" in line]
    assert len(failed) == 1 and "ops: ops:" not in failed[0], worker.out
    assert "ops: ops:" not in worker.out, "no log line names the destination twice"
    assert "hooksecret" not in worker.out
    env.write_queries("""\
destinations:
  ops:
    kind: slack_webhook
""" + ONE_QUERY)
    health = env.cli("health", SLACK_WEBHOOK_URL=hook)
    assert health.exit_code == 1
    assert health.output.startswith("destination ops cannot send: "), health.output
    assert "hooksecret" not in health.output


@pytest.mark.hostile
def test_an_unscheduled_ops_destination_hears_of_a_failing_source_under_serve(env,
                                                                            unused_port):
    """ops without a schedule was told of an invalid edit at once, but a source failing too
    long (or a query gone silent) was only queued for it: `serve` never sends an unscheduled
    destination, so ops heard nothing until someone ran `watcher digest`."""
    env.write_queries(WITH_OPS + ONE_QUERY)
    worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="0.015", WATCHER_HEALTH_FAILING_HOURS="0",
                             WATCHER_EUTILS_URL=f"http://127.0.0.1:{unused_port}/"))
    worker.wait_for(r"source\(s\) failing longer than 0 hours")
    worker.wait_for(r"^! PubMed for query depression has never succeeded")
    polls = sum("polled 1 query/source" in line for line in worker.lines)
    worker.wait_for(r"polled 1 query/source", count=polls + 2)
    assert worker.stop() == 0, worker.out
    told = [line for line in worker.lines if line.startswith("! PubMed for query depression")]
    assert len(told) == 1, worker.out  # once a day, not at every poll


# --- digests caught up at start-up -----------------------------------------------------------

def test_a_weekly_digest_missed_while_the_worker_was_down_is_sent_at_start_up(env,
                                                                             corpus_server):
    env.write_queries("""\
destinations:
  weekly:
    kind: terminal
    schedule: {cron: "30 8 * * mon", timezone: America/New_York}
  later:
    kind: terminal
    schedule: {cron: "30 8 * * mon", timezone: America/New_York}
""" + ONE_QUERY + "    destinations: [weekly, later]\n")

    scheduled_job(env.settings(), "weekly")
    scheduled_job(env.settings(), "later")
    conn = sqlite3.connect(env.db)
    with conn:  # weekly's last digest: three weeks ago, so last Monday's was missed
        conn.execute("UPDATE digests SET sent_at = ? WHERE destination = 'weekly'",
                     (stamp(utc_now() - timedelta(days=21)),))
    worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60"))
    worker.wait_for(r"weekly: digest missed while the worker was down")
    worker.wait_for(r"weekly: digest done")
    assert worker.stop() == 0, worker.out
    assert "later: digest missed" not in worker.out and "digest for later" not in worker.out
    last, _ = env.store().last_digest("weekly")
    assert last > stamp(utc_now() - timedelta(minutes=5)), "sent now"


def test_a_weekly_firing_with_nothing_to_send_is_not_caught_up_at_the_next_start(
        env, corpus_server):
    """Slack skips an empty digest, so last Monday's firing left no digest behind, only its
    run. A restart on Wednesday (a deploy, the platform's daily restart) took the firing for
    missed and sent the weekly digest there and then, mid-week."""
    env.write_queries("""\
destinations:
  weekly:
    kind: terminal
    send_empty: false
    schedule: {cron: "30 8 * * mon", timezone: America/New_York}
""" + ONE_QUERY + "    destinations: [weekly]\n")

    scheduled_job(env.settings(), "weekly")  # a digest with the corpus in it
    with closing(sqlite3.connect(env.db)) as conn, conn:  # ... sent three weeks ago
        conn.execute("UPDATE digests SET sent_at = ?", (stamp(utc_now() - timedelta(days=21)),))
    scheduled_job(env.settings(), "weekly")  # the latest firing: nothing new, nothing sent
    with closing(sqlite3.connect(env.db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM digests").fetchone()[0] == 1
    worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60"))
    worker.wait_for(r"polled 1 query/source")
    assert worker.stop() == 0, worker.out
    assert "digest missed" not in worker.out, worker.out

    with closing(sqlite3.connect(env.db)) as conn, conn:  # had that firing failed (Slack
        conn.execute("UPDATE runs SET status = 'failed'"  # down), it would be caught up
                     " WHERE command = 'serve weekly'")
    worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60"))
    worker.wait_for(r"weekly: digest missed while the worker was down")
    assert worker.stop() == 0, worker.out


# --- digests that could not be sent: retries -------------------------------------------------

def test_a_scheduled_digest_that_could_not_be_sent_is_tried_again_soon(env, corpus_server):
    """Slack is down when the weekly (here hourly) digest fires: the worker tries again after
    WATCHER_DIGEST_RETRY seconds, then twice as long, instead of waiting for the next firing,
    and the items arrive once."""

    env.write_queries("""\
destinations:
  hook:
    kind: slack_webhook
    schedule: {every: 1h}
""" + ONE_QUERY + "    destinations: [hook]\n")
    with SlackServer(interval=0.05) as slack:
        extra = {"SLACK_WEBHOOK_URL": slack.webhook_url, "WATCHER_DIGEST_RETRY": "1"}
        scheduled_job(env.settings(**extra), "hook")
        assert len(slack.webhook_posts()) == 1
        conn = sqlite3.connect(env.db)
        with conn:  # the last digest went out two hours ago: this hour's firing is due
            conn.execute("UPDATE digests SET sent_at = ?",
                         (stamp(utc_now() - timedelta(hours=2)),))
        conn.close()
        corpus_server.add_synthetic(1, first_pmid=39_900_001, newest=utc_now().date(), days=1,
                                    title="Ketamine for treatment-resistant depression")
        slack.quirk_next("http_500", method="webhook", times=2)  # Slack is down a moment
        worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60", **extra))
        worker.wait_for(r"hook: digest not sent; trying again in 1 s \(attempt 2\)")
        worker.wait_for(r"hook: digest not sent; trying again in 2 s \(attempt 3\)")
        worker.wait_for(r"hook: digest done")
        assert worker.stop() == 0, worker.out
    assert not slack.quirks, "every 500 was met"
    carried = [post for post in slack.webhook_posts() if "39900001" in json.dumps(post.payload)]
    assert len(carried) == 1, "sent once, on the retry"
    assert env.store().pending_counts() == {}


def test_a_failed_digest_whose_next_firing_comes_sooner_waits_for_it(env, corpus_server):
    """A destination sent every few seconds: its next firing tries again; no extra retry."""

    env.write_queries("""\
destinations:
  hook:
    kind: slack_webhook
    schedule: {every: 2s}
""" + ONE_QUERY + "    destinations: [hook]\n")
    with SlackServer(interval=0.05) as slack:
        slack.quirk_next("http_500", method="webhook")
        worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60", WATCHER_DIGEST_RETRY="60",
                                 SLACK_WEBHOOK_URL=slack.webhook_url))
        worker.wait_for(r"hook: digest not sent; its next firing tries again")
        worker.wait_for(r"hook: digest done")
        assert worker.stop() == 0, worker.out
    assert "trying again in" not in worker.out
    assert len(slack.webhook_posts()) == 1 and env.store().pending_counts() == {}


def test_a_destination_renamed_while_its_failed_digest_waits_to_be_retried_is_sent_soon(
        env, corpus_server):
    """Slack failed the hourly digest, the retry is waiting, and the destination is renamed
    (renamed_from) meanwhile: the renamed destination's digest is due by the old name's
    history, so it is sent now, not an interval later (the old name's retry was dropped)."""

    hourly = """\
destinations:
  hook:
    kind: slack_webhook
    schedule: {every: 1h}
""" + ONE_QUERY + "    destinations: [hook]\n"
    env.write_queries(hourly)
    with SlackServer(interval=0.05) as slack:
        extra = {"SLACK_WEBHOOK_URL": slack.webhook_url, "WATCHER_DIGEST_RETRY": "600"}
        scheduled_job(env.settings(**extra), "hook")
        assert len(slack.webhook_posts()) == 1
        conn = sqlite3.connect(env.db)
        with conn:  # the last digest went out two hours ago: this hour's firing is due
            conn.execute("UPDATE digests SET sent_at = ?",
                         (stamp(utc_now() - timedelta(hours=2)),))
        conn.close()
        corpus_server.add_synthetic(1, first_pmid=39_900_002, newest=utc_now().date(), days=1,
                                    title="Ketamine for treatment-resistant depression")
        slack.quirk_next("http_500", method="webhook")  # Slack is down a moment
        worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60", **extra))
        worker.wait_for(r"hook: digest not sent; trying again in 10 min")
        env.write_queries(hourly.replace("  hook:\n", "  team-hook:\n    renamed_from: hook\n")
                          .replace("[hook]", "[team-hook]"))
        worker.process.send_signal(signal.SIGHUP)
        worker.wait_for(r"team-hook: digest done", timeout=30)
        assert worker.stop() == 0, worker.out
    carried = [post for post in slack.webhook_posts() if "39900002" in json.dumps(post.payload)]
    assert len(carried) == 1
    assert env.store().pending_counts() == {}


HOOK_HOURLY = """\
destinations:
  hook:
    kind: slack_webhook
    schedule: {every: 1h}
""" + ONE_QUERY + "    destinations: [hook]\n"


def _due_now(env) -> None:
    """The last digest went out two hours ago: the hourly firing is caught up at start."""
    conn = sqlite3.connect(env.db)
    with conn:
        conn.execute("UPDATE digests SET sent_at = ?", (stamp(utc_now() - timedelta(hours=2)),))
    conn.close()


@pytest.mark.hostile
@pytest.mark.parametrize("edit", [
    ONE_QUERY,  # the destination removed
    "destinations:\n  hook:\n    kind: slack_webhook\n" + ONE_QUERY
    + "    destinations: [hook]\n",  # its schedule removed
    ONE_QUERY + "retired: [hook]\n",  # removed on purpose
], ids=["removed", "unscheduled", "retired"])
def test_a_pending_retry_of_a_destination_the_yaml_no_longer_schedules_is_dropped(
        env, corpus_server, edit):
    """The operator removes (or unschedules) a destination while its retry waits: the retry
    neither errors about an unknown destination nor sends a destination serve never sends."""

    env.write_queries(HOOK_HOURLY)
    with SlackServer(interval=0.05) as slack:
        extra = {"SLACK_WEBHOOK_URL": slack.webhook_url, "WATCHER_DIGEST_RETRY": "2"}
        scheduled_job(env.settings(**extra), "hook")
        _due_now(env)
        corpus_server.add_synthetic(1, first_pmid=39_900_101, newest=utc_now().date(), days=1,
                                    title="Ketamine for treatment-resistant depression")
        slack.quirk_next("http_500", method="webhook", times=4)
        worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60", **extra))
        worker.wait_for(r"hook: digest not sent; trying again in 2 s")
        posts = len(slack.webhook_posts())
        env.write_queries(edit)
        worker.wait_for(r"hook: .*retry dropped")
        assert worker.stop() == 0, worker.out
        assert len(slack.webhook_posts()) == posts, "nothing sent to it after the edit"
    assert "unknown destination" not in worker.out and " ERROR " not in worker.out.split(
        "trying again in 2 s")[-1], worker.out
    if "retired" in edit:  # what the retry would have carried is set aside, never sent
        assert "retired destination hook: 1 item(s) set aside, never sent" in env.cli(
            "status").stdout


@pytest.mark.hostile
def test_the_rest_of_a_partly_sent_digest_is_caught_up_after_a_restart(env, corpus_server):
    """Slack accepts the first message of a digest, then fails; the worker is stopped (a
    deploy) while its retry waits. The next worker sends the rest at start-up, each item once,
    instead of leaving it for the next firing (a week, for a weekly digest)."""

    env.write_queries(HOOK_HOURLY.replace("    schedule:", "    max_items: 500\n    schedule:"))
    with SlackServer(interval=0.01) as slack:
        extra = {"SLACK_WEBHOOK_URL": slack.webhook_url, "WATCHER_DIGEST_RETRY": "600"}
        scheduled_job(env.settings(**extra), "hook")
        before = len(slack.webhook_posts())
        _due_now(env)
        corpus_server.add_synthetic(60, first_pmid=39_900_201, newest=utc_now().date(),
                                    days=1, title="Ketamine for treatment-resistant depression")
        slack.quirk_next("text:ok", method="webhook")  # the first message is accepted ...
        slack.quirk_next("http_500", method="webhook")  # ... the second is not
        first = ServeProcess(env.vars(WATCHER_POLL_EVERY="60", **extra))
        first.wait_for(r"hook: digest not sent; trying again in 10 min")
        assert first.stop() == 0, first.out
        assert "(1 of " in first.out, "a partial send"
        assert env.store().pending_counts().get("hook", 0) > 0

        second = ServeProcess(env.vars(WATCHER_POLL_EVERY="60", **extra))
        second.wait_for(r"hook: the rest of a digest only partly sent")
        second.wait_for(r"hook: digest done")
        assert second.stop() == 0, second.out
        posts = slack.webhook_posts()[before:]
    carried = [set(re.findall(r"39900\d{3}", json.dumps(p.payload))) for p in posts]
    assert len(set().union(*carried)) == 60 == sum(map(len, carried)), "each item once"
    assert env.store().pending_counts() == {}


@pytest.mark.hostile
def test_a_scheduled_digest_that_cannot_send_at_all_is_not_logged_as_done(
        env, corpus_server, caplog):
    """SLACK_WEBHOOK_URL was never set: the firing sends nothing, and its log line says so
    (it said 'digest done (N items)'), while `health` fails naming the missing setting."""

    env.write_queries(HOOK_HOURLY)
    caplog.set_level(logging.INFO, logger="watcher")
    scheduled_job(env.settings(), "hook")
    lines = [r.getMessage() for r in caplog.records if r.name == "watcher.serve"]
    assert not any("digest done" in line for line in lines), lines
    assert any(re.fullmatch(r"hook: digest not sent \(SLACK_WEBHOOK_URL not set\); \d+ item\(s\)"
                            r" stay pending", line) for line in lines), lines
    assert env.store().pending_counts().get("hook", 0) > 0
    health = env.cli("health")
    assert health.exit_code == 1 and "SLACK_WEBHOOK_URL not set" in health.output


@pytest.mark.hostile
def test_a_weekly_and_an_hourly_digest_failing_together_are_each_retried_and_sent_once(
        env, corpus_server):
    """Slack is down when both a weekly (cron) and an hourly digest fire: each gets its own
    retry (not one for both, not the weekly's next Monday), and each item reaches each
    destination once."""

    env.write_queries("""\
destinations:
  hook:
    kind: slack_webhook
    schedule: {every: 1h}
  weekly:
    kind: slack_webhook
    schedule: {cron: "0 8 * * mon"}
""" + ONE_QUERY + "    destinations: [hook, weekly]\n")
    with SlackServer(interval=0.01) as slack:
        extra = {"SLACK_WEBHOOK_URL": slack.webhook_url, "WATCHER_DIGEST_RETRY": "0.3",
                 "WATCHER_SLACK_INTERVAL": "0"}
        for name in ("hook", "weekly"):
            scheduled_job(env.settings(**extra), name)
        before = len(slack.webhook_posts())
        conn = sqlite3.connect(env.db)
        with conn:
            for name, age in (("hook", timedelta(hours=2)), ("weekly", timedelta(days=21))):
                conn.execute("UPDATE digests SET sent_at = ? WHERE destination = ?",
                             (stamp(utc_now() - age), name))
        conn.close()
        corpus_server.add_synthetic(1, first_pmid=39_900_401, newest=utc_now().date(), days=1,
                                    title="Ketamine for treatment-resistant depression")
        slack.quirk_next("http_500", method="webhook", times=2)
        worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60", **extra))
        for name in ("hook", "weekly"):
            worker.wait_for(rf"{name}: digest not sent; trying again in 0.3 s \(attempt 2\)")
            worker.wait_for(rf"{name}: digest done \(1 item")
        assert worker.stop() == 0, worker.out
        posts = slack.webhook_posts()[before:]
    assert sum("39900401" in json.dumps(p.payload) for p in posts) == 2, "once to each"
    assert env.store().pending_counts() == {}


# --- logs: JSON lines, no secrets, no terminal escapes ---------------------------------------

def test_logs_are_json_lines_without_secrets(env, unused_port):
    env.write_queries(ONE_QUERY)
    down = f"http://user:hunter2secret@127.0.0.1:{unused_port}/eutils/?api_key=test-key"
    worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60", WATCHER_LOG_FORMAT="json",
                             WATCHER_EUTILS_URL=down))
    worker.wait_for(r'"level": "error".*127\.0\.0\.1')  # the failed poll, naming the server
    assert worker.stop() == 0
    for line in worker.lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry)
    assert "hunter2secret" not in worker.out and "test-key" not in worker.out


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_title_or_error_with_terminal_escapes_reaches_no_log_line_raw(env, server,
                                                                       log_format):
    """serve prints the terminal digest (text logs) or logs it as one JSON line, and logs
    each failed poll: a registry title and a PubMed error body holding clear-screen, a
    window-title sequence, BEL, backspace and a bidi override show their words, never the
    controls (in a JSON line, not even escaped)."""

    server.fail_next(400, times=1000, body=f"bad term {HOSTILE_TITLE}")
    env.write_queries("""\
destinations:
  team:
    kind: terminal
    schedule: {every: 1s}
queries:
  - id: trials
    condition: Depression trials
    destinations: [team]
    sources:
      clinicaltrials:
        condition: depression
        intervention: ketamine
      pubmed:
        terms: ketamine[tiab]
""")
    with CtgovServer() as ctgov:
        trial = ketamine_trial("NCT09000077")
        trial["protocolSection"]["identificationModule"]["briefTitle"] = HOSTILE_TITLE
        ctgov.add_study(trial, updated=days_ago(2))
        worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60", WATCHER_LOG_FORMAT=log_format,
                                 WATCHER_CTGOV_URL=ctgov.url))
        worker.wait_for(r"team: digest done \(1 item")
        assert worker.stop() == 0, worker.out
    shown = worker.out
    if log_format == "json":
        shown = "\n".join(json.loads(line)["message"] for line in worker.lines)
    assert SHOWN_TITLE in " ".join(shown.split()), shown
    assert "answered HTTP 400: bad term " + SHOWN_TITLE in " ".join(shown.split())
    assert unprintable(shown) == [] and unprintable(worker.out) == []


def test_json_logs_stay_json_when_a_terminal_destination_prints_its_digest(env,
                                                                          corpus_server):
    """With WATCHER_LOG_FORMAT=json every stdout line must be a JSON object: a terminal
    destination's digest (the Procfile worker's log) was printed as raw multi-line text."""
    env.write_queries("""\
destinations:
  screen:
    kind: terminal
    schedule: {every: 1s}
""" + ONE_QUERY + "    destinations: [screen]\n")
    worker = ServeProcess(env.vars(WATCHER_POLL_EVERY="60", WATCHER_LOG_FORMAT="json"))
    worker.wait_for(r"screen: digest done")
    assert worker.stop() == 0, worker.out
    entries = [json.loads(line) for line in worker.lines]  # each line, or this fails
    digests = [e["message"] for e in entries if "digest for screen" in e["message"]]
    assert digests and "== Depression" in digests[0], worker.out


def test_text_log_lines_give_the_time_in_utc_on_a_host_in_another_zone(monkeypatch):
    """A worker on a host set to UTC+14 logged 'last sent 2026-12-06T23:55...+00:00' on a line
    stamped '2026-12-07 13:55': local time with no zone, another day than the one it quoted."""
    from datetime import UTC

    from watcher.serve.logs import TextFormatter

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    try:
        record = logging.LogRecord("watcher.serve", logging.INFO, __file__, 1,
                                   "team: digest done", None, None)
        record.created = datetime(2026, 12, 6, 23, 55, 30, tzinfo=UTC).timestamp()
        line = TextFormatter().format(record)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert line == "2026-12-06T23:55:30+00:00 INFO watcher.serve: team: digest done"
