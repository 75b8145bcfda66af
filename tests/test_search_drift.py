"""Query health from each poll's search: a query that falls silent, or that PubMed starts
reading differently while its terms are unchanged, is told once; PubMed's warnings reach the
digest receipt naming the query."""

from __future__ import annotations

import json

from tests.helpers import EVERYTHING, FIXTURES, QUERIES_YAML, days_ago, renumbered
from watcher.search_drift import SILENT_POLLS

TERM = "(all[sb])"  # the search the query sends


def _add(server, count: int = 2, first: int = 0) -> list[str]:
    pmids = [f"9900{n:04d}" for n in range(first, first + count)]
    for pmid in pmids:
        server.add_article(renumbered(FIXTURES / "pubmed_metapub/38011560.xml", pmid),
                           entry_date=days_ago(0))
    return pmids


def _poll(env, times: int = 1) -> None:
    for _ in range(times):
        result = env.cli("poll")
        assert result.exit_code == 0, result.stderr


def _health(env) -> list:
    store = env.store()
    rows = store.conn.execute(
        "SELECT key, details FROM events WHERE kind = 'query_health' ORDER BY id").fetchall()
    store.close()
    return [(key, json.loads(details)["message"]) for key, details in rows]


def test_each_poll_keeps_its_count_translation_and_terms(env, server):
    env.write_queries(EVERYTHING)
    _add(server, 2)
    server.translations = {TERM: '"all"[Filter]'}
    _poll(env)
    store = env.store()
    (poll,) = store.search_history("everything", "pubmed", limit=5)
    assert (poll["count"], poll["translation"]) == (2, '"all"[Filter]') and poll["terms_hash"]


def _busy(env, server, polls: int = 3, first: int = 0) -> list[str]:
    """*polls* polls, each finding two records new to the query."""
    pmids = []
    for n in range(polls):
        pmids += _add(server, 2, first=first + 2 * n)
        _poll(env)
    return pmids


def test_a_query_that_falls_silent_is_told_once_per_episode(env, server):
    env.write_queries(EVERYTHING)
    pmids = _busy(env, server)  # found new records three times
    for pmid in pmids:  # PubMed stops answering the query
        del server.records[pmid]
    _poll(env, SILENT_POLLS - 1)
    assert _health(env) == [], "two empty polls are not yet a silence"
    _poll(env)
    (event,) = _health(env)
    assert f"for {SILENT_POLLS} polls since {days_ago(0).isoformat()}" in event[1]
    assert "query everything returned no PubMed records" in event[1]
    assert "in the 3 polls before" in event[1] and "it found 6 distinct records" in event[1]
    report = env.cli("run", "--once")
    assert "returned no PubMed records" in report.stdout, "the digest tells it"
    _poll(env, 2)
    assert len(_health(env)) == 1, "the same silence is told once"
    assert "returned no PubMed records" not in env.cli("run", "--once").stdout

    pmids = _busy(env, server, first=100)  # it recovers, then falls silent again: a new episode
    for pmid in pmids:
        del server.records[pmid]
    _poll(env, SILENT_POLLS)
    assert len(_health(env)) == 2


def test_a_query_that_is_often_empty_is_not_called_silent(env, server):
    env.write_queries(EVERYTHING)
    _poll(env, 2)  # nothing yet
    pmids = _add(server, 1)
    _poll(env, 2)  # found records in only two polls
    del server.records[pmids[0]]
    _poll(env, SILENT_POLLS + 1)
    assert _health(env) == []


def test_a_quiet_query_whose_one_record_overlapping_windows_repeat_is_not_called_silent(
        env, server):
    """One record, entered today, is listed by the next four polls (their windows overlap by
    days): four polls "finding 1" are one record, not a busy spell, and the empty polls
    after it are the quiet query's usual state (autism, OCD), not a silence to report."""
    env.write_queries(EVERYTHING)
    (pmid,) = _add(server, 1)
    _poll(env, 4)
    store = env.store()
    assert [p["count"] for p in store.search_history("everything", "pubmed", limit=9)] == [1] * 4
    store.close()
    del server.records[pmid]
    _poll(env, SILENT_POLLS + 2)
    assert _health(env) == []


