"""`watcher health` for monitoring: exit 1 with one line per problem (a source failing longer
than WATCHER_HEALTH_FAILING_HOURS, a stale worker lease), 0 and "ok" otherwise; a source failing
too long is also noted once a day in its query's next digest."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from datetime import timedelta

import pytest
import sqlite_utils

from tests.fakes.slack import SlackServer
from tests.helpers import (
    FIXTURES,
    QUERIES_YAML,
    TWO_TERMINALS,
    days_ago,
    renumbered,
)
from tests.helpers.serve import ONE_QUERY
from watcher.clock import utc_now
from watcher.db.schema import MIGRATIONS
from watcher.health import report_failing_sources


def _failing_poll(env, unused_port) -> None:
    assert env.cli("poll").exit_code == 0
    down = env.cli("poll", WATCHER_EUTILS_URL=f"http://127.0.0.1:{unused_port}/")
    assert down.exit_code == 1


def test_health_is_1_when_a_source_has_failed_longer_than_configured(env, corpus_server,
                                                                    unused_port):
    env.write_queries(QUERIES_YAML)
    assert env.cli("health").output.strip() == "ok"
    _failing_poll(env, unused_port)

    recent = env.cli("health")  # failing for seconds: under the default 24 hours
    assert recent.exit_code == 0 and recent.output.strip() == "ok"

    long = env.cli("health", WATCHER_HEALTH_FAILING_HOURS="0")
    assert long.exit_code == 1
    lines = long.output.strip().splitlines()
    assert len(lines) == 3, lines  # one per query polled from PubMed
    assert all(line.startswith("source failing: PubMed for query ") for line in lines)
    assert "everything" in long.output and "has failed since" in long.output

    assert env.cli("poll").exit_code == 0  # the source recovers
    assert env.cli("health", WATCHER_HEALTH_FAILING_HOURS="0").output.strip() == "ok"


def test_health_json_has_the_text_form_s_problems_and_exit_codes(env, corpus_server,
                                                                 unused_port):
    """`health --json` is for a monitor that reads data: the same problems, the same exit
    codes (0 and 1 only), the failing sources as fields."""
    env.write_queries(QUERIES_YAML)
    healthy = env.cli("health", "--json")
    assert healthy.exit_code == 0
    assert json.loads(healthy.stdout) == {"version": 1, "ok": True, "problems": [],
                                          "failing_sources": []}
    _failing_poll(env, unused_port)
    sick = env.cli("health", "--json", WATCHER_HEALTH_FAILING_HOURS="0")
    text = env.cli("health", WATCHER_HEALTH_FAILING_HOURS="0")
    assert sick.exit_code == text.exit_code == 1
    data = json.loads(sick.stdout)
    assert data["ok"] is False and data["problems"] == text.stdout.splitlines()
    failing = {f["query_id"]: f for f in data["failing_sources"]}
    assert set(failing) == {"everything", "depression", "anxiety"}
    assert failing["everything"]["source"] == "pubmed"
    assert failing["everything"]["last_success"] and "could not reach" in (
        failing["everything"]["last_error"])
    assert "test-key" not in sick.stdout, "no secret"
    env.write_queries("queries: [\n")  # what stops the check is a problem too: still 1
    broken = env.cli("health", "--json")
    assert broken.exit_code == 1
    assert json.loads(broken.stdout)["problems"][0].startswith(str(env.queries))


def test_a_source_failing_too_long_is_noted_once_a_day_in_the_digest(env, corpus_server,
                                                                     unused_port):
    env.write_queries(QUERIES_YAML)
    _failing_poll(env, unused_port)
    store, config = env.store(), env.config()
    now = utc_now()  # one reading: "once a day" is per UTC date, and midnight may fall between
    assert report_failing_sources(config, store, now=now, hours=0) == 3
    assert report_failing_sources(config, store, now=now, hours=0) == 0, "once a day"
    assert report_failing_sources(config, store, now=now, hours=24) == 0
    shown = env.cli("digest")
    assert shown.output.count("has failed since") == 3, shown.output


def test_health_is_1_when_the_workers_lease_is_stale(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    store = env.store()
    long_ago = utc_now() - timedelta(hours=1)
    store.take_lease("serve pid 4242 on box", host="box", pid=4242, now=long_ago, ttl=120)
    stale = env.cli("health")
    assert stale.exit_code == 1
    assert stale.output.startswith("worker lease is stale: held by serve pid 4242 on box")
    store.take_lease("serve pid 4343 on box", host="box", pid=4343, now=utc_now(), ttl=120)
    assert env.cli("health").exit_code == 0


def test_health_is_1_when_a_destination_cannot_send(env, corpus_server, unused_port):
    env.write_queries("""\
