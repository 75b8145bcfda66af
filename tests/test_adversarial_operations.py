"""The operations features (`status`, `health`, `serve`) against a hostile operator and a flaky
upstream: a database that is missing, old, corrupt or locked; clocks that disagree; a
destination that cannot send. Each test is a defect found by trying; see test_serve.py,
test_health.py and test_adversarial_serve.py for the rest."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from datetime import timedelta

import sqlite_utils

from tests.helpers import QUERIES_YAML, ROOT, run_watcher
from tests.helpers.serve import ONE_QUERY, WITH_OPS, Worker
from watcher.db.schema import MIGRATIONS
from watcher.health import report_failing_sources
from watcher.runtime import stamp, utc_now


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- status and health only read the database ----------------------------------------------

def test_status_and_health_do_not_create_a_missing_database(env):
    """A monitor pointed at a mistyped WATCHER_DB must not leave a new empty database (and
    its folder) behind, which the next `status` would then read as "nothing wrong"."""
    env.write_queries(QUERIES_YAML)
    status = env.cli("status")
    assert status.exit_code == 0, status.output
    assert "not created yet" in status.output
    health = env.cli("health")
    assert health.exit_code == 0 and health.output.strip() == "ok"
    assert not env.db.exists() and not env.db.parent.exists()


def test_status_and_health_leave_an_older_schema_untouched(env):
    """During a deploy the new image's health check runs while the old worker still writes:
    a read-only command must not migrate the database under it."""
    env.write_queries(QUERIES_YAML)
    env.db.parent.mkdir()
    db = sqlite_utils.Database(env.db)
    MIGRATIONS[0](db)
    db.conn.execute("PRAGMA user_version = 1")
    db.conn.commit()
    db.conn.close()
    before = _digest(env.db)
    assert env.cli("health").exit_code == 0
    assert env.cli("status").exit_code == 0
    assert _digest(env.db) == before
    assert sqlite3.connect(env.db).execute("PRAGMA user_version").fetchone()[0] == 1


def test_health_answers_while_a_writer_holds_the_database(env, corpus_server):
    """A writer mid-transaction (the worker storing a page) must not make `health` wait for
    it or fail with "database is locked": readers do not wait in WAL mode."""
    env.write_queries(ONE_QUERY)
    assert env.cli("poll").exit_code == 0
    writer = sqlite3.connect(env.db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE positions SET last_error = 'x'")
    try:
        health = env.cli("health")
        status = env.cli("status")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert health.exit_code == 0 and health.output.strip() == "ok", health.output
    assert status.exit_code == 0 and "depression / PubMed: last success" in status.output


def test_health_exits_1_not_2_when_it_cannot_check(env, corpus_server):
    """Docker's HEALTHCHECK reads 0 healthy, 1 unhealthy and reserves 2: a corrupt database,
    an invalid edit or a bad variable must still be one line and exit 1."""
    env.write_queries(ONE_QUERY)
    assert env.cli("poll").exit_code == 0
    bad = env.cli("health", WATCHER_HEALTH_FAILING_HOURS="abc")
    assert bad.exit_code == 1 and "WATCHER_HEALTH_FAILING_HOURS='abc'" in bad.stderr
    env.write_queries("queries: [\n")
    broken = env.cli("health")
    assert broken.exit_code == 1 and "queries.yaml" in broken.stderr, broken.stderr
    env.write_queries(ONE_QUERY)
    with sqlite3.connect(env.db) as conn:  # everything into the main file, then damage it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(env.db, "r+b") as handle:  # the schema page overwritten past the file header
        handle.seek(100)
        handle.write(b"garbage" * 500)
    corrupt = env.cli("health")
    assert corrupt.exit_code == 1, corrupt.output
    lines = corrupt.stderr.strip().splitlines()
    assert len(lines) == 1 and "WATCHER_DB=" in lines[0], corrupt.stderr


# --- health tells what status tells --------------------------------------------------------

def test_health_is_1_when_a_destination_lacks_its_token(env, corpus_server):
    """`status` says CANNOT SEND: SLACK_BOT_TOKEN not set, the digest only notes it and keeps
    the items pending (exit 0): `health` must not say ok while nothing can reach the team."""
    env.write_queries("""\
