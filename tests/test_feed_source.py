"""Feeds (RSS and Atom) as a source: real polls through the CLI and the pipeline against a local
feed server, with conditional GETs, the query's words filtering a journal's table of contents,
and an entry that is already a stored PubMed study told once. (tests/test_feed.py is about the
Atom feeds watcher writes, not these.)"""

from __future__ import annotations

import json

import pytest

from tests.fakes.feed import Article, FeedServer, atom_feed, journal_rss, medrxiv_rss
from tests.helpers import FIXTURES, days_ago
from watcher import pipeline

YAML = """\
destinations:
  team:
    kind: terminal
interventions:
  ketamine:
    pubmed: ketamine[tiab]
    feed: ketamine OR esketamine OR arketamin*
defaults:
  intervention: ketamine
  destinations: [team]
queries:
  - id: depression
    condition: Depression
    sources:
{pubmed}      feed:
        urls: [{urls}]
        terms: {terms}
"""
TERMS = 'depression OR depressive OR "treatment resistant"'
PUBMED = "      pubmed:\n        terms: depressi*[tiab]\n"
FAST = {"WATCHER_FEED_RATE": "50"}

KETAMINE_TRD = Article("Esketamine nasal spray in treatment-resistant depression: a trial",
                       "<p>Adults with <b>treatment-resistant depression</b> improved.</p>",
                       doi="10.1038/s41380-026-00001-1", date="2026-06-01")
KETAMINE_PAIN = Article("Ketamine infusions for complex regional pain syndrome",
                        "Pain fell at 12 weeks.", doi="10.1038/s41380-026-00002-2")
UNRELATED = Article("Lithium and suicide in bipolar depression", "A cohort of 10,000.",
                    doi="10.1038/s41380-026-00003-3")
LATER = Article("Arketamine for depressive episodes: a pilot study", "Twelve patients.",
                doi="10.1038/s41380-026-00004-4", date="2026-06-08")


@pytest.fixture
def feeds():
    with FeedServer() as running:
        yield running


def queries(env, *urls: str, terms: str = TERMS, pubmed: str = "") -> None:
    env.write_queries(YAML.format(urls=", ".join(urls), terms=json.dumps(terms),
                                  pubmed=pubmed))


def run(env, **extra: str):
    result = env.cli("run", "--once", **FAST, **extra)
    assert result.exit_code == 0, result.stdout + result.stderr
    return result.stdout


def cursor(env) -> str | None:
    return env.store().position("depression", "feed").cursor


def test_entries_mentioning_the_query_and_its_intervention_are_told_and_no_others(env, feeds):
    feeds.serve("mp.rss", journal_rss("Molecular Psychiatry",
                                      [KETAMINE_TRD, KETAMINE_PAIN, UNRELATED]))
    queries(env, feeds.url("mp.rss"))
    out = run(env)
    assert KETAMINE_TRD.title in out
    assert KETAMINE_PAIN.title not in out, "about ketamine, not about depression"
    assert UNRELATED.title not in out, "about depression, not about ketamine"
    store = env.store()
    study_id = store.find_study({"doi": "10.1038/s41380-026-00001-1"})
    assert study_id is not None
    study = store.get_study(study_id)
    assert (study.journal, study.authors, study.published) == (
        "Molecular Psychiatry", ["Jane Smith", "Bob Jones"], "2026-06-01")
    assert study.abstract.endswith("Adults with treatment-resistant depression improved.")
    assert store.find_study({"doi": KETAMINE_PAIN.doi}) is None, "not kept either"


