"""The PubMed source against the local E-utilities server: paging, windows past the 9,999-id
limit, and NCBI's request rate held across every query of a run."""

from __future__ import annotations

from datetime import date

import pytest

from tests.helpers import QUERIES_YAML, days_ago
from watcher import pipeline
from watcher.errors import ConfigError, SourceError
from watcher.fakes.eutils import ESEARCH_DOCTYPE
from watcher.settings import Settings
from watcher.sources.base import FetchContext, Window
from watcher.sources.pubmed import PubMedSource, ncbi_rate


def source_for(env, **kwargs) -> tuple[PubMedSource, object]:
    settings = env.settings(NCBI_API_KEY="test-key")
    http = pipeline.client_for(settings)
    return PubMedSource(settings.source("pubmed"), http, **kwargs), http


def everything(env):
    env.write_queries(QUERIES_YAML)
    return env.config().query("everything").search("pubmed")


def test_pages_through_esearch_with_retstart(env, corpus_server):
    source, http = source_for(env, page_size=5)
    result = source.fetch(everything(env), Window(days_ago(30), days_ago(0)),
                          FetchContext(lambda scheme, ids: set()))
    http.close()
    assert len(result.matched) == len(set(result.matched)) == 19
    starts = [int(c["retstart"]) for c in corpus_server.calls("esearch")
              if c["datetype"] == "edat"]  # (then the same pages by modification date)
    assert starts == [0, 5, 10, 15]
    assert {r.study.ids["pmid"] for r in result.records} == set(result.matched)


def test_windows_over_the_esearch_limit_are_split_by_date(env, corpus_server):
    corpus_server.max_results = 8  # the server refuses to page past 8 ids, like 9,999 upstream
    source, http = source_for(env, search_limit=8)
    result = source.fetch(everything(env), Window(days_ago(30), days_ago(0)),
                          FetchContext(lambda scheme, ids: set()))
    http.close()
    assert len(set(result.matched)) == 19, "nothing lost beyond the limit"
    windows = [(c["mindate"], c["maxdate"]) for c in corpus_server.calls("esearch")]
    assert len(windows) > 3 and all(int(c.get("retstart", 0)) < 8
                                    for c in corpus_server.calls("esearch"))


def test_a_single_day_over_the_limit_fails_loudly(env, server):
    for n in range(3):
        from tests.helpers import PUBMED_FILES

        server.add_files([PUBMED_FILES[n]], entry_date=date(2026, 1, 5))
    source, http = source_for(env, search_limit=2)
    with pytest.raises(SourceError, match="were entered on 2026-01-05 for one query"):
        source.fetch(everything(env), Window(date(2026, 1, 5), date(2026, 1, 5)),
                     FetchContext(lambda scheme, ids: set()))
    http.close()


def test_an_esearch_listing_far_more_ids_than_its_count_fails(env, server):
    ids = "".join(f"<Id>{40000000 + n}</Id>" for n in range(30))
    server.fail_next(200, endpoint="esearch", body=(
        f'<?xml version="1.0" encoding="UTF-8" ?>\n{ESEARCH_DOCTYPE}\n'
        f"<eSearchResult><Count>2</Count><RetMax>30</RetMax><RetStart>0</RetStart>"
        f"<IdList>{ids}</IdList></eSearchResult>"))
    source, http = source_for(env)
    with pytest.raises(SourceError, match=r"^PubMed esearch listed 30 ids for .*, more than "
                                          r"the 2 of its count; stopped$"):
        source.fetch(everything(env), Window(days_ago(30), days_ago(0)),
                     FetchContext(lambda scheme, ids: set()))
    http.close()
    assert server.calls("efetch") == [], "none of them fetched"


@pytest.mark.parametrize("key, limit", [("", 3), ("test-key", 10)])
def test_ncbi_rate_limit_holds_across_all_queries_of_a_run(env, corpus_server, key, limit):
    corpus_server.rate_limit = 3  # the server answers NCBI's real 429 body beyond the limit
    corpus_server.keyed_rate_limit = 10
    env.write_queries(QUERIES_YAML)
    settings = env.settings(NCBI_API_KEY=key, WATCHER_NCBI_RATE="")
    store = env.store()
    report = pipeline.poll(env.config(), store, settings)
    assert not report.failures
    assert corpus_server.throttled == 0, "never over NCBI's limit"
    times = [t for t, _, _ in corpus_server.requests]
    assert len(times) >= 4
    for i in range(len(times) - limit):
        assert times[i + limit] - times[i] >= 0.95, "no more than `limit` requests per second"


def test_a_raised_ncbi_rate_applies_to_a_local_e_utilities_only():
    """WATCHER_NCBI_RATE lets a local mirror (or the demo's replay) go faster, never NCBI's
    own servers: a client above 3 requests/s (10 with a key) is blocked there."""
    def rate(**env: str) -> float:
        return ncbi_rate(Settings.from_env(env).source("pubmed"))

    assert rate() == 3 and rate(NCBI_API_KEY="k") == 10
    assert rate(WATCHER_NCBI_RATE="50") == 3, "NCBI's limit wins at NCBI"
    assert rate(WATCHER_NCBI_RATE="50", NCBI_API_KEY="k") == 10
    assert rate(WATCHER_NCBI_RATE="50",
                WATCHER_EUTILS_URL="https://EUTILS.ncbi.nlm.nih.gov/entrez/eutils/") == 3
    assert rate(WATCHER_NCBI_RATE="1") == 1, "gentler than NCBI asks is fine"
    assert rate(WATCHER_NCBI_RATE="50", WATCHER_EUTILS_URL="http://127.0.0.1:8080/") == 50
    with pytest.raises(ConfigError, match="WATCHER_NCBI_RATE='fast' is not a number"):
        Settings.from_env({"WATCHER_NCBI_RATE": "fast"})


@pytest.mark.hostile
@pytest.mark.parametrize("url", [
    "https://eutils.ncbi.nlm.nih.gov./entrez/eutils/",  # the fully qualified name: same server
    "https://EUTILS.NCBI.NLM.NIH.GOV../entrez/eutils/",
])
def test_ncbi_s_own_host_written_with_a_trailing_dot_keeps_ncbi_s_cap(url):
    """A trailing dot names the same NCBI host (DNS resolves it alike): a raised
    WATCHER_NCBI_RATE must not get past NCBI's 3 requests/s with it."""
    settings = Settings.from_env({"WATCHER_NCBI_RATE": "1e9", "WATCHER_EUTILS_URL": url})
    assert ncbi_rate(settings.source("pubmed")) == 3


@pytest.mark.hostile
def test_a_look_alike_host_is_not_ncbi_and_hostile_rates_are_refused():
    """eutils.ncbi.nlm.nih.gov.evil.example is another server (its own rate applies); inf, nan,
    negative and zero rates are configuration errors, never a limiter that crashes."""
    from watcher.errors import ConfigError

    evil = "https://eutils.ncbi.nlm.nih.gov.evil.example/"
    assert ncbi_rate(Settings.from_env({"WATCHER_NCBI_RATE": "50",
                                        "WATCHER_EUTILS_URL": evil}).source("pubmed")) == 50
    for value in ("inf", "nan", "-1", "0", "1e999"):
        with pytest.raises(ConfigError, match="WATCHER_NCBI_RATE"):
            Settings.from_env({"WATCHER_NCBI_RATE": value})
