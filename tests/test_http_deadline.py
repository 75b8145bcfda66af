"""The HTTP layer's time and size bounds against real misbehaving servers on 127.0.0.1: one
deadline per attempt for the whole answer (a trickling body is abandoned), a deadline for a whole
poll, hung hosts remembered after one retry, a cap on an answer's size, and no user info or key
in any error line or log line it writes."""

from __future__ import annotations

import base64
import gzip
import logging
import tracemalloc
import zlib

import pytest

from tests.fakes.slowserver import SlowServer
from watcher.errors import SourceError
from watcher.http import HttpClient, RetryPolicy, client_for, poll_deadline
from watcher.settings import Settings


@pytest.fixture
def slow():
    servers: list[SlowServer] = []

    def make(script, **kwargs) -> SlowServer:
        servers.append(SlowServer(script, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def client(timeout: float = 0.5, max_bytes: int = 200_000_000, **retry) -> HttpClient:
    return HttpClient(timeout=timeout, retry=RetryPolicy(**{"backoff": 0.01, **retry}),
                      sleep=lambda s: None, max_bytes=max_bytes)


def test_a_trickling_body_is_abandoned_at_the_deadline(slow):
    # One byte every 0.05 s: each read is 10x faster than the timeout, so a per-read timeout
    # would wait the full 5 s for the 100 bytes and call it a success.
    server = slow(["trickle"], body=b"x" * 100, interval=0.05)
    http = client(timeout=0.5)
    with pytest.raises(SourceError) as caught:
        http.post(server.url, data={"db": "pubmed"}, service="PubMed")
    assert str(caught.value) == f"no answer from PubMed (127.0.0.1:{server.port}) within 0.5s"
    assert server.requests == 2, "one retry after a timeout, then the host is given up"


def test_a_hung_host_costs_one_retry_for_the_whole_run(slow):
    server = slow(["hang"])
    http = client(timeout=0.3, attempts=4)
    for _ in range(5):
        with pytest.raises(SourceError, match=rf"^no answer from PubMed \(127\.0\.0\.1:"
                                              rf"{server.port}\) within 0\.3s$"):
            http.get(server.url, service="PubMed")
    assert server.connections == 2, "5 queries against a hung host: 2 attempts, not 5 x 4"
    assert http.requests == 2


def test_one_slow_answer_is_retried_and_then_forgotten(slow):
    # Timeout, answer, timeout, answer: never two in a row, so the host is never given up.
    server = slow(["hang", "ok", "hang", "ok", "ok"], body=b"fine")
    http = client(timeout=0.3)
    assert http.get(server.url).text == "fine"
    assert http.get(server.url).text == "fine"
    assert http.get(server.url).text == "fine"
    assert server.connections == 5


def test_an_answer_within_the_deadline_is_returned_whole_and_decoded(slow):
    text = "<eSearchResult><Count>3</Count></eSearchResult>" * 2000
    server = slow(["ok"], body=gzip.compress(text.encode()),
                  headers={"Content-Encoding": "gzip", "Content-Type": "text/xml"})
    response = client(timeout=5).post(server.url, data={"term": "ketamine"}, service="PubMed")
    assert response.status_code == 200
    assert response.text == text
    # Only encodings the client undoes itself are asked for (never br or zstd, even when some
    # package installs their decoders into httpx).
    assert b"\r\naccept-encoding: gzip, deflate\r\n" in server.heads[0].lower() + b"\r\n"


def test_a_hung_host_inside_a_poll_fails_at_the_polls_deadline_without_retrying(slow):
    server = slow(["hang"])
    http = client(timeout=30)
    with poll_deadline(0.3), pytest.raises(SourceError) as caught:
        http.get(server.url, service="ClinicalTrials.gov")
    assert str(caught.value) == (f"ClinicalTrials.gov (127.0.0.1:{server.port}): the poll ran "
                                 "past its deadline (0.3s, WATCHER_POLL_TIMEOUT); stopped")
    assert server.connections == 1, "no retry once the poll's time is up"
    # The host is not given up for later polls: it was the poll's time that ran out.
    with poll_deadline(0.2), pytest.raises(SourceError, match="poll ran past its deadline"):
        http.get(server.url, service="ClinicalTrials.gov")
    assert server.connections == 2


def test_a_retry_that_would_outlast_the_polls_deadline_is_not_waited_for(slow):
    server = slow([503])
    waits: list[float] = []
    http = HttpClient(timeout=5, retry=RetryPolicy(backoff=30), sleep=waits.append)
    with poll_deadline(10), pytest.raises(SourceError) as caught:
        http.get(server.url, service="PubMed")
    assert str(caught.value) == (f"PubMed (127.0.0.1:{server.port}) answered HTTP 503: fine; "
                                 "no time left to retry within the poll's deadline (10s, "
                                 "WATCHER_POLL_TIMEOUT)")
    assert waits == [] and server.requests == 1


def test_an_answer_announcing_more_than_the_cap_is_refused_unread(slow):
    server = slow(["ok"], body=b"x" * 5000)
    with pytest.raises(SourceError) as caught:
        client(max_bytes=1000).get(server.url, service="ISRCTN")
    assert str(caught.value) == (f"ISRCTN (127.0.0.1:{server.port}): the answer is larger than "
                                 "1000 bytes (WATCHER_MAX_RESPONSE_MB); stopped reading it")
    assert server.requests == 1, "not retried: the same answer would come again"


def test_an_answer_without_end_stops_being_read_at_the_cap(slow):
    # No Content-Length and no end: before the cap, this was read until the deadline.
    server = slow(["flood"], body=b"<x>" * 1000)
    http = client_for(Settings.from_env({"WATCHER_MAX_RESPONSE_MB": "0.05",
                                        "WATCHER_HTTP_TIMEOUT": "10"}))
    with pytest.raises(SourceError) as caught:
        http.get(server.url, service="PubMed")
    assert str(caught.value) == (f"PubMed (127.0.0.1:{server.port}): the answer is larger than "
                                 "50000 bytes (WATCHER_MAX_RESPONSE_MB); stopped reading it")
    assert server.requests == 1


def test_a_small_compressed_answer_that_inflates_past_the_cap_is_stopped(slow):
    server = slow(["ok"], body=gzip.compress(b"x" * 2_000_000),
                  headers={"Content-Encoding": "gzip"})
    assert len(server.body) < 10_000
    with pytest.raises(SourceError, match=r"larger than 100000 bytes \(WATCHER_MAX_RESPONSE_MB\)"):
        client(max_bytes=100_000).get(server.url, service="PubMed")
    # Within the cap, the same answer is returned decoded.
    assert len(client(max_bytes=2_000_000).get(server.url).content) == 2_000_000


def _zeros(count: int, encoding: str) -> bytes:
    """*count* zero bytes compressed with *encoding*, made without holding them all."""
    packer = zlib.compressobj(9, zlib.DEFLATED,
                              zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
    block = bytes(1_000_000)
    return b"".join(packer.compress(block) for _ in range(count // len(block))) + packer.flush()


@pytest.mark.parametrize("encoding", ["gzip", "gzip, gzip", "deflate, gzip"])
def test_a_compression_bomb_never_inflates_far_past_the_cap(slow, encoding):
    # 200 MB of zeros, compressed once per listed encoding (the first applied first): twice
    # is about 1 KB on the wire. Each network chunk used to be inflated whole before the cap
    # was checked, so 1 KB became 200 MB in memory (`serve` killed for memory, not one line).
    first, *more = encoding.split(", ")
    body = _zeros(200_000_000, first)
    for layer in more:
        body = gzip.compress(body, 9) if layer == "gzip" else zlib.compress(body, 9)
    server = slow(["ok"], body=body, headers={"Content-Encoding": encoding})
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match=r"larger than 1 MB \(WATCHER_MAX_RESPONSE_MB\)"):
            client(timeout=30, max_bytes=1_000_000).get(server.url, service="PubMed")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, f"{peak:,} bytes held to refuse a 1 MB cap"


def test_an_answer_compressed_a_thousand_times_is_one_line_not_a_crash(slow):
    body = b"<eSearchResult/>"
    for _ in range(1000):
        body = gzip.compress(body, 1)
    server = slow(["ok"], body=body, headers={"Content-Encoding": ", ".join(["gzip"] * 1000)})
    with pytest.raises(SourceError) as caught:
        client(timeout=30).get(server.url, service="PubMed")
    assert str(caught.value) == (f"PubMed (127.0.0.1:{server.port}): the answer is compressed "
                                 "1000 times (at most 4 are undone)")
    assert server.requests == 1, "not retried: the same answer would come again"


def test_retries_on_5xx_still_back_off_and_count(slow):
    server = slow([503, 502, "ok"], body=b"later")
    waits: list[float] = []
    http = HttpClient(timeout=2, retry=RetryPolicy(backoff=0.5), sleep=waits.append)
    assert http.get(server.url).text == "later"
    assert waits == [0.5, 1.0]
    assert server.requests == 3


USER = "alice"
PASSWORD = "pw"


def test_user_info_never_appears_in_timeout_errors_or_logs(slow, caplog):
    caplog.set_level(logging.INFO, logger="watcher.http")
    server = slow(["hang"])
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:{server.port}/entrez/eutils/"
    http = client(timeout=0.3)
    messages = []
    for _ in range(2):  # the first failure and the remembered one
        with pytest.raises(SourceError) as caught:
            http.get(url, service="PubMed")
        messages.append(str(caught.value))
    assert messages[0] == f"no answer from PubMed (127.0.0.1:{server.port}) within 0.3s"
    assert caplog.text, "the retry was logged"
    for text in [*messages, caplog.text]:
        assert PASSWORD not in text and USER not in text


def test_user_info_never_appears_when_the_host_is_down(unused_port, caplog):
    caplog.set_level(logging.INFO, logger="watcher.http")
    http = client()
    with pytest.raises(SourceError) as caught:
        http.get(f"http://{USER}:{PASSWORD}@127.0.0.1:{unused_port}/", service="PubMed")
    assert str(caught.value) == (f"could not reach PubMed (127.0.0.1:{unused_port}): "
                                 "connection refused")
    assert PASSWORD not in caplog.text and USER not in caplog.text


def test_an_error_body_echoing_credentials_is_scrubbed(slow, caplog):
    caplog.set_level(logging.INFO, logger="watcher.http")
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    body = (f'{{"error":"denied http://{USER}:{PASSWORD}@127.0.0.1/x?api_key=KEY-98765",'
            f'"seen":"{basic}","token":"xoxb-111-222-abc"}}').encode()
    server = slow([503, 403], body=body)
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:{server.port}/"
    with pytest.raises(SourceError) as caught:
        HttpClient(retry=RetryPolicy(backoff=0.01), sleep=lambda s: None,
                   secrets=("KEY-98765",)).get(url, service="PubMed")
    message = str(caught.value)
    assert message.startswith(f"PubMed (127.0.0.1:{server.port}) answered HTTP 403: ")
    assert "denied http://***@127.0.0.1/x?api_key=***" in message, "still readable"
    for text in (message, caplog.text):
        for secret in (PASSWORD, basic, "KEY-98765", "xoxb-111"):
            assert secret not in text
    assert "answered HTTP 503" in caplog.text