destinations:
  team:
    kind: slack
    channel: "#ketamine-watch"
""" + ONE_QUERY + "    destinations: [team]\n")
    assert env.cli("run", "--once").exit_code == 0
    assert "CANNOT SEND: SLACK_BOT_TOKEN not set" in env.cli("status").output
    health = env.cli("health")
    assert health.exit_code == 1
    assert health.output.strip() == "destination team cannot send: SLACK_BOT_TOKEN not set"
    assert env.cli("health", SLACK_BOT_TOKEN="xoxb-test").exit_code == 0


def test_health_is_1_when_the_lease_was_renewed_by_a_clock_ahead(env, corpus_server):
    """A worker on a host whose clock is an hour ahead: once it dies its lease blocks every
    new worker for that hour while health, seeing an unexpired lease, said ok."""
    env.write_queries(ONE_QUERY)
    store = env.store()
    ahead = utc_now() + timedelta(hours=1)
    store.take_lease("serve pid 4242 on fast", host="fast", pid=4242, now=ahead, ttl=120)
    health = env.cli("health")
    assert health.exit_code == 1
    assert health.output.startswith("worker lease renewed in the future: held by serve pid "
                                    "4242 on fast"), health.output
    store.release_lease("serve pid 4242 on fast")
    store.take_lease("serve pid 4343 on box", host="box", pid=4343,
                     now=utc_now() + timedelta(seconds=5), ttl=120)  # a second's skew is fine
    assert env.cli("health").exit_code == 0


# --- serve: ops and logs -------------------------------------------------------------------

def test_the_same_invalid_edit_made_again_after_a_fix_is_told_to_ops_again(env, corpus_server):
    """Break the YAML, fix it, break it the same way next week: ops must hear of it both
    times (it was told only once ever, since the notice was keyed by its message alone)."""
    env.write_queries(WITH_OPS + ONE_QUERY)
    worker = Worker(env.vars(WATCHER_POLL_EVERY="0.015"))  # about a second
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
    worker = Worker(env.vars(WATCHER_POLL_EVERY="60", WATCHER_LOG_FORMAT="json"))
    worker.wait_for(r"screen: digest done")
    assert worker.stop() == 0, worker.out
    entries = [json.loads(line) for line in worker.lines]  # each line, or this fails
    digests = [e["message"] for e in entries if "digest for screen" in e["message"]]
    assert digests and "== Depression" in digests[0], worker.out


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
    worker = Worker(env.vars(WATCHER_POLL_EVERY="0.015", SLACK_WEBHOOK_URL=hook))
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
    from watcher.scheduler import scheduled_job

    scheduled_job(env.settings(), "weekly")  # a digest with the corpus in it
    with closing(sqlite3.connect(env.db)) as conn, conn:  # ... sent three weeks ago
        conn.execute("UPDATE digests SET sent_at = ?", (stamp(utc_now() - timedelta(days=21)),))
    scheduled_job(env.settings(), "weekly")  # the latest firing: nothing new, nothing sent
    with closing(sqlite3.connect(env.db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM digests").fetchone()[0] == 1
    worker = Worker(env.vars(WATCHER_POLL_EVERY="60"))
    worker.wait_for(r"polled 1 query/source")
    assert worker.stop() == 0, worker.out
    assert "digest missed" not in worker.out, worker.out

    with closing(sqlite3.connect(env.db)) as conn, conn:  # had that firing failed (Slack
        conn.execute("UPDATE runs SET status = 'failed'"  # down), it would be caught up
                     " WHERE command = 'serve weekly'")
    worker = Worker(env.vars(WATCHER_POLL_EVERY="60"))
    worker.wait_for(r"weekly: digest missed while the worker was down")
    assert worker.stop() == 0, worker.out


# Run the real worker in a process, with a signal delivered while it loads the queries and
# takes the lease (a deploy stopping, or reloading, a worker it has just started).
SIGNAL_DURING_START_UP = """\
import os, signal, sys
from watcher import scheduler
from watcher.settings import Settings

