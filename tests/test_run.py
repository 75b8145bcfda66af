"""The main job against the local E-utilities server: found once and only once, incremental
windows, nothing lost on failures, one clear line per failure."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from datetime import timedelta

import pytest

from tests.helpers import EVERYTHING, FIXTURES, QUERIES_YAML, days_ago, renumbered
from watcher import pipeline
from watcher.db import Store


def test_first_run_prints_corpus_in_lookback_then_nothing_then_exactly_the_new_one(
        env, corpus_server):
    old = corpus_server.add_article(renumbered(FIXTURES / "biopython/pubmed2.xml", "99000002"),
                                    entry_date=days_ago(90))  # outside the 30-day look-back
    env.write_queries(QUERIES_YAML)

    first = env.cli("run", "--once")
    assert first.exit_code == 0, first.stderr
    in_window = [p for p, r in corpus_server.records.items() if r.entry_date >= days_ago(30)]
    assert len(in_window) == 19
    for pmid in in_window:
        assert f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" in first.stdout
    assert old not in first.stdout
    assert first.stdout.count("https://pubmed.ncbi.nlm.nih.gov/") == len(in_window), \
        "each study is listed once, however many queries found it"
    assert "Receipt: PubMed" in first.stdout

    second = env.cli("run", "--once")
    assert second.exit_code == 0, second.stderr
    assert "Nothing new" in second.stdout
    assert "pubmed.ncbi.nlm.nih.gov" not in second.stdout
    assert "Receipt: PubMed" in second.stdout

    # One record is added upstream (a new PMID entered today).
    article = renumbered(FIXTURES / "pubmed_metapub/38011560.xml", "99000001")
    corpus_server.add_article(article, entry_date=days_ago(0))

    third = env.cli("run", "--once")
    assert third.exit_code == 0, third.stderr
    assert third.stdout.count("https://pubmed.ncbi.nlm.nih.gov/") == 1
    assert "https://pubmed.ncbi.nlm.nih.gov/99000001/" in third.stdout
    assert "1 new study" in third.stdout


def test_efetch_asks_only_for_ids_not_already_stored(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    assert env.cli("run", "--once").exit_code == 0
    fetched = [pmid for call in corpus_server.calls("efetch") for pmid in call["id"].split(",")]
    assert len(fetched) == len(set(fetched)) == 19, "every record fetched exactly once"
    corpus_server.requests.clear()
    assert env.cli("run", "--once").exit_code == 0
    assert corpus_server.calls("esearch"), "the second run still searches"
    assert corpus_server.calls("efetch") == [], "but fetches nothing it already has"


def test_second_window_starts_at_last_end_minus_overlap(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    assert env.cli("run", "--once").exit_code == 0
    first = corpus_server.calls("esearch")[0]
    assert first["datetype"] == "edat"
    assert first["mindate"] == days_ago(30).strftime("%Y/%m/%d")
    assert first["maxdate"] == days_ago(0).strftime("%Y/%m/%d")
    corpus_server.requests.clear()
    assert env.cli("run", "--once").exit_code == 0
    again = corpus_server.calls("esearch")[0]
    assert again["mindate"] == days_ago(2).strftime("%Y/%m/%d")


def test_a_study_matched_by_two_queries_is_one_alert_carrying_both_conditions(
        env, corpus_server):
    env.write_queries(QUERIES_YAML)
    result = env.cli("run", "--once")
    # 38011560 (ketamine and depression) matches "everything", "depression" and "anxiety"
    # (ketamine[tiab] is in the anxiety query on purpose).
    assert result.stdout.count("https://pubmed.ncbi.nlm.nih.gov/38011560/") == 1
    # Told in full once, under Anxiety (its query's ketamine[tiab] comes first in the title);
    # a one-line pointer under each other condition it matched.
    block = result.stdout.split("* Ketamine and the neurobiology of depression")[1].split("* ")[0]
    assert "also: Everything in the corpus; Depression" in block
    assert " ".join(result.stdout.split()).count(
        "rapid-acting antidepressant treatments. — in full under Anxiety") == 2
    store = env.store()
    assert store.count("studies") == 19
    rows = store.conn.execute("SELECT COUNT(*) FROM matches WHERE study_id = (SELECT study_id "
                              "FROM study_ids WHERE value = '38011560')").fetchone()[0]
    assert rows == 3


def test_query_edit_restarts_its_lookback_but_never_repeats_an_alert(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    assert env.cli("run", "--once").exit_code == 0
    corpus_server.requests.clear()
    env.write_queries(QUERIES_YAML.replace('"social anxiety"[tiab]', '"social fear"[tiab]'))
    result = env.cli("run", "--once")
    assert result.exit_code == 0
    windows = {c["term"]: c["mindate"] for c in corpus_server.calls("esearch")}
    edited = next(t for t in windows if "social fear" in t)
    assert windows[edited] == days_ago(30).strftime("%Y/%m/%d")
    assert "Nothing new" in result.stdout


def test_filters_drop_errata_and_label_types_and_animal_studies(env, corpus_server):
    env.write_queries(QUERIES_YAML.replace("defaults:\n", """defaults:
  filters:
    exclude_publication_types: [Published Erratum]
    label_publication_types: [Review, Randomized Controlled Trial]
    non_human: label