def test_a_changed_translation_of_unchanged_terms_is_told_with_before_and_after(env, server):
    env.write_queries(EVERYTHING.replace("lookback_days: 30", "lookback_days: 30\n  "
                                  "destinations: [team]") + """\
destinations:
  team:
    kind: slack
    channel: "#watch"
  ops:
    kind: slack
    channel: "#watcher-ops"
""")
    _add(server, 1)
    server.translations = {TERM: '"all"[Filter]'}
    _poll(env, 2)
    assert _health(env) == []
    server.translations = {TERM: '"all"[Filter] AND "humans"[MeSH Terms]'}
    _poll(env)
    (event,) = _health(env)
    assert 'Before: "all"[Filter] Now: "all"[Filter] AND "humans"[MeSH Terms]' in event[1]
    assert "though its terms are unchanged" in event[1]
    _poll(env)
    assert len(_health(env)) == 1, "told once"
    store = env.store()
    queued = sorted(row[0] for row in store.conn.execute(
        "SELECT destination FROM outbox JOIN events e ON e.id = event_id"
        " WHERE e.kind = 'query_health'"))
    assert queued == ["ops", "team"], "the query's destinations and ops"


def test_editing_the_terms_is_not_a_drift(env, server):
    env.write_queries(EVERYTHING)
    _add(server, 1)
    _poll(env, 2)
    env.write_queries(EVERYTHING.replace("all[sb]", "all[sb] OR ketamine[tiab]"))
    _poll(env, 2)  # the fake reads the new term as itself: a new translation, by the edit
    assert _health(env) == []


def test_a_phrase_pubmed_did_not_find_is_in_the_receipt_naming_the_query(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    corpus_server.phrases_not_found = {"social anxiety"}
    result = env.cli("run", "--once")
    assert result.exit_code == 0, result.stderr
    receipt = " ".join(result.stdout.split("Receipt:")[1].split())
    assert "query anxiety: phrase not found: social anxiety" in receipt
    assert "query everything:" not in receipt


def test_the_moving_date_window_is_not_a_change_in_how_pubmed_reads_the_query(env, server):
    """PubMed's QueryTranslation ends with the date window searched ("... AND
    2026/11/22:2026/11/24[Date - Entry]"), and every poll searches a new window: each poll was
    told as "PubMed now reads query everything differently". Only the reading of the terms
    counts; validate shows it without the window."""
    env.write_queries(EVERYTHING)
    server.keyed_rate_limit = 0
    server.add_article(renumbered(FIXTURES / "pubmed_metapub/38011560.xml", "99000001"),
                       entry_date=days_ago(0))
    server.translations = {"(all[sb])": '"all"[Filter]'}
    for _ in range(3):  # the first poll reads 30 days back, the next ones the overlap
        assert env.cli("poll").exit_code == 0
    store = env.store()
    assert store.conn.execute(
        "SELECT COUNT(*) FROM events WHERE kind = 'query_health'").fetchone()[0] == 0
    server.translations = {"(all[sb])": '"all"[Filter] AND "humans"[MeSH Terms]'}
    assert env.cli("poll").exit_code == 0
    (message,) = [row[0] for row in store.conn.execute(
        "SELECT json_extract(details, '$.message') FROM events WHERE kind = 'query_health'")]
    assert 'Before: "all"[Filter] Now: "all"[Filter] AND "humans"[MeSH Terms] Check' in message
    checked = env.cli("validate", "--online")
    assert 'PubMed read it as: "all"[Filter] AND "humans"[MeSH Terms]\n' in checked.stdout


def test_reading_drops_only_the_date_window_pubmed_appends():
    from watcher.parsers.pubmed import reading

    assert reading('"long covid"[All Fields] AND 2022/12/25:2022/12/31[Date - Entry]') == (
        '"long covid"[All Fields]')
    assert reading("(a[tiab]) AND 2026/01/01:2026/01/31[Date - Modification]") == "(a[tiab])"
    assert reading('ketamine[tiab] AND 2020:2024[dp]') == "ketamine[tiab] AND 2020:2024[dp]", \
        "a date limit the team wrote into its terms is part of the reading"
    assert reading("a[tiab] AND 2020/01/01:2024/12/31[Date - Publication] AND "
                   "2026/11/22:2026/11/24[Date - Entry]") == (
        "a[tiab] AND 2020/01/01:2024/12/31[Date - Publication]")