destinations:
  team:
    kind: email
    to: [team@example.org]
defaults:
  destinations: [team]
""" + QUERIES_YAML.split("\n", 2)[2])
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(unused_port),
            "WATCHER_EMAIL_FROM": "watcher@example.org", "SMTP_TLS": "none"}
    assert env.cli("run", "--once", **smtp).exit_code == 1
    result = env.cli("health", **smtp)
    assert result.exit_code == 1
    assert result.output.startswith("destination team cannot send: "), result.output


def test_health_is_1_while_a_killed_slack_digests_items_cannot_be_checked(env, corpus_server):
    """A digest killed mid-send leaves items 'sending'; when the next run cannot read the
    channel to see which of them Slack already holds (here: the bot was removed from it), they
    stay 'sending' and every later digest waits: that is a destination that cannot send."""
    from tests.helpers.slack import WITH_SLACK, delivered_pmids, killed_run, slack_vars

    with SlackServer(interval=0.05) as slack:
        env.write_queries(WITH_SLACK)
        killed_run(env, slack, 2)
        slack.fail_next("not_in_channel", "conversations.history")
        stuck = env.cli("run", "--once", **slack_vars(slack))
        [line] = [line for line in stuck.stderr.splitlines() if "not_in_channel" in line]
        assert stuck.exit_code == 1 and line.endswith("(19 item(s) kept pending)"), line

        health = env.cli("health", **slack_vars(slack))
        assert health.exit_code == 1
        assert health.output.startswith("destination team cannot send: team: the bot is not a "
                                        "member of #ketamine-watch"), health.output
        assert "of an interrupted digest stay unsent" in health.output
        status = env.cli("status", **slack_vars(slack)).output
        [team] = [line for line in status.splitlines() if line.startswith("destination team")]
        assert "of them 'sending'" in team and "LAST ERROR: team: the bot is not a member" \
            in team, team

        again = env.cli("run", "--once", **slack_vars(slack))  # the bot is back in the channel
        assert again.exit_code == 0, again.stderr
        assert env.cli("health", **slack_vars(slack)).output.strip() == "ok"
        pmids = delivered_pmids(slack)
        assert len(pmids) == len(set(pmids)) == 19, "every item, none twice"


def test_health_is_1_when_the_databases_file_system_has_too_little_free_space(env,
                                                                              corpus_server):
    """A disk that is full now is reported even when nothing could be written about it: health
    measures the free space where the database is (here, against a threshold above it)."""
    import shutil

    env.write_queries(QUERIES_YAML)
    assert env.cli("poll").exit_code == 0
    free_mb = shutil.disk_usage(env.db.parent).free / 2**20
    low = env.cli("health", WATCHER_HEALTH_MIN_FREE_MB=str(int(free_mb * 4) + 1))
    assert low.exit_code == 1
    line, = low.output.strip().splitlines()
    assert line.startswith("storage: ") and " free on /" in line and str(env.db) in line
    assert env.cli("health", WATCHER_HEALTH_MIN_FREE_MB="0").output.strip() == "ok"
    assert env.cli("health").output.strip() == "ok"  # the default: 50 MB


def test_items_of_a_removed_destination_are_reported_never_dropped(env, corpus_server):
    env.write_queries(TWO_TERMINALS)
    assert env.cli("poll").exit_code == 0
    env.write_queries(TWO_TERMINALS.replace("  weekly:\n    kind: terminal\n", "")
                      .replace("[weekly, daily]", "[daily]"))
    assert env.cli("digest").exit_code == 0  # daily's digest goes; weekly's items stay
    status = env.cli("status")
    assert "destination daily (terminal): 0 pending" in status.stdout
    told = ("destination 'weekly' is no longer in the YAML: 19 item(s) pending; add "
            "renamed_from: weekly to the destination that replaces it, or retired: [weekly] to "
            "set them aside")
    assert f"ORPHANED: {told}" in status.stdout
    health = env.cli("health")
    assert health.exit_code == 1
    assert health.stdout.strip() == told
    assert env.store().pending_counts() == {"weekly": 19}, "nothing was dropped"


def test_a_destination_retired_on_purpose_has_its_items_set_aside_and_health_is_ok(
        env, corpus_server):
    """A team that stops a digest on purpose says so (`retired:`): what it still owed is set
    aside, kept and shown, never sent, and health is no longer held at 1 by it."""
    env.write_queries(TWO_TERMINALS)
    assert env.cli("poll").exit_code == 0
    without = (TWO_TERMINALS.replace("  weekly:\n    kind: terminal\n", "")
               .replace("[weekly, daily]", "[daily]"))
    env.write_queries(without + "retired: [weekly]\n")
    assert "retired destination weekly: 19 item(s) set aside, never sent" in \
        env.cli("status").stdout, "told before anything ran"
    assert env.cli("health").stdout.strip() == "ok"
    run = env.cli("run", "--once")
    assert run.exit_code == 0 and run.stdout.count("== ") >= 1
    store = env.store()
    assert store.pending_counts() == {} and store.retired_counts() == {"weekly": 19}
    status = env.cli("status").stdout
    assert "ORPHANED" not in status
    assert "retired destination weekly: 19 item(s) set aside, never sent" in status
    assert env.cli("health").stdout.strip() == "ok"

    # A study found while it was retired goes to daily only; brought back later, weekly is not
    # handed it when the next poll's overlap finds it again, nor what was set aside.
    corpus_server.add_synthetic(1, first_pmid=99000001, newest=days_ago(0), days=1,
                                title="Found while weekly was retired")
    assert env.cli("run", "--once").exit_code == 0
    env.write_queries(TWO_TERMINALS)
    assert env.cli("poll").exit_code == 0
    again = env.cli("digest", "weekly")
    assert again.exit_code == 0 and "No new studies" in again.stdout, again.stdout


def test_a_rename_not_yet_run_still_shows_the_old_names_error_and_last_digest(env,
                                                                             corpus_server):
    """Right after the YAML renames a destination (renamed_from), before anything has run and
    moved its history: status and health read the destination under both names. Its last
    delivery failed: health must not say ok, nor status 'last sent never'."""
    from tests.helpers.slack import RENAMED, WEEKLY, slack_vars

    with SlackServer(interval=0.05) as slack:
        env.write_queries(WEEKLY)
        assert env.cli("run", "--once", **slack_vars(slack)).exit_code == 0
        sent = env.store().last_digest("weekly")[0]
        corpus_server.add_article(renumbered(FIXTURES / "biopython/pubmed1.xml", "98000004"),
                                  entry_date=days_ago(0))
        slack.fail_next("channel_not_found")
        assert env.cli("run", "--once", **slack_vars(slack)).exit_code == 1
        env.write_queries(RENAMED)

        health = env.cli("health", **slack_vars(slack))
        assert health.exit_code == 1, health.output
        assert health.output.startswith("destination team-weekly cannot send: weekly: the "
                                        "channel #ketamine-watch was not found"), health.output
        status = env.cli("status", **slack_vars(slack)).stdout
        [line] = [x for x in status.splitlines() if x.startswith("destination team-weekly")]
        assert f"1 pending, last sent {sent};" in line and "LAST ERROR: weekly: the channel" \
            in line, line


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.hostile
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


@pytest.mark.hostile
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


@pytest.mark.hostile
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


@pytest.mark.hostile
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


@pytest.mark.hostile
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


@pytest.mark.hostile
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


@pytest.mark.hostile
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
