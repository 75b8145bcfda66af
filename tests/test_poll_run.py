"""PubMed polled a run at a time (watcher.poll_run) against the local E-utilities server: one
search per query and one corrections search for the run when due (the tests' environment makes
it due at every run but a first poll: see test_corrections_schedule), the run's new records
fetched once in shared efetch batches, each query still told what it found, once per
destination; a failing search, efetch or corrections search fails exactly the queries it must,
keeps their windows, and the next run catches up without telling anything twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from tests.helpers import (
    EVERYTHING,
    FIXTURES,
    PUBMED_FILES,
    QUERIES_YAML,
    ROOT,
    Env,
    days_ago,
    renumbered,
    retracted,
)
from tests.helpers.delivery import TWO_ROUTES, Recorder, deliver_with
from tests.test_pubmed_scale import efetched
from watcher import pipeline
from watcher.fakes.eutils import EutilsServer
from watcher.sources.pubmed import PubMedSource

#: The depression query first, then everything: the first efetch batch is depression's.
DEPRESSION_FIRST = TWO_ROUTES.split("  - id: everything")[0] + "  - id: depression" + \
    TWO_ROUTES.split("  - id: depression")[1] + "  - id: everything" + \
    TWO_ROUTES.split("  - id: everything")[1].split("  - id: depression")[0]


def searches(server, datetype: str) -> list[dict[str, str]]:
    return [c for c in server.calls("esearch") if c["datetype"] == datetype]


class Faulty(PubMedSource):
    """The real PubMed source whose Nth efetch (or corrections search) the server answers
    with a truncated body: the fault is the server's, the request and parsing are real."""

    def __init__(self, server, *args, efetch: int | None = None, revised: bool = False,
                 hang: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.server, self.fail_efetch, self.fail_revised = server, efetch, revised
        self.hang = hang  # this efetch is answered only after a minute
        self.efetches = 0

    def fetch_ids(self, ids):
        self.efetches += 1
        if self.efetches == self.fail_efetch:
            self.server.truncate_next("efetch")
        if self.efetches == self.hang:
            self.server.slow_next(60, endpoint="efetch")
        return super().fetch_ids(ids)

    def revised(self, searches, window):
        if self.fail_revised:
            self.server.truncate_next("esearch")
        return super().revised(searches, window)


def poll_with(env, source_factory=PubMedSource, **kwargs):
    settings = env.settings()
    with pipeline.client_for(settings) as http:
        source = source_factory(*([env.server] if source_factory is Faulty else []),
                                settings.source("pubmed"), http, **kwargs)
        return pipeline.poll(env.config(), env.store(), settings, sources={"pubmed": source})


def test_nothing_new_costs_one_search_per_query_and_one_corrections_search(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    assert not pipeline.poll(env.config(), env.store(), env.settings()).failures
    corpus_server.requests.clear()
    report = pipeline.poll(env.config(), env.store(), env.settings())
    assert not report.failures and sum(o.new for o in report.outcomes) == 0
    assert len(searches(corpus_server, "edat")) == 3, "one search per query"
    mdat = searches(corpus_server, "mdat")
    assert len(mdat) == 1, "one corrections search for the run (due at every run here)"
    assert all(term in mdat[0]["term"] for term in ("all[sb]", "depressi*[tiab]",
                                                    '"social anxiety"[tiab]'))
    assert corpus_server.calls("efetch") == [], "nothing new, nothing fetched"


def test_fifty_new_records_over_seven_queries_are_one_efetch(env, server):
    """Each query finds its own new records (7 or 8 each): one efetch for the run, where
    fetching per query asked seven times."""
    added = {n: server.add_synthetic(8 if n == 0 else 7, first_pmid=35_000_000 + 100 * n,
                                     newest=days_ago(0), days=10,
                                     title=f"Synthetic group{n} record")
             for n in range(7)}
    env.write_queries("defaults:\n  lookback_days: 30\nqueries:" + "".join(f"""
  - id: q{n}
    condition: Group {n}
    sources:
      pubmed:
        terms: group{n}[tiab]
""" for n in range(7)))
    result = env.cli("poll")
    assert result.exit_code == 0, result.stderr
    assert len(server.calls("efetch")) == 1
    assert sorted(efetched(server)) == sorted(p for ids in added.values() for p in ids)
    assert len(server.requests) == 7 + 1, "7 searches, 1 efetch (a first poll has nothing " \
        "stored to correct: no corrections search)"
    lines = [line for line in result.stdout.splitlines() if "/ PubMed" in line]
    assert len(lines) == 7
    for n, line in enumerate(lines):
        count = len(added[n])
        assert f"q{n} / PubMed" in line and f"{count} seen, {count} new" in line, line
    store = env.store()
    assert store.count("studies") == 50
    assert store.conn.execute("SELECT count(*) FROM matches").fetchone()[0] == 50


def test_a_study_two_queries_find_is_fetched_once_and_told_to_each_destination_once(
        env, corpus_server):
    env.write_queries(TWO_ROUTES)
    assert not pipeline.poll(env.config(), env.store(), env.settings()).failures
    fetched = efetched(corpus_server)
    assert len(fetched) == len(set(fetched)) == 19, "each record fetched once for both queries"
    assert len(corpus_server.calls("efetch")) == 1
    x, y = Recorder(), Recorder()
    deliver_with(env, x=x, y=y)
    assert len(x.keys) == len(set(x.keys)) == 19
    assert 0 < len(y.keys) == len(set(y.keys)) < 19
    assert set(y.keys) <= set(x.keys), "the shared studies reach both destinations"
    pipeline.poll(env.config(), env.store(), env.settings())
    deliver_with(env, x=x, y=y)
    assert Counter(x.keys + y.keys).most_common(1)[0][1] <= 2
    assert len(x.keys) == 19 and len(set(y.keys)) == len(y.keys), "nothing told twice"


def test_a_failing_search_fails_its_query_alone(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    corpus_server.truncate_next("esearch")  # the first query's search
    report = pipeline.poll(env.config(), env.store(), env.settings())
    assert [o.query_id for o in report.failures] == ["everything"]
    assert "malformed or truncated XML" in report.failures[0].error
    assert searches(corpus_server, "mdat") == [], "first polls: nothing stored to correct"
    positions = {p.query_id: p for p in env.store().positions()}
    assert positions["everything"].window_end is None and positions["everything"].last_error
    assert positions["depression"].window_end and positions["anxiety"].window_end
    assert len(corpus_server.calls("efetch")) == 1

    assert not pipeline.poll(env.config(), env.store(), env.settings()).failures
    kept = env.store().position("everything", "pubmed")
    corpus_server.requests.clear()
    corpus_server.truncate_next("esearch")  # the first query's search again
    report = pipeline.poll(env.config(), env.store(), env.settings())
    assert [o.query_id for o in report.failures] == ["everything"]
    mdat = searches(corpus_server, "mdat")
    assert len(mdat) == 1 and "all[sb]" not in mdat[0]["term"], \
        "the corrections search covers the queries that were searched"
    assert "depressi*[tiab]" in mdat[0]["term"]
    assert env.store().position("everything", "pubmed").corrections_at == \
        kept.corrections_at, "its corrections position kept with its window"


@pytest.mark.hostile
def test_an_efetch_failing_on_the_second_batch_fails_only_the_queries_it_served(
        env, corpus_server):
    env.write_queries(DEPRESSION_FIRST)
    settings = env.settings()
    with pipeline.client_for(settings) as http:  # how many depression finds: one batch's worth
        probe = PubMedSource(settings.source("pubmed"), http)
        window = pipeline.polling.window_for(env.config().query("depression"), "pubmed",
                                             env.store(), settings, pipeline.utc_now())
        batch = len(probe.search(env.config().query("depression").search("pubmed"),
                                 window).ids)
    assert 0 < batch < 10
    corpus_server.requests.clear()
    report = poll_with(env, Faulty, efetch=2, fetch_batch=batch)
    assert [o.query_id for o in report.failures] == ["everything"]
    assert "PubMed efetch: malformed or truncated XML" in report.failures[0].error
    assert len(corpus_server.calls("efetch")) == 2, "the fetch stops at the failing batch"
    store = env.store()
    assert store.count("studies") == batch, "the first batch stays stored"
    positions = {p.query_id: p for p in store.positions()}
    assert positions["depression"].window_end, "its records all arrived: it completes"
    assert positions["everything"].window_end is None, "its window is kept"
    depression = next(o for o in report.outcomes if o.query_id == "depression")
    assert depression.seen == depression.new == batch
    x, y = Recorder(), Recorder()
    deliver_with(env, x=x, y=y)
    assert len(y.keys) == batch and x.keys == []

    corpus_server.requests.clear()
    again = pipeline.poll(env.config(), env.store(), env.settings())
    assert not again.failures
    assert len(efetched(corpus_server)) == 19 - batch, "what was stored is not fetched again"
    deliver_with(env, x=x, y=y)
    assert len(x.keys) == len(set(x.keys)) == 19
    assert len(y.keys) == len(set(y.keys)) == batch, "nothing told twice"


@pytest.mark.hostile
def test_the_next_batch_is_asked_while_one_is_stored_and_its_failure_loses_nothing(
        env, corpus_server):
    """Three batches of 7: the second is asked for before the first is stored (the progress
    line for batch 1 waits until the server has that request), and fails. The first stays
    stored, the third is never asked, the queries missing records fail with their windows
    kept, and the next run fetches only the twelve missing."""
    env.write_queries(TWO_ROUTES)
    settings = env.settings()
    with pipeline.client_for(settings) as http:
        probe = PubMedSource(settings.source("pubmed"), http)
        window = pipeline.polling.window_for(env.config().query("depression"), "pubmed",
                                             env.store(), settings, pipeline.utc_now())
        depression = probe.search(env.config().query("depression").search("pubmed"), window)
    corpus_server.requests.clear()
    asked_while_storing = []

    def progress(what: str, done: int, total: int) -> None:
        if done == 7:  # batch 1 stored: batch 2's efetch must already be on its way
            deadline = time.monotonic() + 10
            while len(corpus_server.calls("efetch")) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            asked_while_storing.append(len(corpus_server.calls("efetch")))

    with pipeline.client_for(settings) as http:
        source = Faulty(corpus_server, settings.source("pubmed"), http, efetch=2,
                        fetch_batch=7)
        report = pipeline.poll(env.config(), env.store(), settings,
                               sources={"pubmed": source}, progress=progress)
    assert asked_while_storing == [2], "batch 2 was asked for before batch 1 was stored"
    assert len(corpus_server.calls("efetch")) == 2, "batch 3 is never asked"
    store = env.store()
    stored = {pmid for pmid in corpus_server.records if store.find_study({"pmid": pmid})}
    assert len(stored) == 7 and stored == set(efetched(corpus_server)[:7])
    failed = {o.query_id for o in report.failures}
    assert failed == {"everything"} | (set() if set(depression.ids) <= stored
                                       else {"depression"})
    assert all("PubMed efetch: malformed or truncated XML" in o.error for o in report.failures)
    positions = {p.query_id: p for p in store.positions()}
    assert all(positions[query].window_end is None for query in failed), "windows kept"
    x, y = Recorder(), Recorder()
    deliver_with(env, x=x, y=y)

    corpus_server.requests.clear()
    again = pipeline.poll(env.config(), env.store(), env.settings())
    assert not again.failures
    assert sorted(efetched(corpus_server)) == sorted(set(corpus_server.records) - stored), \
        "only what is missing is fetched"
    deliver_with(env, x=x, y=y)
    assert len(x.keys) == len(set(x.keys)) == 19
    assert len(y.keys) == len(set(y.keys)) == len(depression.ids), "nothing told twice"


@pytest.mark.hostile
def test_the_batch_fetched_ahead_keeps_the_polls_deadline(env, corpus_server):
    """The second of three batches, fetched while the first is stored, is not answered: the
    fetch stops at WATCHER_POLL_TIMEOUT, with its one line, the first batch stored."""
    env.write_queries(EVERYTHING)
    settings = env.settings(WATCHER_POLL_TIMEOUT="3")
    with pipeline.client_for(settings) as http:
        source = Faulty(corpus_server, settings.source("pubmed"), http, hang=2, fetch_batch=7)
        report = pipeline.poll(env.config(), env.store(), settings, sources={"pubmed": source})
    assert [o.query_id for o in report.failures] == ["everything"]
    assert report.failures[0].error == (
        f"PubMed (127.0.0.1:{corpus_server.port}): the poll ran past its deadline (3s, "
        "WATCHER_POLL_TIMEOUT); stopped")
    assert len(corpus_server.calls("efetch")) == 2
    assert env.store().count("studies") == 7
    assert env.store().position("everything", "pubmed").window_end is None


@pytest.mark.hostile
def test_a_study_stored_for_a_query_that_then_fails_is_under_no_condition(env, corpus_server):
    """The second efetch fails: the first batch stays stored, but the query that asked for it
    failed and matched none of it, so none is shown (searched, listed) under its condition
    (nor stays so if the query is then removed); the next run's match names them."""
    env.write_queries(EVERYTHING)
    report = poll_with(env, Faulty, efetch=2, fetch_batch=7)
    assert [o.query_id for o in report.failures] == ["everything"]
    store = env.store()
    assert store.count("studies") == 7 and store.count("matches") == 0
    conditions = [row[0] for row in store.conn.execute("SELECT conditions FROM studies")]
    assert conditions == [None] * 7, "no query found them"
    assert store.search("conditions:everything") == []
    store.close()

    env.write_queries(QUERIES_YAML)
    again = pipeline.poll(env.config(), env.store(), env.settings())
    assert not again.failures
    store = env.store()
    assert len(store.search("conditions:everything", limit=100)) == 19


class HangingSecondEfetch(EutilsServer):
    """E-utilities whose second efetch is answered only when the test ends."""

    def __init__(self):
        super().__init__()
        self.released = threading.Event()
        self.efetches = 0  # arrived, answered or not

    def handle(self, path, params):
        if path.endswith("efetch.fcgi"):
            self.efetches += 1
            if self.efetches == 2:
                self.released.wait(60)
        return super().handle(path, params)


@pytest.mark.hostile
def test_ctrl_c_while_the_next_batch_is_on_its_way_does_not_wait_for_it(tmp_path):
    """A back-fill of three batches; Ctrl-C once the first is stored, while the second is
    unanswered: the run stops at once (130, one line), and the next one stores everything."""
    import sqlite3

    with HangingSecondEfetch() as server:
        added = server.add_synthetic(1200, first_pmid=35_000_000, newest=days_ago(0), days=20)
        env = Env(tmp_path, server)
        env.write_queries(EVERYTHING)
        process = subprocess.Popen([sys.executable, "-m", "watcher", "poll"], cwd=ROOT,
                                   env={**os.environ, **env.vars()}, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            deadline, stored = time.monotonic() + 60, 0
            while time.monotonic() < deadline and not (
                    stored == 500 and server.efetches == 2):
                time.sleep(0.05)
                try:  # read beside the run, as `watcher status` would
                    with sqlite3.connect(f"file:{env.db}?mode=ro", uri=True, timeout=5) as db:
                        stored = db.execute("SELECT count(*) FROM studies").fetchone()[0]
                except sqlite3.OperationalError:  # not created, or not migrated yet
                    continue
            assert stored == 500 and server.efetches == 2, \
                "the first batch stored, the second asked"
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            process.kill()
            server.released.set()
        assert process.returncode == 130, err
        assert err.strip().splitlines() == ["interrupted; anything not finished stays pending"]
        missing = set(added) - env.store().known_ids("pmid", added)
        assert len(missing) == 700, "the first batch stays stored"
        server.requests.clear()
        again = env.cli("poll")
        assert again.exit_code == 0, again.stderr
        assert sorted(efetched(server)) == sorted(missing), "only what was not stored"
        assert env.store().count("studies") == 1200


@pytest.mark.hostile
def test_a_truncated_efetch_fails_the_queries_it_served_in_one_line_and_stores_nothing(
        env, corpus_server):
    env.write_queries(QUERIES_YAML)
    corpus_server.truncate_next("efetch")
    result = env.cli("poll")
    assert result.exit_code == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "PubMed efetch: malformed or truncated XML" in errors[0]
    assert errors[0].endswith("(3 queries not polled; window kept for the next run)")
    store = env.store()
    assert store.count("studies") == 0
    assert all(p.window_end is None and p.last_error for p in store.positions())
    caught_up = env.cli("run", "--once")
    assert caught_up.exit_code == 0, caught_up.stderr
    assert caught_up.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 19


@pytest.mark.hostile
def test_a_failing_corrections_search_keeps_every_window_and_loses_no_correction(env, server):
    env.write_queries(EVERYTHING)
    study, notice = "99000100", "99000200"
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, study), entry_date=days_ago(10))
    assert env.cli("run", "--once").exit_code == 0  # delivered
    server.add_article(retracted(renumbered(source, study), notice), entry_date=days_ago(10),
                       modified=days_ago(0))
    position = env.store().position("everything", "pubmed").window_end
    server.requests.clear()

    report = poll_with(env, Faulty, revised=True)
    assert [o.query_id for o in report.failures] == ["everything"]
    assert report.failures[0].error.startswith(
        "PubMed search for corrections (records revised in the window) failed: ")
    assert server.calls("efetch") == [], "nothing fetched without the corrections"
    assert env.store().position("everything", "pubmed").window_end == position, "window kept"

    caught_up = env.cli("run", "--once")
    assert caught_up.exit_code == 0, caught_up.stderr
    assert "RETRACTED" in caught_up.stdout, "the correction is told on the next run"
    assert efetched(server) == [study]


@pytest.mark.hostile
def test_an_unparseable_record_two_queries_list_is_fetched_once_and_set_aside_for_each(
        env, corpus_server):
    from tests.helpers.delivery import LOST
    from tests.helpers.pubmed import without_article

    env.write_queries(TWO_ROUTES)
    record = corpus_server.records[LOST]
    corpus_server.add_article(without_article(record.element), entry_date=record.entry_date)
    report = pipeline.poll(env.config(), env.store(), env.settings())
    assert not report.failures
    assert efetched(corpus_server).count(LOST) == 1
    store = env.store()
    held = {(h["query_id"], h["source_id"], h["kind"]) for h in store.quarantined()}
    assert held == {("everything", LOST, "unparseable"), ("depression", LOST, "unparseable")}
    assert all(LOST in o.quarantined for o in report.outcomes)
    kept = [r for r in store.records("pubmed") if r["source_id"] == LOST]
    assert len(kept) == 1 and kept[0]["parse_error"] and kept[0]["payload"], "kept raw"
    assert all(p.window_end for p in store.positions()), "the queries move on"


# --- searches in flight together (the default outside the tests' environment) ---------------

class HeldFirstSearch(EutilsServer):
    """E-utilities whose first entry-date search is answered only once *others* more searches
    have arrived (or after *patience* seconds): whether the run had them in flight together.
    A search whose term holds *refused* is answered with E-utilities' own error."""

    def __init__(self, *, others: int, patience: float = 20.0, refused: str | None = None):
        super().__init__()
        self.others, self.patience, self.refused = others, patience, refused
        self.arrivals = threading.Semaphore(0)
        self.overlapped: bool | None = None
        self._first = threading.Lock()

    def handle(self, path, params):
        if path.endswith("esearch.fcgi") and params.get("datetype") == "edat":
            if self.refused and self.refused in params.get("term", ""):
                return 200, {"Content-Type": "text/xml"}, (
                    b"<eSearchResult><ERROR>Invalid query</ERROR></eSearchResult>")
            if self._first.acquire(blocking=False):  # the first search waits for the others
                self.overlapped = all(self.arrivals.acquire(timeout=self.patience)
                                      for _ in range(self.others))
            else:
                self.arrivals.release()
        return super().handle(path, params)


@pytest.fixture
def held():
    with HeldFirstSearch(others=2) as running:
        for n, path in enumerate(PUBMED_FILES, start=1):
            running.add_files([path], entry_date=days_ago(n))
        yield running


def test_searches_are_in_flight_together_and_find_what_one_at_a_time_finds(tmp_path, held,
                                                                          corpus_server):
    """Three queries' searches reach the server while the first is still unanswered; the run
    stores and matches what the same run one search at a time does."""
    (tmp_path / "concurrent").mkdir()
    (tmp_path / "serial").mkdir()
    concurrent, serial = Env(tmp_path / "concurrent", held), Env(tmp_path / "serial",
                                                                  corpus_server)
    for env in (concurrent, serial):
        env.write_queries(QUERIES_YAML)
    report = pipeline.poll(concurrent.config(), concurrent.store(),
                           concurrent.settings(WATCHER_NCBI_IN_FLIGHT="4"))
    assert held.overlapped is True, "the other two searches arrived while the first waited"
    assert not report.failures
    alone = pipeline.poll(serial.config(), serial.store(), serial.settings())
    assert [(o.query_id, o.seen, o.new) for o in report.outcomes] == \
        [(o.query_id, o.seen, o.new) for o in alone.outcomes]
    assert len(searches(held, "edat")) == 3 and len(searches(held, "mdat")) == 0, \
        "first polls: no corrections search"
    assert len(held.calls("efetch")) == 1


def test_a_refused_search_among_concurrent_ones_fails_its_query_alone(tmp_path):
    """A term E-utilities refuses fails its query with one line; the others, in flight at the
    same time, are polled, and the corrections search the run relies on leaves the refused
    term out (a refused term would fail it for every query)."""
    with HeldFirstSearch(others=1, refused="social anxiety") as server:
        for n, path in enumerate(PUBMED_FILES, start=1):
            server.add_files([path], entry_date=days_ago(n))
        env = Env(tmp_path, server)
        env.write_queries(QUERIES_YAML)
        store = env.store()
        with store.transaction():  # each query's corrections position, a day old
            for query in ("everything", "depression", "anxiety"):
                store.advance_corrections(query, "pubmed", end=days_ago(1).isoformat(),
                                          now=f"{days_ago(1).isoformat()}T00:00:00+00:00")
        report = pipeline.poll(env.config(), env.store(),
                               env.settings(WATCHER_NCBI_IN_FLIGHT="4"))
        assert [o.query_id for o in report.failures] == ["anxiety"]
        assert "Invalid query" in (report.failures[0].error or "")
        assert {o.query_id for o in report.outcomes if not o.error} == {"everything",
                                                                       "depression"}
        # the corrections search sent with the searches covered the refused term too: it is
        # asked again for the queries that were searched (one request more, on failure only)
        first, again = searches(server, "mdat")
        assert "social anxiety" in first["term"]
        assert "social anxiety" not in again["term"] and "all[sb]" in again["term"]
        positions = {p.query_id: p for p in env.store().positions()}
        assert positions["anxiety"].window_end is None
        assert positions["everything"].window_end == days_ago(0).isoformat()
