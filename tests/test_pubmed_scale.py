"""PubMed at depth against the local E-utilities server: a 25,000-record back-fill fetched whole
(each PMID once, the window split below esearch's 9,999-id limit), ids shared by several queries
fetched once per run in large batches, NCBI's request rate held over a run of twelve queries,
and the run's request count in the debug log."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from tests.helpers import ROOT, days_ago
from watcher import pipeline
from watcher.sources.base import FetchContext, Window
from watcher.sources.pubmed import EFETCH_BATCH, ESEARCH_LIMIT, PubMedSource


def queries_yaml(count: int, lookback: int = 30) -> str:
    """*count* queries that all find every synthetic record (each its own search term)."""
    items = "".join(f"""
  - id: q{n}
    condition: Query {n}
    sources:
      pubmed:
        terms: ketamine[tiab] OR q{n}[tiab]
""" for n in range(count))
    return f"defaults:\n  lookback_days: {lookback}\nqueries:{items}"


def efetched(server) -> list[str]:
    return [pmid for call in server.calls("efetch") for pmid in call["id"].split(",")]


def test_a_25000_record_back_fill_is_fetched_completely_each_pmid_once(env, server):
    # Ten years of records, ~7 a day: the window holds 2.5x what one esearch can list.
    added = server.add_synthetic(25_000, first_pmid=30_000_000, newest=days_ago(0), days=3650)
    env.write_queries(queries_yaml(1, lookback=3650))
    settings = env.settings()
    reports: list[tuple[int, int]] = []
    with pipeline.client_for(settings) as http:
        source = PubMedSource(settings.source("pubmed"), http)
        result = source.fetch(env.config().query("q0").search("pubmed"),
                              Window(days_ago(3650), days_ago(0)),
                              FetchContext(lambda scheme, ids: set(),
                                           progress=lambda done, total: reports.append(
                                               (done, total))))
    assert sorted(result.matched) == sorted(added) and not result.missing
    assert sorted(r.source_id for r in result.records) == sorted(added)
    assert all(r.study is not None for r in result.records)
    fetched = efetched(server)
    assert len(fetched) == len(set(fetched)) == 25_000, "every PMID fetched exactly once"
    searches = server.calls("esearch")
    assert all(int(c["retstart"]) < ESEARCH_LIMIT for c in searches)
    entered = [c for c in searches if c["datetype"] == "edat"]
    # Split by the count the first answer gave (25,000 / 9,999: three slices), not halved
    # blindly (14 searches, each over-full answer thrown away).
    assert len(entered) == 4, [(c["mindate"], c["maxdate"]) for c in entered]
    assert reports[-1] == (25_000, 25_000) and len(reports) == len(server.calls("efetch"))
    assert server.throttled == 0
    print(f"\n25,000 records: {len(server.requests)} requests ({len(searches)} esearch, "
          f"{len(server.calls('efetch'))} efetch of up to {EFETCH_BATCH})")


def test_a_dense_short_window_is_cut_into_whole_days_that_each_fit(env, server):
    """Dates are whole days: 24,000 records over 7 days (~3,400 a day) cut into three slices
    of 7/3 days give a 3-day slice of 10,300, over the limit and searched again. Cut into
    slices of 2 days (6,900 each), every slice fits at once: 1 + 4 searches."""
    added = server.add_synthetic(24_000, first_pmid=32_000_000, newest=days_ago(0), days=7)
    env.write_queries(queries_yaml(1, lookback=6))
    assert env.cli("poll").exit_code == 0
    entered = [c for c in server.calls("esearch") if c["datetype"] == "edat"]
    assert len(entered) == 5, [(c["mindate"], c["maxdate"]) for c in entered]
    fetched = efetched(server)
    assert len(fetched) == len(set(fetched)) == len(added) == 24_000


def test_a_record_three_queries_find_is_fetched_once_in_large_batches(env, server):
    added = server.add_synthetic(1_100, first_pmid=31_000_000, newest=days_ago(0), days=20)
    env.write_queries(queries_yaml(3))
    result = env.cli("--debug", "poll")
    assert result.exit_code == 0, result.stderr
    fetched = efetched(server)
    assert sorted(fetched) == sorted(added), "each PMID fetched once across the three queries"
    assert [len(c["id"].split(",")) for c in server.calls("efetch")] == [500, 500, 100]
    assert all(f"q{n} / PubMed" in result.stdout and "1100 seen" in result.stdout
               for n in range(3))
    assert env.store().count("studies") == 1_100
    # 3 entry-date searches + 3 efetch batches (first polls: no corrections search).
    assert f"debug: HTTP requests this run: PubMed {len(server.requests)}" in result.stderr
    assert len(server.requests) == 6


def test_twelve_queries_in_one_run_stay_under_ncbis_rate(env, server):
    server.add_synthetic(40, first_pmid=32_000_000, newest=days_ago(0), days=10)
    server.rate_limit = 3  # NCBI's limit without a key, answered with NCBI's real 429 body
    env.write_queries(queries_yaml(12))
    report = pipeline.poll(env.config(), env.store(),
                           env.settings(NCBI_API_KEY="", WATCHER_NCBI_RATE=""))
    assert not report.failures
    assert len(server.requests) == 12 + 1, \
        "one search per query, one efetch (first polls: no corrections search)"
    assert server.throttled == 0, "no 429 over the whole run"
    times = sorted(t for t, _, _ in server.requests)
    assert all(times[i + 3] - times[i] >= 0.95 for i in range(len(times) - 3)), \
        "never more than 3 requests in any second"


def run_on_a_terminal(env, *args: str, **extra: str) -> tuple[int, str, str]:
    """The real CLI in a subprocess whose stderr is a pseudo-terminal (stdout a pipe)."""
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "watcher", *args], cwd=ROOT,
                               env={**os.environ, **env.vars(**extra)}, stdout=subprocess.PIPE,
                               stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    terminal = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        terminal += chunk
    stdout = process.stdout.read().decode()
    process.wait(timeout=60)
    os.close(master)
    return process.returncode, stdout, terminal.decode(errors="replace")


def test_a_long_back_fill_shows_a_progress_bar_on_a_terminal_only(env, server):
    server.add_synthetic(1_100, first_pmid=33_000_000, newest=days_ago(0), days=20)
    env.write_queries(queries_yaml(1))
    piped = env.cli("poll")  # stderr is not a terminal: nothing but the usual output
    assert piped.exit_code == 0 and "1100 seen, 1100 new" in piped.stdout
    assert piped.stderr == "" and "fetching" not in piped.stdout

    # The same back-fill into a fresh database, on a terminal.
    code, stdout, terminal = run_on_a_terminal(env, "poll", WATCHER_DB=str(env.tmp / "tty.db"))
    assert code == 0 and "1100 seen, 1100 new" in stdout, terminal
    assert "q0 / PubMed: fetching" in terminal and "1100/1100" in terminal
    assert "#" in terminal and "fetching" not in stdout
