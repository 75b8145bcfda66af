"""The newest pieces under a hostile operator and a flaky upstream: the retry of a scheduled
digest that could not be sent, status/health reading the database in place, the NCBI rate cap,
and the registrations byline."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from tests.helpers import QUERIES_YAML
from tests.helpers.serve import ONE_QUERY, Worker
from watcher.db import Store
from watcher.runtime import stamp, utc_now
from watcher.settings import Settings
from watcher.sources.pubmed import ncbi_rate


@pytest.mark.parametrize("url", [
    "https://eutils.ncbi.nlm.nih.gov./entrez/eutils/",  # the fully qualified name: same server
    "https://EUTILS.NCBI.NLM.NIH.GOV../entrez/eutils/",
])
def test_ncbi_s_own_host_written_with_a_trailing_dot_keeps_ncbi_s_cap(url):
    """A trailing dot names the same NCBI host (DNS resolves it alike): a raised
    WATCHER_NCBI_RATE must not get past NCBI's 3 requests/s with it."""
    settings = Settings.from_env({"WATCHER_NCBI_RATE": "1e9", "WATCHER_EUTILS_URL": url})
    assert ncbi_rate(settings) == 3


def test_a_look_alike_host_is_not_ncbi_and_hostile_rates_are_refused():
    """eutils.ncbi.nlm.nih.gov.evil.example is another server (its own rate applies); inf, nan,
    negative and zero rates are configuration errors, never a limiter that crashes."""
    from watcher.errors import ConfigError

    evil = "https://eutils.ncbi.nlm.nih.gov.evil.example/"
    assert ncbi_rate(Settings.from_env({"WATCHER_NCBI_RATE": "50",
                                        "WATCHER_EUTILS_URL": evil})) == 50
    for value in ("inf", "nan", "-1", "0", "1e999"):
        with pytest.raises(ConfigError, match="WATCHER_NCBI_RATE"):
            Settings.from_env({"WATCHER_NCBI_RATE": value})


# --- retry:NAME under edits, stops and partial sends -------------------------------------

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
    from tests.fakes.slack import SlackServer
    from watcher.scheduler import scheduled_job

    env.write_queries(HOOK_HOURLY)
    with SlackServer(interval=0.05) as slack:
        extra = {"SLACK_WEBHOOK_URL": slack.webhook_url, "WATCHER_DIGEST_RETRY": "2"}
        scheduled_job(env.settings(**extra), "hook")
        _due_now(env)
        corpus_server.add_synthetic(1, first_pmid=39_900_101, newest=utc_now().date(), days=1,
                                    title="Ketamine for treatment-resistant depression")
        slack.quirk_next("http_500", method="webhook", times=4)
        worker = Worker(env.vars(WATCHER_POLL_EVERY="60", **extra))
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


def test_the_rest_of_a_partly_sent_digest_is_caught_up_after_a_restart(env, corpus_server):
    """Slack accepts the first message of a digest, then fails; the worker is stopped (a
    deploy) while its retry waits. The next worker sends the rest at start-up, each item once,
    instead of leaving it for the next firing (a week, for a weekly digest)."""
    from tests.fakes.slack import SlackServer
    from watcher.scheduler import scheduled_job

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
        first = Worker(env.vars(WATCHER_POLL_EVERY="60", **extra))
        first.wait_for(r"hook: digest not sent; trying again in 10 min")
        assert first.stop() == 0, first.out
        assert "(1 of " in first.out, "a partial send"
        assert env.store().pending_counts().get("hook", 0) > 0

        second = Worker(env.vars(WATCHER_POLL_EVERY="60", **extra))
        second.wait_for(r"hook: the rest of a digest only partly sent")
        second.wait_for(r"hook: digest done")
        assert second.stop() == 0, second.out
        posts = slack.webhook_posts()[before:]
    carried = [set(re.findall(r"39900\d{3}", json.dumps(p.payload))) for p in posts]
    assert len(set().union(*carried)) == 60 == sum(map(len, carried)), "each item once"
    assert env.store().pending_counts() == {}


# --- Store.reading on the files a crash, a copy or a running worker leave ----------------

def _wal_only_change(env, title: str) -> sqlite3.Connection:
    """A writer that committed *title* into the -wal only (no checkpoint), left open."""
    writer = sqlite3.connect(env.db)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    with writer:
        writer.execute("UPDATE studies SET title = ? WHERE id = (SELECT MIN(id) FROM studies)",
                       (title,))
    return writer


