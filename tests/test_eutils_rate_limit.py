"""The local E-utilities server's NCBI rate limit, which benchmarks/bench_requests.py counts on:
beyond 3 requests in a second (10 with an api_key) it answers 429 with NCBI's real body, and a
poll caught in it waits, retries and still stores everything."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.helpers import EVERYTHING, FIXTURES
from watcher import pipeline

NCBI_429 = json.loads((FIXTURES / "ncbi_biomcp/esummary_429_rate_limit_body.json").read_text())


def _esearch(url: str, key: str | None = None) -> tuple[int, bytes]:
    query = "esearch.fcgi?db=pubmed&term=all%5Bsb%5D" + (f"&api_key={key}" if key else "")
    try:
        with urllib.request.urlopen(url + query, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_over_the_rate_the_server_answers_429_with_ncbis_body(server):
    server.rate_limit, server.keyed_rate_limit = 3, 10
    unkeyed = [_esearch(server.url) for _ in range(4)]
    assert [status for status, _ in unkeyed] == [200, 200, 200, 429]
    body = json.loads(unkeyed[-1][1])
    assert body.keys() == NCBI_429.keys()
    assert (body["error"], body["count"], body["limit"]) == ("API rate limit exceeded", "4", "3")
    assert server.throttled == 1
    server.requests.clear()  # a keyed client is allowed ten a second
    keyed = [_esearch(server.url, "k") for _ in range(11)]
    assert [status for status, _ in keyed] == [200] * 10 + [429]
    assert json.loads(keyed[-1][1])["limit"] == "10"


def test_a_poll_caught_by_the_limit_waits_and_still_stores_everything(env, corpus_server):
    env.write_queries(EVERYTHING)
    settings = env.settings(NCBI_API_KEY="", WATCHER_NCBI_RATE="", WATCHER_RETRY_BACKOFF="0.5")
    store, config = env.store(), env.config()
    corpus_server.rate_limit = 3
    for _ in range(4):  # someone else's burst: the poll's first request is over the limit
        _esearch(corpus_server.url)
    report = pipeline.poll(config, store, settings)
    assert not report.failures, report.error_lines()
    assert corpus_server.throttled >= 2, "the poll itself was answered 429 at least once"
    assert report.outcomes[0].new == len(corpus_server.records)
    stored = store.known_ids("pmid", list(corpus_server.records))
    assert stored == set(corpus_server.records)
