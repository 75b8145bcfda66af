"""The HTTP layer's time bounds against real misbehaving servers on 127.0.0.1: one deadline per
attempt for the whole answer (a trickling body is abandoned), hung hosts remembered after one
retry, and no user info or key in any error line or log line it writes."""

from __future__ import annotations

import base64
import gzip
import logging

import pytest

from watcher.errors import SourceError
from watcher.fakes.slowserver import SlowServer
from watcher.http import HttpClient, RetryPolicy


@pytest.fixture
def slow():
    servers: list[SlowServer] = []

    def make(script, **kwargs) -> SlowServer:
        servers.append(SlowServer(script, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def client(timeout: float = 0.5, **retry) -> HttpClient:
    return HttpClient(timeout=timeout, retry=RetryPolicy(**{"backoff": 0.01, **retry}),
                      sleep=lambda s: None)


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
