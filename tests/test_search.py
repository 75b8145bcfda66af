"""`watcher search`: the kept studies found by words in their title, abstract, authors, journal
or conditions, newest first; the index kept current by the store (a revised record, an older
database); and the readable views `datasette state/watcher.db` shows a team."""

from __future__ import annotations

import gzip
import json
import sqlite3
from contextlib import closing

import pytest

from tests.helpers import FIXTURES, days_ago, renumbered, retracted
from tests.helpers.ctgov import ketamine_trial
from watcher.db import MIGRATIONS
from watcher.fakes.ctgov import CtgovServer

# The real PubMed corpus (tests/fixtures), found by a query that finds everything and by a
# topic query whose id names a condition that no study's text mentions ("mood").
QUERIES = """\
defaults:
  lookback_days: 30
queries:
  - id: everything
    condition: Everything in the corpus
    sources:
      pubmed:
        terms: all[sb]
  - id: mood
    condition: Mood disorders
    sources:
      pubmed:
        terms: depressi*[tiab] OR "Depression"[Mesh]
"""

KETAMINE = "38011560"  # Krystal JH et al., Ketamine and the neurobiology of depression (PNAS)
SOCIAL_ANXIETY = "38147649"  # gut microbiota and social anxiety (PNAS), also found by "mood"
THYROID_STORM = "36318760"  # listed 2026-11-24 in the corpus server's dating: older
PESTICIDE = "28775130"  # subclinical hypothyroidism, listed later: newer


def pmids(result) -> list[str]:
    """The PMIDs `search --json` printed, in its order."""
    assert result.exit_code == 0, result.stderr
    return [study["ids"].get("pmid") for study in json.loads(result.stdout)["studies"]]


def _json_container(value: object) -> bool:
    """Whether *value* is a JSON list or object stored as text: what no reader should see."""
    try:
        return isinstance(json.loads(value), list | dict) if isinstance(value, str) else False
    except ValueError:
        return False


@pytest.fixture
def polled(env, corpus_server):
    """The whole real corpus polled into the database through the real pipeline."""
    env.write_queries(QUERIES)
    result = env.cli("poll")
    assert result.exit_code == 0, result.stderr
    return env


def test_search_finds_a_study_by_a_word_only_its_abstract_has(polled):
    result = polled.cli("search", "reconceptualization")
    assert result.exit_code == 0, result.stderr
    assert "Ketamine and the neurobiology of depression" in result.stdout
    assert f"PMID {KETAMINE}" in result.stdout
    assert result.stdout.rstrip().endswith("1 study found")
    # stemmed: the adjective finds the noun
    assert KETAMINE in pmids(polled.cli("search", "depressive", "--json"))


def test_search_finds_by_author_and_by_journal(polled):
    assert pmids(polled.cli("search", "Krystal", "--json")) == [KETAMINE]
    assert pmids(polled.cli("search", "Proc Natl Acad Sci", "--json")) == [KETAMINE,
                                                                          SOCIAL_ANXIETY]


def test_search_finds_by_condition_the_text_never_names(polled):
    assert pmids(polled.cli("search", "mood", "--json")) == [KETAMINE, SOCIAL_ANXIETY]
    shown = polled.cli("search", "mood")
    assert "everything, mood" in shown.stdout  # which queries found it, on its line


def test_results_come_newest_first(polled):
    found = json.loads(polled.cli("search", "thyroid", "--json").stdout)["studies"]
    assert [s["ids"]["pmid"] for s in found] == [PESTICIDE, THYROID_STORM]
    assert found[0]["date"] > found[1]["date"]
    text = polled.cli("search", "thyroid").stdout
    assert text.index("Occupational pesticide") < text.index("Thyroid storm")


def test_condition_and_since_narrow_the_results(polled):
    assert pmids(polled.cli("search", "Proc", "--condition", "mood", "--json")) == [
        KETAMINE, SOCIAL_ANXIETY]
    assert pmids(polled.cli("search", "thyroid", "--condition", "mood", "--json")) == []
    # the condition as the YAML names it is the same query
    assert pmids(polled.cli("search", "Krystal", "--condition", "Mood disorders",
                            "--json")) == [KETAMINE]
    since = days_ago(5).isoformat()  # between the two thyroid papers' entry dates
    assert pmids(polled.cli("search", "thyroid", "--since", since, "--json")) == [PESTICIDE]
    bad = polled.cli("search", "thyroid", "--since", "last week")
    assert bad.exit_code == 2 and "--since" in bad.stderr and "Traceback" not in bad.stderr


def test_json_shape(polled):
    document = json.loads(polled.cli("search", "Krystal", "--json").stdout)
    assert document["version"] == 1 and document["query"] == "Krystal"
    (study,) = document["studies"]
    assert set(study) == {"id", "kind", "title", "date", "authors", "journal", "conditions",
                          "ids", "url", "snippet"}
    assert study["kind"] == "publication"
    assert study["authors"][0] == "Krystal JH"
    assert study["conditions"] == ["everything", "mood"]
    assert study["ids"]["pmid"] == KETAMINE and study["ids"]["doi"] == "10.1073/pnas.2305772120"
    assert study["url"] == f"https://pubmed.ncbi.nlm.nih.gov/{KETAMINE}/"
    assert study["snippet"].startswith("Ketamine has emerged")  # the abstract's start
    (found,) = json.loads(polled.cli("search", "reconceptualization", "--json").stdout)[
        "studies"]
    assert "[reconceptualization]" in found["snippet"]  # or its passage that matched