def test_an_unchanged_feed_answers_304_and_tells_nothing_its_etag_kept_across_runs(env,
                                                                                   feeds):
    feeds.serve("mp.rss", journal_rss("Molecular Psychiatry", [KETAMINE_TRD]))
    queries(env, feeds.url("mp.rss"))
    assert KETAMINE_TRD.title in run(env)
    etag = feeds.feeds["/mp.rss"].etag
    again = run(env)  # a new run: the ETag came from the database, not from memory
    assert KETAMINE_TRD.title not in again
    first, second = feeds.requests_for("mp.rss")
    assert "if-none-match" not in first
    assert second["if-none-match"] == etag
    assert "If-None-Match" not in cursor(env) and etag in json.loads(cursor(env))[
        "feeds"].popitem()[1]["etag"]
    # the journal adds an article: the feed changed, only the new one is told
    feeds.serve("mp.rss", journal_rss("Molecular Psychiatry", [LATER, KETAMINE_TRD]))
    third = run(env)
    assert LATER.title in third and KETAMINE_TRD.title not in third
    assert feeds.requests_for("mp.rss")[2]["if-none-match"] == etag


def test_a_feed_with_only_last_modified_is_asked_if_modified_since(env, feeds):
    feeds.serve("toc.xml", journal_rss("Molecular Psychiatry", [KETAMINE_TRD]), etag=False)
    queries(env, feeds.url("toc.xml"))
    assert KETAMINE_TRD.title in run(env)
    assert KETAMINE_TRD.title not in run(env)
    second = feeds.requests_for("toc.xml")[1]
    assert second["if-modified-since"] == feeds.feeds["/toc.xml"].modified
    assert "if-none-match" not in second


def test_an_entry_already_stored_from_pubmed_is_the_same_study_and_not_a_second_alert(env,
                                                                                       feeds):
    env.server.add_files([FIXTURES / "pubmed_metapub" / "38011560.xml"], entry_date=days_ago(1))
    pnas = Article("Ketamine and the neurobiology of depression: toward next-generation "
                   "rapid-acting antidepressant treatments", "A review.",
                   doi="10.1073/pnas.2305772120", date="2023-11-27")
    feeds.serve("pnas.rss", journal_rss("PNAS", [KETAMINE_TRD]))
    queries(env, feeds.url("pnas.rss"), pubmed=PUBMED)
    first = run(env)
    assert first.count("Ketamine and the neurobiology of depression") == 1  # from PubMed
    feeds.serve("pnas.rss", journal_rss("PNAS", [pnas, KETAMINE_TRD]))
    second = run(env)
    assert "neurobiology" not in second.lower(), second
    store = env.store()
    study_id = store.find_study({"pmid": "38011560"})
    assert store.find_study({"doi": "10.1073/pnas.2305772120"}) == study_id
    assert [e.kind for e in store.events_of(study_id)] == ["new"]
    records = {(r.source, r.source_id) for r in store.record_history(study_id)}
    assert ("pubmed", "38011560") in records and any(s == "feed" for s, _ in records)
    assert store.get_study(study_id).source == "pubmed", "PubMed's description wins"


def test_entries_of_several_feeds_atom_and_a_preprint_server_each_keep_their_own_etag(env,
                                                                                       feeds):
    preprint = Article("Ketamine versus ECT for severe depression", "A randomised trial.",
                       doi="10.64898/2026.06.15.26355706", authors=("Smith, J.", "Doe, A."))
    atom = Article("Esketamine and suicidal ideation in depressive disorder", "Cohort.",
                   doi="10.1001/jamapsychiatry.2026.0101", guid="tag:jama,2026:0101")
    feeds.serve("medrxiv.xml", medrxiv_rss("Psychiatry And Clinical Psychology", [preprint]))
    feeds.serve("jama.atom", atom_feed("JAMA Psychiatry", [atom]),
                content_type="application/atom+xml")
    queries(env, feeds.url("medrxiv.xml"), feeds.url("jama.atom"))
    out = run(env)
    assert preprint.title in out and atom.title in out
    store = env.store()
    found = store.get_study(store.find_study({"preprint_doi": preprint.doi}))
    assert found.kind == "preprint" and found.authors == ["Smith, J.", "Doe, A."]
    assert store.get_study(store.find_study({"doi": atom.doi})).journal == "JAMA Psychiatry"
    # only the Atom feed changes: the preprint feed answers 304, the Atom feed is read again
    newer = Article("Ketamine maintenance in depression", "Two years.",
                    doi="10.1001/jamapsychiatry.2026.0202")
    feeds.serve("jama.atom", atom_feed("JAMA Psychiatry", [newer, atom]),
                content_type="application/atom+xml")
    second = run(env)
    assert newer.title in second and preprint.title not in second and atom.title not in second
    assert "if-none-match" in feeds.requests_for("medrxiv.xml")[1]


