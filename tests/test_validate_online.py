"""`watcher validate --online`: each query's PubMed search is run once and its health shown."""

from __future__ import annotations

from tests.conftest import QUERIES_YAML


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