"""))
    result = env.cli("run", "--once")
    assert result.exit_code == 0
    assert "pubmed.ncbi.nlm.nih.gov/38962805/" not in result.stdout  # "Correction."
    assert "pubmed.ncbi.nlm.nih.gov/38833988/" not in result.stdout  # Corrigendum
    assert result.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 17
    tags = [set(t.split(", ")) for t in re.findall(r"\[([^\]]+)\]", result.stdout)]
    # The terminal shows the same short tags as Slack and email.
    assert {"review"} in tags and any("RCT" in t for t in tags)
    assert any("animal" in t for t in tags)
    excluded = env.store().conn.execute(
        "SELECT excluded FROM matches WHERE excluded IS NOT NULL").fetchall()
    assert {row[0] for row in excluded} == {"publication type Published Erratum"}


def test_unreachable_service_exits_1_with_one_line_naming_the_host_and_keeps_state(
        env, corpus_server, unused_port):
    env.write_queries(QUERIES_YAML)
    assert env.cli("run", "--once").exit_code == 0
    before = dump(env.db)
    dead = f"http://127.0.0.1:{unused_port}/entrez/eutils/"
    result = env.cli("run", "--once", WATCHER_EUTILS_URL=dead)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert f"could not reach PubMed (127.0.0.1:{unused_port})" in errors[0]
    assert "3 queries not polled" in errors[0]
    assert "Traceback" not in result.stderr
    after = dump(env.db)
    windows = [row[:5] for row in after["positions"]]  # query, source, terms, end, success
    assert windows == [row[:5] for row in before["positions"]], "windows must not advance"
    for table in ("studies", "study_ids", "matches", "outbox"):
        assert after[table] == before[table], table


def test_first_run_with_no_network_stores_no_position(env, unused_port):
    env.write_queries(QUERIES_YAML)
    dead = f"http://127.0.0.1:{unused_port}/entrez/eutils/"
    result = env.cli("run", "--once", WATCHER_EUTILS_URL=dead)
    assert result.exit_code == 1
    positions = env.store().positions()
    assert positions and all(p.window_end is None for p in positions)
    assert all("could not reach" in p.last_error for p in positions)


def test_truncated_response_fails_that_query_only_and_is_caught_up_next_run(
        env, corpus_server):
    env.write_queries(QUERIES_YAML)
    # The first query's search is cut in half. (The run's records come in shared efetch
    # batches: a truncated efetch fails the queries it served, see tests/test_poll_run.py.)
    corpus_server.truncate_next("esearch")
    result = env.cli("run", "--once")
    assert result.exit_code == 1
    assert "malformed or truncated XML" in result.stderr
    assert "(everything not polled; window kept for the next run)" in result.stderr
    positions = {p.query_id: p for p in env.store().positions()}
    assert positions["everything"].window_end is None
    assert positions["depression"].window_end == days_ago(0).isoformat()
    partial = env.store().count("studies")
    assert 0 < partial < 19, "the other queries' studies were kept"

    retry = env.cli("run", "--once")
    assert retry.exit_code == 0, retry.stderr
    assert env.store().count("studies") == 19
    printed = result.stdout.count("pubmed.ncbi.nlm.nih.gov/") + retry.stdout.count(
        "pubmed.ncbi.nlm.nih.gov/")
    assert printed == 19, "every study printed once across the two runs"


def test_5xx_is_retried_and_429_waits_for_retry_after(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    corpus_server.fail_next(503, body="Service Unavailable")
    corpus_server.fail_next(429, headers={"Retry-After": "1"},
                            body=(FIXTURES / "ncbi_biomcp/esummary_429_rate_limit_body.json")
                            .read_text())
    result = env.cli("run", "--once")
    assert result.exit_code == 0, result.stderr
    times = [t for t, _, _ in corpus_server.requests]
    assert times[2] - times[1] >= 0.95, "Retry-After: 1 was honoured"
    assert result.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 19


def test_persistent_error_gives_up_with_the_status_and_body_in_one_line(env, corpus_server):
    env.write_queries(QUERIES_YAML.split("  - id: depression")[0])
    corpus_server.fail_next(500, times=4, body='{"error":"backend down"}')
    result = env.cli("run", "--once")
    assert result.exit_code == 1
    line = [x for x in result.stderr.splitlines() if x.startswith("error:")][0]
    assert "answered HTTP 500" in line and "backend down" in line and "gave up after 4" in line


def test_esearch_error_element_is_a_failure_not_an_empty_result(env, corpus_server):
    env.write_queries(QUERIES_YAML.split("  - id: depression")[0])
    corpus_server.fail_next(200, endpoint="esearch", body=(
        FIXTURES / "biopython/esummary8.xml").read_text())
    result = env.cli("run", "--once")
    assert result.exit_code == 1
    assert "E-utilities error: Neither query_key nor id specified" in result.stderr
    assert env.store().positions()[0].window_end is None


def test_records_efetch_did_not_return_hold_the_window_instead_of_being_skipped(
        env, corpus_server):
    env.write_queries(QUERIES_YAML.split("  - id: depression")[0])
    corpus_server.fail_next(200, endpoint="efetch", body=(
        FIXTURES / "pubmed_metapub/37909814.xml").read_text())  # a real empty article set
    result = env.cli("run", "--once")
    assert result.exit_code == 0
    assert "19 record(s) listed by the search but not returned by PubMed" in result.stderr
    assert env.store().positions()[0].window_end is None
    retry = env.cli("run", "--once")
    assert retry.exit_code == 0 and retry.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 19


def test_api_key_is_sent_but_never_printed_or_stored(env, corpus_server):
    env.write_queries(QUERIES_YAML.split("  - id: depression")[0])
    key = "sekret-ncbi-key-123"
    corpus_server.fail_next(400, body=f'{{"error":"bad","api-key":"{key}"}}')
    result = env.cli("run", "--once", NCBI_API_KEY=key, NCBI_EMAIL="team@example.org")
    assert result.exit_code == 1
    assert key not in result.stdout + result.stderr
    assert "answered HTTP 400" in result.stderr
    result = env.cli("run", "--once", NCBI_API_KEY=key, NCBI_EMAIL="team@example.org")
    assert result.exit_code == 0
    call = corpus_server.calls("esearch")[-1]
    assert call["api_key"] == key and call["tool"] == "watcher"
    assert call["email"] == "team@example.org"
    assert key.encode() not in env.db.read_bytes()
    assert all(key.encode() not in p.read_bytes() for p in env.db.parent.iterdir())


def test_dry_run_stores_nothing(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    result = env.cli("run", "--once", "--dry-run")
    assert result.exit_code == 0
    assert result.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 19
    store = env.store()
    assert store.count("studies") == 0 and store.positions() == []
    real = env.cli("run", "--once")
    assert real.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 19


def test_query_option_limits_the_poll(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    result = env.cli("run", "--once", "--query", "depression")
    assert result.exit_code == 0
    searches = {c["term"] for c in corpus_server.calls("esearch")}  # by entry and by mdat
    assert len(searches) == 1
    assert "depressi*" in corpus_server.calls("esearch")[0]["term"]
    unknown = env.cli("run", "--once", "--query", "nope")
    assert unknown.exit_code == 2 and "unknown query 'nope'" in unknown.stderr


def dump(db_path) -> dict[str, list]:
    conn = sqlite3.connect(db_path)
    try:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                for table in ("studies", "study_ids", "matches", "positions", "outbox")}
    finally:
        conn.close()


# --- the database's own disk full ----------------------------------------------------------------

#: A small query first, then the whole corpus: the database fills up during the second poll.
SMALL_THEN_ALL = "defaults:\n  lookback_days: 30\nqueries:\n  - id: depression" + \
    QUERIES_YAML.split("  - id: depression")[1].split("  - id: anxiety")[0] + \
    QUERIES_YAML.split("queries:\n")[1].split("  - id: depression")[0]


def _assert_one_storage_line(result, db, cause: str) -> None:
    """Exit 1 and one stderr line naming the database, its path, the cause and the free space."""
    assert result.exit_code == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert re.fullmatch(rf"error: storage: cannot write the database {re.escape(str(db))} "
                        rf"\({re.escape(cause)}; [0-9.]+ [KMGT]?B free on /\S*\)",
                        errors[0]), errors[0]


def test_a_full_database_disk_is_named_as_storage_never_blamed_on_pubmed_and_caught_up(
        env, corpus_server, monkeypatch):
    """A full disk was 'PubMed: unexpected OperationalError: database or disk is full', stored
    as PubMed's failure, headlined in the digest as PubMed's, and `health` said ok. SQLite's
    max_page_count makes the database full exactly as a full disk does (SQLITE_FULL)."""

    env.write_queries(SMALL_THEN_ALL)
    # A run of the small query with room to spare, then the whole corpus with little room.
    # (A run fetches all its queries' records in shared batches: the disk fills there.)
    first = env.cli("run", "--once", "--query", "depression")
    assert first.exit_code == 0, first.stderr
    with closing(env.store()) as store:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    monkeypatch.setattr(Store, "extra_pragmas", (f"max_page_count = {pages + 5}",))

    full = env.cli("run", "--once")
    _assert_one_storage_line(full, env.db, "database or disk is full")
    assert "PubMed" not in full.stderr and "could not be polled" not in full.stdout
    with closing(env.store()) as store:
        positions = {p.query_id: p for p in store.positions()}
        assert all(p.last_error is None for p in positions.values()), "no source failure"
        assert store.conn.execute("SELECT count(*) FROM polls WHERE error IS NOT NULL"
                                  ).fetchone()[0] == 0
        assert positions["depression"].window_end, "what was stored before is kept"
        kept = store.count("studies")
        assert 0 < kept < 19
        assert "everything" not in positions or positions["everything"].window_end is None, \
            "the poll that could not be stored keeps its window"

    health = env.cli("health")
    assert health.exit_code == 1, "health reports it at once, not after a day"
    assert f"storage: cannot write the database {env.db}" in health.output
    assert "source failing" not in health.output

    monkeypatch.setattr(Store, "extra_pragmas", ())  # room again
    caught_up = env.cli("run", "--once")
    assert caught_up.exit_code == 0, caught_up.stderr
    assert (first.stdout.count("https://pubmed.ncbi.nlm.nih.gov/")
            + caught_up.stdout.count("https://pubmed.ncbi.nlm.nih.gov/")) == 19, "nothing lost"
    assert "could not be polled" not in caught_up.stdout and "FAILED" not in caught_up.stdout
    assert env.store().count("studies") == 19
    assert env.cli("health").output.strip() == "ok"


#: Everything in the corpus, sent to one terminal destination named "first".
FIRST_ONLY = """\
destinations:
  first:
    kind: terminal