def test_a_bozo_feed_keeps_the_entries_it_could_read_with_one_warning(env, feeds):
    whole = journal_rss("Molecular Psychiatry", [KETAMINE_TRD, LATER])
    broken = whole[:whole.rindex("<dc:source>")]  # cut off in the last entry
    feeds.serve("mp.rss", broken)
    queries(env, feeds.url("mp.rss"))
    report = pipeline.run_once(env.config(), env.store(), env.settings(**FAST),
                               stream=open("/dev/null", "w"))  # noqa: SIM115
    [outcome] = report.poll.outcomes
    assert outcome.error is None
    assert len(outcome.warnings) == 1 and "is malformed" in outcome.warnings[0]
    assert feeds.url("mp.rss") in outcome.warnings[0]
    assert env.store().find_study({"doi": KETAMINE_TRD.doi}) is not None


def test_an_entry_listed_twice_under_one_id_is_told_once_with_a_warning(env, feeds):
    twice = Article(KETAMINE_TRD.title + " (corrected)", KETAMINE_TRD.summary,
                    doi=KETAMINE_TRD.doi, link="https://www.nature.com/articles/s41380-1")
    once = Article(KETAMINE_TRD.title, KETAMINE_TRD.summary, doi=KETAMINE_TRD.doi,
                   link="https://www.nature.com/articles/s41380-1")
    feeds.serve("mp.rss", journal_rss("Molecular Psychiatry", [once, twice]))
    queries(env, feeds.url("mp.rss"))
    report = pipeline.run_once(env.config(), env.store(), env.settings(**FAST),
                               stream=open("/dev/null", "w"))  # noqa: SIM115
    [outcome] = report.poll.outcomes
    assert outcome.seen == 1 and outcome.new == 1
    assert outcome.warnings == [f"feed {feeds.url('mp.rss')} lists 1 entry again under an id "
                                "it already used; each is kept once"]


def test_an_entry_without_any_id_is_kept_under_its_link_and_told_once(env, feeds):
    bare = Article("Ketamine clinic outcomes in depression", "Audit.", doi=None,
                   link="https://journal.example.org/article/77")
    feeds.serve("j.rss", journal_rss("Journal", [bare]))
    queries(env, feeds.url("j.rss"))
    assert bare.title in run(env)
    feeds.serve("j.rss", journal_rss("Journal", [LATER, bare]))  # changed: read again, 200
    second = run(env)
    assert LATER.title in second and bare.title not in second
    kept = [r for r in env.store().records("feed") if r["source_id"] == bare.link]
    assert len(kept) == 1 and kept[0]["study_id"] is not None


@pytest.mark.parametrize("answer", ["html", "dead", "slow"])
def test_a_feed_that_fails_fails_the_poll_naming_it_and_the_cursor_stays(env, feeds, answer,
                                                                         unused_port):
    feeds.serve("ok.rss", journal_rss("Molecular Psychiatry", [KETAMINE_TRD]))
    feeds.serve("mp.rss", journal_rss("Molecular Psychiatry", [LATER]))
    bad = feeds.url("mp.rss")
    queries(env, feeds.url("ok.rss"), bad)
    run(env)
    before = cursor(env)
    relapse = Article("Ketamine and depressive relapse", "Follow-up.", doi="10.1038/s41380-9")
    feeds.serve("ok.rss", journal_rss("Molecular Psychiatry", [relapse, KETAMINE_TRD]))
    extra = {"WATCHER_HTTP_TIMEOUT": "1"}
    if answer == "html":
        feeds.script("mp.rss", 200, "<!DOCTYPE html><html><body>Service unavailable</body>"
                     "</html>", times=5)
    elif answer == "slow":
        feeds.script("mp.rss", 200, "late", delay=3, times=5)
    else:
        bad = f"http://127.0.0.1:{unused_port}/mp.rss"
        queries(env, feeds.url("ok.rss"), bad)
    failed = env.cli("run", "--once", **FAST, **extra)
    assert failed.exit_code != 0
    lines = [line for line in failed.stderr.splitlines() if "feed" in line.lower()]
    assert len(lines) == 1 and bad in lines[0], failed.stderr
    assert "Traceback" not in failed.stderr
    if answer == "html":
        assert "not an RSS or Atom feed (an HTML page)" in lines[0]
    assert cursor(env) == before, "the cursor is the last successful poll's, untouched"
    assert env.store().find_study({"doi": relapse.doi}) is None, "nothing half-kept"
    feeds.scripts.clear()  # the feed is back: the next poll catches up
    queries(env, feeds.url("ok.rss"), feeds.url("mp.rss"))
    later = env.cli("run", "--once", **FAST)
    assert later.exit_code == 0 and relapse.title in later.stdout


