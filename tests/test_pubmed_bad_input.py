"""Bad answers from E-utilities, each against the local server through the real CLI: a poll
either completes or fails with one clear line, nothing of it stored and its window kept.

Covered elsewhere and not repeated here: an <ERROR> from esearch and a 500 that never clears
(test_run.py), an empty PubmedArticleSet holding the window (test_run.py), the parser's own
handling of each body (test_pubmed_records.py, test_pubmed_parser.py)."""

from __future__ import annotations

import sqlite3

import Bio.Entrez.Parser as bio_parser
import pytest

from tests.helpers import FIXTURES, days_ago, renumbered

QUERY = """\
queries:
  - id: q0
    condition: Ketamine
    lookback_days: 30
    sources:
      pubmed:
        terms: ketamine[tiab]
"""
#: What a poll stores; a failed poll must leave every one of these as it was.
STORED = ("studies", "study_ids", "matches", "source_records", "record_versions", "quarantine",
          "events", "outbox", "id_conflicts")
HTML_PAGE = ("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad "
             "Gateway</h1><p>The proxy server received an invalid response.</p></body></html>")
RATE_LIMITED = (FIXTURES / "ncbi_biomcp/esummary_429_rate_limit_body.json").read_text()


def state(db) -> dict[str, list]:
    conn = sqlite3.connect(db)
    try:
        tables = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in STORED}
        tables["positions"] = conn.execute(
            "SELECT query_id, source, terms_hash, window_end, last_success FROM positions"
        ).fetchall()
        return tables
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """Biopython fetches a DTD it does not have from the internet: never here."""
    def refuse(url, *args, **kwargs):
        raise AssertionError(f"Biopython tried to download {url}")

    monkeypatch.setattr(bio_parser, "urlopen", refuse)


@pytest.fixture
def before(env, server) -> dict[str, list]:
    """One query polled once (5 records kept); 5 more entered today await the next poll."""
    server.add_synthetic(5, first_pmid=34_000_000, newest=days_ago(5), days=3)
    env.write_queries(QUERY)
    assert env.cli("poll").exit_code == 0
    server.add_synthetic(5, first_pmid=34_100_000, newest=days_ago(0), days=1)
    server.requests.clear()
    return state(env.db)


def new_records_with_dtd(server, dtd: str) -> str:
    ids = [str(34_100_000 + n) for n in range(5)]
    return server.efetch_xml(ids).decode().replace("pubmed_250101.dtd", dtd)


@pytest.mark.parametrize("case, message", [
    ("truncated", "PubMed efetch: malformed or truncated XML"),
    ("html", "PubMed efetch: response is not XML"),
    ("error", "PubMed efetch: E-utilities error: Neither query_key nor id specified"),
    ("foreign-dtd", "which this Biopython does not bundle"),
    ("hang", "no answer from PubMed (127.0.0.1:"),
])
def test_an_unusable_answer_fails_the_poll_in_one_line_and_stores_nothing(
        env, server, before, case, message):
    if case == "truncated":
        server.truncate_next("efetch")
    elif case == "html":  # a proxy's error page with status 200
        server.fail_next(200, endpoint="efetch", body=HTML_PAGE,
                         headers={"Content-Type": "text/html"})
    elif case == "error":  # a real E-utilities <ERROR> body
        server.fail_next(200, endpoint="efetch",
                         body=(FIXTURES / "biopython/esummary8.xml").read_text())
    elif case == "foreign-dtd":  # not a PubMed DTD: not pinned, and not downloaded either
        server.fail_next(200, endpoint="efetch", body=new_records_with_dtd(server, "other_1.dtd"))
    else:  # no answer within the deadline, twice: the host is given up for this run
        server.slow_next(1.5)
        server.slow_next(1.5)
    result = env.cli("poll", WATCHER_HTTP_TIMEOUT="0.5")
    assert result.exit_code == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: "), result.stderr
    assert message in errors[0]
    assert errors[0].endswith("(q0 not polled; window kept for the next run)")
    assert state(env.db) == before, "nothing stored and the window not moved"
    assert env.store().positions()[0].last_error


@pytest.mark.parametrize("case", ["429-no-retry-after", "500-once", "hang-once", "new-dtd"])
def test_a_passing_problem_ends_in_a_complete_poll(env, server, before, case):
    extra = {"WATCHER_HTTP_TIMEOUT": "0.5"}
    if case == "429-no-retry-after":  # NCBI's real body, no Retry-After: we pick the wait
        server.fail_next(429, endpoint="efetch", body=RATE_LIMITED,
                         headers={"Content-Type": "application/json"})
        extra["WATCHER_RETRY_BACKOFF"] = "0.5"
    elif case == "500-once":
        server.fail_next(500, endpoint="efetch", body="Internal Server Error")
    elif case == "hang-once":
        server.slow_next(1.5)
    else:  # a PubMed DTD newer than Biopython's: read with the newest bundled one
        server.fail_next(200, endpoint="efetch",
                         body=new_records_with_dtd(server, "pubmed_990101.dtd"))
    result = env.cli("poll", **extra)
    assert result.exit_code == 0, result.stderr
    assert "error" not in result.stderr
    assert "q0 / PubMed" in result.stdout and "5 new" in result.stdout
    assert env.store().count("studies") == 10
    assert env.store().positions()[0].window_end == days_ago(0).isoformat()
    fetches = [t for t, path, _ in server.requests if path.endswith("efetch.fcgi")]
    assert len(fetches) == (1 if case == "new-dtd" else 2)
    if case == "429-no-retry-after":
        assert fetches[1] - fetches[0] >= 0.5, "backed off on its own before asking again"


@pytest.mark.parametrize("ref_type", ["ErratumIn", "RetractionIn"])
def test_a_correction_link_to_a_pmid_never_seen_is_kept_and_nothing_more(env, server, ref_type):
    article = renumbered(FIXTURES / "pubmed_metapub/35649368.xml", "34200000")
    link = article.find("MedlineCitation/CommentsCorrectionsList/CommentsCorrections")
    link.set("RefType", ref_type)  # names PMID 35767954, which no query ever sees
    server.add_article(article, entry_date=days_ago(1))
    env.write_queries(QUERY.replace("ketamine[tiab]", "apoptosis[tiab]"))
    result = env.cli("poll")
    assert result.exit_code == 0 and result.stderr == ""
    assert "1 seen, 1 new, 1 queued" in result.stdout
    store = env.store()
    assert store.find_study({"pmid": "35767954"}) is None
    study = store.get_study(store.find_study({"pmid": "34200000"}))
    assert {"type": ref_type, "pmid": "35767954"} in [
        {k: c.get(k) for k in ("type", "pmid")} for c in study.details["corrections"]]
    kinds = [row[0] for row in store.conn.execute("SELECT kind FROM events")]
    assert kinds == ["new"], "an ordinary new study: no correction told, nothing set aside"
    assert env.cli("poll").exit_code == 0, "and the next poll is quiet"