@pytest.mark.hostile
@pytest.mark.parametrize("typed", ['"', "ketamine\"", "AND", "OR", "NOT ketamine", "(",
                                   "treatment-resistant", "title:ketamine", "ketamine*", "*",
                                   "^", "Krystal's", "'", "neurobiology AND", "a:b:c", "NEAR("])
def test_what_a_user_types_never_ends_in_a_traceback(polled, typed):
    result = polled.cli("search", typed)  # (catch_exceptions=False: a traceback fails here)
    assert result.exit_code in (0, 2), result.stderr
    if result.exit_code == 2:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    else:
        assert "found" in result.stdout.splitlines()[-1]


def test_a_hyphenated_word_and_a_stray_quote_still_find(polled):
    assert pmids(polled.cli("search", "treatment-resistant", "--json")) == [KETAMINE]
    assert pmids(polled.cli("search", 'Krystal"', "--json")) == [KETAMINE]
    assert pmids(polled.cli("search", '"neurobiology of depression"', "--json")) == [KETAMINE]
    blank = polled.cli("search", '"')
    assert blank.exit_code == 2 and "give words to search for" in blank.stderr


def test_the_index_follows_a_revised_record(env, server):
    """A correction (a retraction, its title and abstract revised upstream) is searchable by
    its new words and no longer by the ones it lost, from the poll that stored it."""
    env.write_queries(QUERIES)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, "99000100"), entry_date=days_ago(10))
    assert env.cli("poll").exit_code == 0
    assert pmids(env.cli("search", "thyroid storm", "--json")) == ["99000100"]

    revised = retracted(renumbered(source, "99000100"), "99000200")
    revised.find(".//ArticleTitle").text = "RETRACTED: Hyperthyroid crisis in children."
    for node in revised.findall(".//Abstract/AbstractText"):
        node.text = "Withdrawn at the authors' request after a duplicated cohort was found."
    server.add_article(revised, entry_date=days_ago(10), modified=days_ago(0))
    assert env.cli("poll").exit_code == 0
    assert pmids(env.cli("search", "retracted", "--json")) == ["99000100"]
    assert pmids(env.cli("search", "duplicated cohort", "--json")) == ["99000100"]
    assert pmids(env.cli("search", "tachycardia", "--json")) == []  # the old abstract's
    assert pmids(env.cli("search", "thyroid storm", "--json")) == []