queries:
  - id: everything
    condition: Everything in the corpus
    destinations: [first]
    sources:
      pubmed:
        terms: all[sb]
"""


def test_a_destination_added_later_gets_only_what_is_found_from_then_on(env, corpus_server):
    one = FIRST_ONLY
    env.write_queries(one)
    assert env.cli("run", "--once").stdout.count("pubmed.ncbi.nlm.nih.gov/") == 19
    env.write_queries(one.replace("  first:\n", "  first:\n    kind: terminal\n  second:\n", 1)
                      .replace("[first]", "[first, second]"))
    corpus_server.add_article(renumbered(FIXTURES / "biopython/pubmed1.xml", "98000002"),
                              entry_date=days_ago(0))
    later = env.cli("run", "--once")  # its overlap finds the last two days' studies again
    assert later.exit_code == 0, later.stderr
    assert later.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 2, later.stdout
    assert later.stdout.count("pubmed.ncbi.nlm.nih.gov/98000002/") == 2, "one each"
    assert env.store().pending_counts() == {}


def test_a_new_query_to_a_new_destination_gets_its_whole_look_back(env, corpus_server):
    env.write_queries(EVERYTHING)
    assert env.cli("run", "--once").stdout.count("pubmed.ncbi.nlm.nih.gov/") == 19
    again = EVERYTHING.split("queries:\n")[1].replace("id: everything", "id: all-again")
    env.write_queries("destinations:\n  new-team:\n    kind: terminal\n" + EVERYTHING + again
                      + "    destinations: [new-team]\n")
    later = env.cli("run", "--once")  # studies already stored, and sent to the terminal
    assert later.exit_code == 0, later.stderr
    assert later.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 19, "the new query's look-back"


def test_a_corrupt_database_is_named_as_storage_never_blamed_on_pubmed(env, corpus_server):
    """A database file damaged under the running watcher (a disk fault, a power cut on a file
    system that lost a write) was 'PubMed: unexpected DatabaseError: database disk image is
    malformed': the digest told the team PubMed failed, and `health` said ok."""
    env.write_queries(QUERIES_YAML)
    assert env.cli("run", "--once").exit_code == 0
    with closing(sqlite3.connect(env.db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'studies'"
                            ).fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(env.db, "r+b") as db:  # the studies table's first page, overwritten
        db.seek((page - 1) * size)
        db.write(b"\xff" * size)

    damaged = env.cli("run", "--once")
    _assert_one_storage_line(damaged, env.db, "database disk image is malformed")
    assert "PubMed" not in damaged.stdout + damaged.stderr
    health = env.cli("health")
    assert health.exit_code == 1
    assert f"storage: cannot write the database {env.db} (database disk image is malformed" \
        in health.output


def test_a_study_first_found_in_a_run_after_a_new_route_reaches_it_whatever_its_clock(
        env, corpus_server):
    """Runs take turns on the run lock, but each stamps its time before waiting for it: a run
    that waited (or a clock stepped back) records a study with a time earlier than a route a
    run before it noted. The study was found after the route all the same (a later run): the
    newly added destination must get it, not lose it for good."""

    from watcher.clock import utc_now

    two = FIRST_ONLY + """\
  - id: depression
    condition: Depression
    destinations: [first]
    sources:
      pubmed:
        terms: depressi*[tiab]
"""
    env.write_queries(two)
    # just after midnight, so the three polls below share today's entry date at any clock
    start = utc_now().replace(hour=0, minute=0, second=1, microsecond=0)
    with closing(env.store()) as store:
        pipeline.poll_run(env.config(), store, env.settings(), now=start)
    env.write_queries(two.replace("  first:\n", "  first:\n    kind: terminal\n  second:\n", 1)
                      .replace("[first]", "[first, second]", 1))
    corpus_server.add_article(renumbered(FIXTURES / "biopython/pubmed1.xml", "98000003"),
                              entry_date=days_ago(0))
    with closing(env.store()) as store:
        # this run got the lock first and noted the new route (it polls another query) ...
        pipeline.poll_run(env.config(), store, env.settings(), query_ids=["depression"],
                          now=start + timedelta(minutes=30))
        # ... this one had stamped its time earlier, then waited for the lock
        pipeline.poll_run(env.config(), store, env.settings(), query_ids=["everything"],
                          now=start + timedelta(minutes=20))
        pending = {item.study.ids.get("pmid") for item in store.pending("second")}
    assert pending == {"98000003"}, "found after 'second' was added: it is owed"


def test_a_destination_removed_from_a_query_and_added_back_gets_only_what_is_found_since(
        env, server):
    """Taken off a query, then put back: like any destination added to a query, it is told
    what the query finds from then on, not the slice of what it found meanwhile that the
    overlap lists again."""
    both = """\
destinations:
  first:
    kind: terminal
  second:
    kind: terminal
queries:
  - id: everything
    condition: Everything
    destinations: [first, second]
    sources:
      pubmed:
        terms: ketamine[tiab]
"""
    server.add_synthetic(2, first_pmid=90000001, newest=days_ago(3), days=1)
    env.write_queries(both)
    assert env.cli("run", "--once").stdout.count("pubmed.ncbi.nlm.nih.gov/") == 4
    env.write_queries(both.replace("[first, second]", "[first]"))
    server.add_synthetic(1, first_pmid=90000010, newest=days_ago(1), days=1)
    meanwhile = env.cli("run", "--once")
    assert meanwhile.stdout.count("pubmed.ncbi.nlm.nih.gov/90000010/") == 1, meanwhile.stdout

    env.write_queries(both)  # second is back
    server.add_synthetic(1, first_pmid=90000020, newest=days_ago(0), days=1)
    back = env.cli("run", "--once")
    assert back.exit_code == 0, back.stderr
    assert back.stdout.count("pubmed.ncbi.nlm.nih.gov/90000020/") == 2, "new: to both"
    assert "pubmed.ncbi.nlm.nih.gov/90000010/" not in back.stdout, \
        "found while second was off the query: not handed to it now"


@pytest.mark.hostile
def test_unknown_query_leaves_no_unfinished_run(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    assert env.cli("run", "--once", "--query", "nope").exit_code == 2
    assert env.cli("poll", "--query", "nope").exit_code == 2
    assert not env.db.exists() or env.store().count("runs") == 0