def test_a_database_whose_wal_came_without_its_shm_is_read_whole_and_left_as_found(
        env, corpus_server, tmp_path):
    """A restored copy (or a backup tool) brings `watcher.db` and its `-wal` but not the `-shm`:
    status and health read every committed change, yet create no `-shm` beside it (one made by
    root through `docker exec` could lock the worker's own user out of the database)."""
    env.write_queries(QUERIES_YAML)
    assert env.cli("poll").exit_code == 0
    writer = _wal_only_change(env, "Only in the write-ahead log")
    copy = tmp_path / "restored"
    copy.mkdir()
    shutil.copy(env.db, copy / "watcher.db")
    shutil.copy(f"{env.db}-wal", copy / "watcher.db-wal")
    writer.close()
    before = {p.name: p.read_bytes() for p in copy.iterdir()}

    store = Store.reading(copy / "watcher.db")
    titles = [row[0] for row in store.conn.execute("SELECT title FROM studies")]
    store.conn.close()
    assert "Only in the write-ahead log" in titles
    for command in ("status", "health"):
        result = env.cli(command, WATCHER_DB=str(copy / "watcher.db"))
        assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before


def test_a_wal_its_last_writer_removes_while_it_is_read_is_no_error(env, corpus_server,
                                                                     monkeypatch, tmp_path):
    """The last connection to close checkpoints, then removes the -shm and then the -wal: a
    reader that saw the -wal without its -shm found the -wal gone when it came to copy it.
    `serve` hit this itself (one job's store closing as the next store opened) and exited 1
    with "internal error: FileNotFoundError ... watcher.db-wal" on SIGTERM. The main file then
    holds everything, so it is read in place."""
    from watcher.db import connection

    env.write_queries(QUERIES_YAML)
    assert env.cli("poll").exit_code == 0
    writer = _wal_only_change(env, "Checkpointed as it was read")
    folder = tmp_path / "live"
    folder.mkdir()
    db = folder / "watcher.db"
    shutil.copy(env.db, db)
    shutil.copy(f"{env.db}-wal", f"{db}-wal")
    writer.close()
    copy = shutil.copyfile

    def last_writer_closes_first(src, dst, **kwargs):
        if str(src).endswith("-wal"):
            last = sqlite3.connect(db)  # a real last close: checkpoint, remove -shm and -wal
            last.execute("SELECT COUNT(*) FROM studies").fetchone()
            last.close()
            assert not Path(f"{db}-wal").exists()
        return copy(src, dst, **kwargs)

    monkeypatch.setattr(connection.shutil, "copyfile", last_writer_closes_first)
    store = Store.reading(db)
    titles = [row[0] for row in store.conn.execute("SELECT title FROM studies")]
    store.conn.close()
    assert "Checkpointed as it was read" in titles
    assert sorted(p.name for p in folder.iterdir()) == ["watcher.db"]


def test_status_reads_a_database_a_running_writer_holds_open_without_touching_it(
        env, corpus_server):
    """serve is mid-write (its -wal non-empty, -shm present): status and `status STUDY` read
    the latest committed data and neither checkpoint, truncate nor remove the writer's files."""
    env.write_queries(QUERIES_YAML)
    assert env.cli("poll").exit_code == 0
    writer = _wal_only_change(env, "Committed a moment ago")
    beside = {p.name: p.stat().st_size for p in env.db.parent.iterdir()}
    main_file = env.db.read_bytes()
    study = writer.execute("SELECT MIN(id) FROM studies").fetchone()[0]
    pmid = writer.execute("SELECT source_id FROM source_records WHERE study_id = ? AND source ="
                          " 'pubmed'", (study,)).fetchone()[0]
    try:
        result = env.cli("status")
        assert result.exit_code == 0, result.output
        history = env.cli("status", "--study", pmid)
        assert history.exit_code == 0 and "Committed a moment ago" in history.output, \
            history.output
        store = Store.reading(env.db)
        assert store.conn.execute("SELECT title FROM studies WHERE id = ?",
                                  (study,)).fetchone()[0] == "Committed a moment ago"
        store.conn.close()
        assert {p.name: p.stat().st_size for p in env.db.parent.iterdir()} == beside
        assert env.db.read_bytes() == main_file, "nothing checkpointed into the main file"
    finally:
        writer.close()