def test_a_database_from_before_search_gains_the_index_when_opened(env):
    """A database the watcher before this change wrote (schema 6: the real corpus polled and
    told, see tests/fixtures/SOURCES.md) is searched as it is, and gains the index, populated,
    the first time it is opened for writing, losing nothing."""
    env.db.parent.mkdir(parents=True)
    env.db.write_bytes(gzip.decompress((FIXTURES / "databases/schema6_corpus.db.gz")
                                       .read_bytes()))
    env.write_queries(QUERIES)
    with closing(sqlite3.connect(env.db)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 6
        assert not raw.execute("SELECT 1 FROM sqlite_master WHERE name = 'studies_fts'"
                               ).fetchone()
        counts = {t: raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("studies", "study_ids", "matches", "events", "outbox",
                            "source_records", "digests")}
    # `search` only reads: an older file is searched through a migrated copy, left as it was
    assert pmids(env.cli("search", "Krystal", "--json")) == [KETAMINE]
    with closing(sqlite3.connect(env.db)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 6

    store = env.store()  # what the next run does: migrate in place
    assert store.version == len(MIGRATIONS)
    assert {t: store.count(t) for t in counts} == counts, "nothing lost"
    assert [h.ids["pmid"] for h in store.search("mood")] == [KETAMINE, SOCIAL_ANXIETY]
    assert [h.ids["pmid"] for h in store.search("reconceptualization")] == [KETAMINE]
    store.close()
    assert pmids(env.cli("search", "thyroid", "--json")) == [PESTICIDE, THYROID_STORM]
    assert env.cli("run", "--once").exit_code == 0  # and the pipeline carries on with it


def test_the_views_a_team_browses_are_readable(polled):
    assert polled.cli("run", "--once").exit_code == 0  # events told: the outbox has dates
    store = polled.store()
    views = set(store.db.view_names())
    assert {"studies_readable", "events_readable", "records_readable"} <= views
    study = next(store.db.query("SELECT * FROM studies_readable WHERE ids LIKE ?",
                                [f"%pmid:{KETAMINE}%"]))
    assert study["title"].startswith("Ketamine and the neurobiology of depression")
    assert study["authors"].startswith("Krystal JH, Kaye AP")
    assert study["conditions"] == "everything, mood"
    assert "doi:10.1073/pnas.2305772120" in study["ids"]
    assert study["listed"] == days_ago(13).isoformat()
    event = next(store.db.query("SELECT * FROM events_readable WHERE study_id = ?",
                                [study["id"]]))
    assert event["kind"] == "new" and event["study_title"] == study["title"]
    assert event["conditions"] == "everything, mood"
    assert event["created"] and "sent" in event["delivered"]
    record = next(store.db.query("SELECT * FROM records_readable WHERE study_id = ?",
                                 [study["id"]]))
    assert record["source_id"] == KETAMINE and "payload" not in record
    for view in ("studies_readable", "events_readable", "records_readable"):
        for row in store.db.query(f"SELECT * FROM {view}"):
            for column, value in row.items():
                assert not isinstance(value, bytes), (view, column)
                assert not _json_container(value), (view, column, value)


TRIALS = """\
destinations:
  team:
    kind: terminal
defaults:
  destinations: [team]
  lookback_days: 30
queries:
  - id: trials
    condition: Depression trials
    sources:
      clinicaltrials:
        condition: depression OR "treatment resistant depression"
        intervention: ketamine OR esketamine
"""


def test_a_trial_is_found_by_its_summary_and_its_change_reads_plainly(env):
    """A real ClinicalTrials.gov record (relabelled a ketamine trial) through the local
    registry: found by a word of its summary; its status change, once told, reads in
    events_readable as the digest says it."""
    with CtgovServer() as ctgov:
        ctgov.add_study(ketamine_trial("NCT09000001", status="RECRUITING"),
                        updated=days_ago(3))
        env.write_queries(TRIALS)
        url = {"WATCHER_CTGOV_URL": ctgov.url}
        assert env.cli("run", "--once", **url).exit_code == 0

        def complete(data):
            data["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"

        ctgov.update("NCT09000001", complete, updated=days_ago(0))
        assert env.cli("run", "--once", **url).exit_code == 0
    (trial,) = json.loads(env.cli("search", "counsellors", "--json").stdout)["studies"]
    assert trial["kind"] == "trial" and trial["ids"]["nct"] == "NCT09000001"
    assert trial["conditions"] == ["trials"]
    store = env.store()
    (change,) = store.db.query("SELECT * FROM events_readable WHERE kind = 'trial_changed'")
    assert change["study_title"] == "Ketamine trial NCT09000001"
    assert "Recruiting → Completed" in change["changes"], change
    assert change["conditions"] == "trials" and change["delivered"].startswith("team sent ")


def test_an_unknown_condition_is_one_clear_line_not_an_empty_answer(polled):
    """A mistyped --condition ('Mood disorder') must not read as "nothing was ever found"."""
    result = polled.cli("search", "ketamine", "--condition", "Mood disorder")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == ("error: unknown condition 'Mood disorder' (known: Everything in "
                             "the corpus, Mood disorders; or a query id: everything, mood)\n")
    # a query id kept in the database but gone from the YAML is still known
    polled.write_queries(QUERIES.split("  - id: mood")[0])
    assert pmids(polled.cli("search", "Krystal", "--condition", "mood", "--json")) == [KETAMINE]


def test_a_column_filter_looks_in_that_column_only(polled):
    """`title:word` (and abstract:, authors:, journal:, conditions:) as in FTS5: a reviewer
    looking for an author's papers, not papers citing the name; an unknown column is words."""
    assert pmids(polled.cli("search", "authors:Krystal", "--json")) == [KETAMINE]
    assert pmids(polled.cli("search", "title:Krystal", "--json")) == []
    assert pmids(polled.cli("search", "title:neurobiology authors:krystal", "--json")) == [
        KETAMINE]
    assert pmids(polled.cli("search", "Title:ketamine*", "--json")) == pmids(
        polled.cli("search", "title:ketamine*", "--json"))
    assert polled.cli("search", "nocolumn:ketamine").exit_code == 0


def test_a_study_shows_the_conditions_of_the_queries_that_kept_it(env, corpus_server):
    """A new study's conditions are written with it (the query storing it names them), then
    re-derived from the matches: a study the storing query's filters exclude shows none (or
    only the other query's), and is not found under that query's condition."""
    env.write_queries(QUERIES.replace(
        "        terms: all[sb]\n",
        "        terms: all[sb]\n    filters:\n"
        "      exclude_publication_types: [Journal Article]\n", 1))
    assert env.cli("run", "--once").exit_code == 0
    store = env.store()
    shown = {row[0]: row[1] for row in store.conn.execute(
        "SELECT i.value, s.conditions FROM studies s JOIN study_ids i ON i.study_id = s.id"
        " AND i.scheme = 'pmid'")}
    assert shown[KETAMINE] == "mood" and shown[THYROID_STORM] is None
    assert THYROID_STORM not in [h.ids.get("pmid") for h in store.search("everything")]
    assert KETAMINE in [h.ids.get("pmid") for h in store.search("mood")]
    store.close()