scheduler.configure_logging("text")
worker = scheduler.Worker(Settings.from_env(os.environ))
take_lease = worker.take_lease
def signalled_take_lease():
    take_lease()
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
worker.take_lease = signalled_take_lease
worker.run()
"""


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


def test_commands_run_beside_the_worker_lose_none_of_their_writes(env, corpus_server):
    """`watcher poll` while `serve` runs (the README allows it). Each job of the worker opened
    the database file to check its header and closed it, which dropped the POSIX locks of the
    worker's other connection (the lease keeper); the next command to finish then took itself
    for the last user and deleted the -wal file the worker was still writing, and the worker's
    next checkpoint overwrote what a later command had committed. From the first such command
    on, every job of the worker failed with "disk I/O error" until it was restarted."""
    env.write_queries(ONE_QUERY)
    worker = Worker(env.vars(WATCHER_POLL_EVERY="0.01", WATCHER_LEASE_SECONDS="1"))
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


def test_two_workers_with_the_same_pid_and_host_name_are_still_one_at_a_time(env):
    """Two containers started with the same --hostname (or sharing the host's network) both
    run `serve` as pid 1: the lease holder was "serve pid 1 on watcher" for both, so the second
    took the first one's live lease as its own and both ran."""
    from watcher.errors import WatcherError
    from watcher.scheduler import Worker as ServeWorker

    env.write_queries(ONE_QUERY)
    first, second = ServeWorker(env.settings()), ServeWorker(env.settings())
    assert (first.pid, first.host) == (second.pid, second.host)
    first.take_lease()
    try:
        second.take_lease()
    except WatcherError as refused:
        assert f"serve pid {first.pid} on {first.host}" in str(refused)
    else:
        raise AssertionError("the second worker took the first one's live lease")
    finally:
        first.release_lease()
    with closing(env.store()) as store:
        assert store.lease() is None


def test_health_is_1_for_a_source_that_has_failed_since_its_first_poll(env, corpus_server,
                                                                       unused_port):
    """A new installation with a wrong NCBI address (or key) has never polled successfully:
    `health` said ok for as long as that lasted, as there was no last success to measure
    from. Its first failed poll is that date."""
    env.write_queries(ONE_QUERY)
    down = {"WATCHER_EUTILS_URL": f"http://127.0.0.1:{unused_port}/"}
    assert env.cli("poll", **down).exit_code == 1
    assert env.cli("poll", **down).exit_code == 1
    recent = env.cli("health")  # failing for seconds: under the default 24 hours
    assert recent.exit_code == 0 and recent.output.strip() == "ok", recent.output
    failing = env.cli("health", WATCHER_HEALTH_FAILING_HOURS="0")
    assert failing.exit_code == 1
    assert failing.output.startswith("source failing: PubMed for query depression has never "
                                     "succeeded (failing since "), failing.output
    with closing(env.store()) as store:
        assert report_failing_sources(env.config(), store, now=utc_now(), hours=0) == 1


def test_an_unscheduled_ops_destination_hears_of_a_failing_source_under_serve(env,
                                                                            unused_port):
    """ops without a schedule was told of an invalid edit at once, but a source failing too
    long (or a query gone silent) was only queued for it: `serve` never sends an unscheduled
    destination, so ops heard nothing until someone ran `watcher digest`."""
    env.write_queries(WITH_OPS + ONE_QUERY)
    worker = Worker(env.vars(WATCHER_POLL_EVERY="0.015", WATCHER_HEALTH_FAILING_HOURS="0",
                             WATCHER_EUTILS_URL=f"http://127.0.0.1:{unused_port}/"))
    worker.wait_for(r"source\(s\) failing longer than 0 hours")
    worker.wait_for(r"^! PubMed for query depression has never succeeded")
    polls = sum("polled 1 query/source" in line for line in worker.lines)
    worker.wait_for(r"polled 1 query/source", count=polls + 2)
    assert worker.stop() == 0, worker.out
    told = [line for line in worker.lines if line.startswith("! PubMed for query depression")]
    assert len(told) == 1, worker.out  # once a day, not at every poll
