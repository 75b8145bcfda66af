"""`watcher validate --online`: each query's PubMed search is run once and its health shown."""

from __future__ import annotations

from tests.helpers import QUERIES_YAML
from watcher.fakes.eutils import ESEARCH_DOCTYPE
from watcher.parsers.pubmed import parse_esearch


def test_a_phrase_pubmed_does_not_find_is_a_warning_naming_the_query_and_the_phrase(
        env, corpus_server):
    env.write_queries(QUERIES_YAML)
    corpus_server.phrases_not_found = {"social anxiety"}
    result = env.cli("validate", "--online")
    assert result.exit_code == 0, result.stderr
    assert "warning: query anxiety: phrase not found: social anxiety" in result.stderr
    assert "query everything" not in result.stderr, "only the query that used the phrase"
    assert "- everything: 19 record(s) in the last 30 days" in result.stdout
    assert "PubMed read it as: (all[sb])" in result.stdout
    assert [c["datetype"] for c in corpus_server.calls("esearch")] == ["edat"] * 3
    assert not corpus_server.calls("efetch"), "a check fetches no record"


def test_validate_without_online_sends_nothing(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    assert env.cli("validate").exit_code == 0
    assert not corpus_server.requests


def test_every_warning_pubmed_gives_names_the_query_and_a_failed_search_exits_1(
        env, corpus_server):
    env.write_queries(QUERIES_YAML)
    corpus_server.phrases_not_found = {"Depression", "ketamine"}
    warned = env.cli("validate", "--online")
    assert warned.exit_code == 0, "warnings alone do not fail the check"
    lines = warned.stderr.splitlines()
    assert "warning: query depression: phrase not found: Depression" in lines
    assert "warning: query anxiety: phrase not found: ketamine" in lines
    assert not any("query everything" in line for line in lines)

    corpus_server.fail_next(400, body="<ERROR>bad request</ERROR>", endpoint="esearch")
    failed = env.cli("validate", "--online")
    assert failed.exit_code == 1, failed.output
    assert "- everything: could not search:" in failed.stdout
    assert "- depression: " in failed.stdout and "- anxiety: " in failed.stdout, "others go on"


def test_pubmed_warning_list_items_become_warnings():
    """What PubMed puts in ErrorList and WarningList reaches validate and the receipt."""
    xml = ('<?xml version="1.0" encoding="UTF-8" ?>\n' + ESEARCH_DOCTYPE + "\n<eSearchResult>"
           "<Count>0</Count><RetMax>0</RetMax><RetStart>0</RetStart><IdList/><TranslationSet/>"
           "<QueryTranslation>x</QueryTranslation><ErrorList><PhraseNotFound>zzq</PhraseNotFound>"
           "<FieldNotFound>tiabx</FieldNotFound></ErrorList><WarningList>"
           "<PhraseIgnored>of</PhraseIgnored><QuotedPhraseNotFound>\"qq zz\"</QuotedPhraseNotFound>"
           "<OutputMessage>No items found.</OutputMessage></WarningList></eSearchResult>")
    assert parse_esearch(xml.encode()).warnings == [
        "phrase not found: zzq", "field not found: tiabx", "phrase ignored: of",
        'quoted phrase not found: "qq zz"']
