"""PubMed's corrections search (by modification date) on a schedule of its own: at most once
a day per query (WATCHER_CORRECTIONS_EVERY_HOURS, 24 by default), from each query's own
corrections position, so an hourly run sends one search per query and nothing more, while no
correction is lost: a revision made between two corrections searches is told, once, by the
next; a `--query` run moves only its query on; a failed search keeps every window; a first
poll needs none; a database from before the schedule starts from its positions."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

from tests.helpers import EVERYTHING, FIXTURES, QUERIES_YAML, days_ago, renumbered, retracted
from watcher import pipeline
from watcher.clock import stamp
from watcher.db import MIGRATIONS

STUDY, NOTICE = "99000100", "99000200"
SOURCE = FIXTURES / "pubmed_metapub/36318760.xml"
DAILY = {"WATCHER_CORRECTIONS_EVERY_HOURS": "24"}  # the default (the tests' Env sets 0)


def poll(env, now: datetime, **options):
    return pipeline.poll(env.config(), env.store(), env.settings(**DAILY), now=now, **options)


def mdat(server) -> list[dict[str, str]]:
    return [c for c in server.calls("esearch") if c["datetype"] == "mdat"]


def edat(server) -> list[dict[str, str]]:
    return [c for c in server.calls("esearch") if c["datetype"] == "edat"]


def slashed(day) -> str:
    return day.strftime("%Y/%m/%d")


def retract(server) -> None:
    """PubMed adds a retraction to the stored study today (its modification date)."""
    server.add_article(retracted(renumbered(SOURCE, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))


def delivered(env) -> None:
    """The study is sent (a correction is told to whoever was sent the study)."""
    sent = env.cli("digest")
    assert sent.exit_code == 0 and f"/{STUDY}/" in sent.stdout, sent.output


def kinds(env) -> list[str]:
    store = env.store()
    return [event.kind for event in store.events_of(store.find_study({"pmid": STUDY}))]


def tells_the_correction_searching_from(env, server, now: datetime, position: datetime) -> None:
    """A run at *now* makes one corrections search, from *position* less the two overlap
    days, and tells the correction the server has."""
    server.requests.clear()
    assert not poll(env, now).failures
    (search,) = mdat(server)
    assert search["mindate"] == slashed(position.date() - timedelta(days=2))
    assert kinds(env) == ["new", "correction"]


def test_runs_within_the_day_send_no_corrections_search_and_the_next_day_s_tells_it_once(
        env, server):
    env.write_queries(EVERYTHING)
    server.add_article(renumbered(SOURCE, STUDY), entry_date=days_ago(10))
    now = datetime.now(UTC)
    first = now - timedelta(hours=30)
    assert not poll(env, first).failures
    assert len(edat(server)) == 1 and mdat(server) == [], "a first poll: nothing to correct"
    delivered(env)
    position = env.store().position("everything", "pubmed")
    assert position.corrections_end == first.date().isoformat()
    assert position.corrections_at == stamp(first)

    for hours in (1, 2):  # hourly runs within the day
        server.requests.clear()
        assert not poll(env, first + timedelta(hours=hours)).failures
        assert len(server.requests) == 1 and len(edat(server)) == 1, "one search per query"
        if hours == 1:
            retract(server)  # between two runs, neither of which looks for corrections
    assert kinds(env) == ["new"]

    server.requests.clear()
    assert not poll(env, now).failures  # a day after the last corrections search
    (search,) = mdat(server)
    assert (search["mindate"], search["maxdate"]) == (
        slashed(first.date() - timedelta(days=2)), slashed(now.date())), \
        "from the last corrections position, minus the overlap, to today"
    assert [c["id"] for c in server.calls("efetch")] == [STUDY]
    assert kinds(env) == ["new", "correction"]
    position = env.store().position("everything", "pubmed")
    assert (position.corrections_end, position.corrections_at) == (now.date().isoformat(),
                                                                   stamp(now))

    server.requests.clear()
    assert not poll(env, now + timedelta(hours=1)).failures
    assert mdat(server) == [] and server.calls("efetch") == []
    assert kinds(env) == ["new", "correction"], "told once"
    digest = env.cli("digest")
    assert digest.exit_code == 0, digest.stderr
    assert digest.stdout.count("correction: RETRACTED") == 1, digest.stdout


def test_zero_hours_searches_corrections_with_every_run_but_a_first_poll(env, server):
    env.write_queries(EVERYTHING)
    now = datetime.now(UTC)
    settings = env.settings(WATCHER_CORRECTIONS_EVERY_HOURS="0")
    for minutes in (0, 1, 2):
        pipeline.poll(env.config(), env.store(), settings, now=now + timedelta(minutes=minutes))
    assert len(mdat(server)) == 2


def test_a_daily_schedule_starting_a_little_earlier_each_day_searches_every_day(env, server):
    env.write_queries(EVERYTHING)
    now = datetime.now(UTC)
    yesterday = now - timedelta(hours=24) + timedelta(minutes=2)
    assert not poll(env, yesterday).failures
    server.requests.clear()
    assert not poll(env, now - timedelta(hours=1)).failures
    assert mdat(server) == [], "23 hours later: not due"
    assert not poll(env, now).failures
    assert len(mdat(server)) == 1, "a day less two minutes later: due"


def test_a_query_whose_own_search_fails_does_not_make_the_others_search(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    now = datetime.now(UTC)
    assert not poll(env, now - timedelta(hours=2)).failures
    store = env.store()
    with store.transaction():  # "everything" alone last had its corrections two days ago
        store.advance_corrections("everything", "pubmed", end=days_ago(2).isoformat(),
                                  now=stamp(now - timedelta(days=2)))
    corpus_server.requests.clear()
    corpus_server.truncate_next("esearch")  # its search (searched first) fails
    report = poll(env, now)
    assert [o.query_id for o in report.failures] == ["everything"]
    assert mdat(corpus_server) == [], "the others' corrections are not due"
    assert env.store().position("everything", "pubmed").corrections_end == \
        days_ago(2).isoformat()
    corpus_server.requests.clear()
    assert not poll(env, now + timedelta(minutes=1)).failures
    (search,) = mdat(corpus_server)
    assert search["mindate"] == slashed(days_ago(4)) and "all[sb]" in search["term"]


def test_a_query_run_moves_only_its_own_corrections_position(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    now = datetime.now(UTC)
    first = now - timedelta(hours=30)
    assert not poll(env, first).failures and mdat(corpus_server) == []

    corpus_server.requests.clear()
    assert not poll(env, now, query_ids=["depression"]).failures
    (search,) = mdat(corpus_server)
    assert "depressi*[tiab]" in search["term"] and "all[sb]" not in search["term"]
    at = {p.query_id: p.corrections_at for p in env.store().positions()}
    assert at == {"depression": stamp(now), "everything": stamp(first),
                  "anxiety": stamp(first)}

    corpus_server.requests.clear()
    later = now + timedelta(hours=1)
    assert not poll(env, later).failures  # the others are a day behind: due for them all
    (search,) = mdat(corpus_server)
    assert all(term in search["term"] for term in ("all[sb]", "depressi*[tiab]",
                                                   '"social anxiety"[tiab]'))
    assert search["mindate"] == slashed(first.date() - timedelta(days=2)), \
        "from the earliest of their positions"
    at = {p.query_id: p.corrections_at for p in env.store().positions()}
    assert set(at.values()) == {stamp(later)}

    corpus_server.requests.clear()
    assert not poll(env, later + timedelta(hours=1)).failures
    assert mdat(corpus_server) == [] and len(edat(corpus_server)) == 3


def test_a_failed_corrections_search_keeps_every_window_and_the_next_run_tells_it(env, server):
    env.write_queries(EVERYTHING)
    server.add_article(renumbered(SOURCE, STUDY), entry_date=days_ago(10))
    now = datetime.now(UTC)
    first = now - timedelta(hours=30)
    assert not poll(env, first).failures
    delivered(env)
    retract(server)
    before = env.store().position("everything", "pubmed")
    server.refused_datetypes["mdat"] = "Search Backend failed: cannot search by mdat"
    server.requests.clear()
    report = poll(env, now)
    assert [o.query_id for o in report.failures] == ["everything"]
    assert "search for corrections" in report.failures[0].error
    after = env.store().position("everything", "pubmed")
    assert (after.window_end, after.corrections_end, after.corrections_at) == (
        before.window_end, before.corrections_end, before.corrections_at), "all kept"
    assert kinds(env) == ["new"] and server.calls("efetch") == []

    server.refused_datetypes.clear()
    tells_the_correction_searching_from(env, server, now + timedelta(hours=1), first)


def test_a_new_query_s_first_poll_neither_makes_the_search_due_nor_is_covered(env, server):
    env.write_queries(EVERYTHING)
    now = datetime.now(UTC)
    assert not poll(env, now - timedelta(hours=2)).failures
    env.write_queries(QUERIES_YAML)  # two queries added
    server.requests.clear()
    assert not poll(env, now).failures
    assert mdat(server) == [] and len(edat(server)) == 3
    positions = {p.query_id: p for p in env.store().positions()}
    assert positions["depression"].corrections_end == now.date().isoformat()


def test_a_run_with_its_clock_a_year_ahead_does_not_stop_corrections(env, server):
    """One run with the clock a year ahead, then set right: its corrections search is due at
    once (not a year later, silently), and tells the retraction made since."""
    env.write_queries(EVERYTHING)
    server.add_article(renumbered(SOURCE, STUDY), entry_date=days_ago(10))
    now = datetime.now(UTC)
    assert not poll(env, now - timedelta(hours=30)).failures
    delivered(env)
    assert not poll(env, now + timedelta(days=365)).failures  # the clock a year ahead
    retract(server)
    server.requests.clear()
    assert not poll(env, now).failures  # set right
    assert len(mdat(server)) == 1, "its last corrections search is in its future: due"
    assert kinds(env) == ["new", "correction"]


def test_a_renamed_query_s_first_poll_loses_no_revision_of_what_it_finds_stored(env, server):
    """Weekly runs; `everything` renamed `all`: its first poll lists the study stored and sent
    a week ago (known: not fetched again), retracted four days ago, before the overlap of its
    next corrections search: the revision is searched for, and told."""
    env.write_queries(EVERYTHING)
    server.add_article(renumbered(SOURCE, STUDY), entry_date=days_ago(10))
    now = datetime.now(UTC)
    assert not poll(env, now - timedelta(days=7)).failures
    delivered(env)
    server.add_article(retracted(renumbered(SOURCE, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(4))
    env.write_queries(EVERYTHING.replace("id: everything", "id: all"))
    for later in (now, now + timedelta(days=1, hours=1)):
        assert not poll(env, later).failures
    assert kinds(env) == ["new", "correction"]


def test_weekly_runs_tell_a_revision_of_a_stored_record_the_next_window_lists(env, server):
    """Weekly runs: a study entered the day before the first run and retracted the day after
    is listed again by the next run (its window's overlap) as well as by its corrections
    search: it is fetched then, for its retraction, not left to a later corrections search
    that starts after the revision."""
    env.write_queries(EVERYTHING)
    now = datetime.now(UTC)
    first = now - timedelta(days=14)
    entered = (first - timedelta(days=1)).date()
    server.add_article(renumbered(SOURCE, STUDY), entry_date=entered)
    assert not poll(env, first).failures
    delivered(env)
    server.add_article(retracted(renumbered(SOURCE, STUDY), NOTICE), entry_date=entered,
                       modified=(first + timedelta(days=1)).date())
    for later in (first + timedelta(days=7), now):
        assert not poll(env, later).failures
    assert kinds(env) == ["new", "correction"]


def _as_before_the_schedule(env) -> None:
    """The database as a watcher from before migration 12 left it: no corrections columns."""
    conn = sqlite3.connect(env.db)
    conn.execute("ALTER TABLE positions DROP COLUMN corrections_end")
    conn.execute("ALTER TABLE positions DROP COLUMN corrections_at")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    conn.commit()
    conn.close()


def test_an_upgraded_database_searches_corrections_from_its_last_window_end(env, server):
    env.write_queries(EVERYTHING)
    server.add_article(renumbered(SOURCE, STUDY), entry_date=days_ago(10))
    now = datetime.now(UTC)
    last = now - timedelta(hours=25)
    assert not poll(env, last).failures
    delivered(env)
    _as_before_the_schedule(env)
    retract(server)
    store = env.store()  # upgraded as it opens
    position = store.position("everything", "pubmed")
    assert (position.corrections_end, position.corrections_at) == (position.window_end,
                                                                   stamp(last))
    store.close()

    tells_the_correction_searching_from(env, server, now, last)  # a day since: due


def test_an_upgraded_database_polled_within_the_day_waits_for_its_day(env, server):
    env.write_queries(EVERYTHING)
    now = datetime.now(UTC)
    assert not poll(env, now - timedelta(hours=2)).failures
    _as_before_the_schedule(env)
    server.requests.clear()
    assert not poll(env, now).failures
    assert mdat(server) == [] and len(edat(server)) == 1


def test_status_shows_each_query_s_corrections_position(env, server):
    env.write_queries(EVERYTHING)
    now = datetime.now(UTC)
    assert not poll(env, now).failures
    status = env.cli("status")
    assert status.exit_code == 0, status.output
    assert (f"everything / PubMed: last success {stamp(now)}" in status.stdout
            and f"corrections through {now.date().isoformat()} as of {stamp(now)}"
            in status.stdout), status.stdout
    (row,) = json.loads(env.cli("status", "--json").stdout)["sources"]
    assert (row["corrections_end"], row["corrections_at"]) == (now.date().isoformat(),
                                                               stamp(now))