def test_a_scheduled_digest_that_cannot_send_at_all_is_not_logged_as_done(
        env, corpus_server, caplog):
    """SLACK_WEBHOOK_URL was never set: the firing sends nothing, and its log line says so
    (it said 'digest done (N items)'), while `health` fails naming the missing setting."""
    import logging

    from watcher.scheduler import scheduled_job

    env.write_queries(HOOK_HOURLY)
    caplog.set_level(logging.INFO, logger="watcher")
    scheduled_job(env.settings(), "hook")
    lines = [r.getMessage() for r in caplog.records if r.name == "watcher.scheduler"]
    assert not any("digest done" in line for line in lines), lines
    assert any(re.fullmatch(r"hook: digest not sent \(SLACK_WEBHOOK_URL not set\); \d+ item\(s\)"
                            r" stay pending", line) for line in lines), lines
    assert env.store().pending_counts().get("hook", 0) > 0
    health = env.cli("health")
    assert health.exit_code == 1 and "SLACK_WEBHOOK_URL not set" in health.output


# --- the registrations byline with hostile linked ids -----------------------------------

def test_hostile_registry_accessions_stay_one_short_escaped_line_in_every_renderer():
    """A DataBankList accession is the publisher's free text: a line break, Slack's <!channel>,
    HTML and a 3000-character run reach `registrations` through the real parser. Every renderer
    keeps the byline one line, each id short, each id once, Slack escaping & < > only (so *_
    stay as written inside Slack's verbatim text) and the email escaping HTML."""
    from watcher.digest import Digest, DigestItem, Section
    from watcher.models import Event, Study
    from watcher.parsers import pubmed_fields
    from watcher.render import email, slack, text
    from watcher.render.common import registrations

    _, linked = pubmed_fields.databanks({"DataBankList": [
        {"DataBankName": "ClinicalTrials.gov", "AccessionNumberList": [
            "NCT01234567", "nct 01234567", "<!channel> & *bold*_x_", "line1\nline2", "9" * 3000]},
        {"DataBankName": "ISRCTN", "AccessionNumberList": ["ISRCTN12345678", "<b>x</b>"]}]})
    study = Study("pubmed", "publication", {"pmid": "39900301"}, "A trial report",
                  linked_ids=linked)
    byline = registrations(study, limit=10)
    assert "\n" not in byline and byline.count("NCT01234567") == 1, byline
    assert max(map(len, byline.removeprefix("reports trials ").split(", "))) <= 40, byline
    assert registrations(Study("clinicaltrials", "trial", {"nct": "NCT01234567"}, "T",
                               linked_ids=linked)) == ""

    item = DigestItem(Event("new:1", "new", 1, "q", {}), study, ["Depression"], [], 1)
    digest = Digest("team", "2026-10-31T08:00:00+00:00", None, [Section("Depression", [item])],
                    [])
    mrkdwn = slack.item_mrkdwn(item)
    assert "<!" not in mrkdwn and "&lt;!CHANNEL&gt; &amp; *BOLD*_X_" in mrkdwn, mrkdwn
    html = email.render(digest).html
    assert "<!channel>" not in html.lower() and "<b>x</b>" not in html.lower()
    view = email.item_view(item)
    assert "\n" not in view.byline and len(view.byline) < 400, view.byline
    rendered = text.render(digest)
    line = next(line for line in rendered.splitlines() if "reports trials" in line)
    assert "LINE2" in line.upper() and len(line) < 400, rendered


def test_a_weekly_and_an_hourly_digest_failing_together_are_each_retried_and_sent_once(
        env, corpus_server):
    """Slack is down when both a weekly (cron) and an hourly digest fire: each gets its own
    retry (not one for both, not the weekly's next Monday), and each item reaches each
    destination once."""
    from tests.fakes.slack import SlackServer
    from watcher.scheduler import scheduled_job

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
        worker = Worker(env.vars(WATCHER_POLL_EVERY="60", **extra))
        for name in ("hook", "weekly"):
            worker.wait_for(rf"{name}: digest not sent; trying again in 0.3 s \(attempt 2\)")
            worker.wait_for(rf"{name}: digest done \(1 item")
        assert worker.stop() == 0, worker.out
        posts = slack.webhook_posts()[before:]
    assert sum("39900401" in json.dumps(p.payload) for p in posts) == 2, "once to each"
    assert env.store().pending_counts() == {}