def test_edited_terms_forget_the_cursor_and_read_every_feed_whole(env, feeds):
    feeds.serve("mp.rss", journal_rss("Molecular Psychiatry", [KETAMINE_TRD, KETAMINE_PAIN]))
    queries(env, feeds.url("mp.rss"))
    assert KETAMINE_PAIN.title not in run(env)
    queries(env, feeds.url("mp.rss"), terms=TERMS + ' OR "regional pain"')
    out = run(env)
    assert KETAMINE_PAIN.title in out and KETAMINE_TRD.title not in out
    assert "if-none-match" not in feeds.requests_for("mp.rss")[1]


def test_kept_entries_are_read_again_offline_by_reparse(env, feeds):
    feeds.serve("mp.rss", journal_rss("Molecular Psychiatry", [KETAMINE_TRD]))
    queries(env, feeds.url("mp.rss"))
    run(env)
    result = env.cli("reparse")
    assert result.exit_code == 0, result.stderr
    from watcher.sources import REGISTRY
    [kept] = env.store().records("feed")
    [again] = REGISTRY["feed"].parse_records([kept["payload"]])
    assert again.source_id == kept["source_id"]
    assert again.study.ids == {"doi": KETAMINE_TRD.doi}
    assert json.loads(kept["parsed"]) == again.study.to_dict()


def test_a_study_a_feed_told_first_is_not_told_again_when_pubmed_lists_it(env, feeds):
    pnas = Article("Ketamine and the neurobiology of depression", "A review.",
                   doi="10.1073/PNAS.2305772120", date="2023-11-27")
    feeds.serve("pnas.rss", journal_rss("PNAS", [pnas]))
    queries(env, feeds.url("pnas.rss"), pubmed=PUBMED)
    assert run(env).count("Ketamine and the neurobiology of depression") == 1
    env.server.add_files([FIXTURES / "pubmed_metapub" / "38011560.xml"], entry_date=days_ago(1))
    second = run(env)
    assert "neurobiology" not in second.lower(), second
    store = env.store()
    study_id = store.find_study({"doi": "10.1073/pnas.2305772120"})
    assert store.find_study({"pmid": "38011560"}) == study_id
    assert [e.kind for e in store.events_of(study_id)] == ["new"]


def test_one_article_in_two_feeds_of_a_query_is_one_item(env, feeds):
    in_print = Article(KETAMINE_TRD.title, KETAMINE_TRD.summary, doi=KETAMINE_TRD.doi,
                       link="https://www.nature.com/articles/print-1")
    feeds.serve("online.rss", journal_rss("Molecular Psychiatry", [KETAMINE_TRD]))
    feeds.serve("issue.rss", journal_rss("Molecular Psychiatry", [in_print]))
    queries(env, feeds.url("online.rss"), feeds.url("issue.rss"))
    out = run(env)
    assert out.count(KETAMINE_TRD.title) == 1, out
    store = env.store()
    study_id = store.find_study({"doi": KETAMINE_TRD.doi})
    assert len({r.source_id for r in store.record_history(study_id)}) == 2
