"""The HTTP layer: backoff and Retry-After (seconds and HTTP dates), dead hosts remembered,
timeouts, secrets kept out of error text, redirects followed only on the same host."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from watcher.errors import SourceError
from watcher.http import HttpClient, RateLimiter, RetryPolicy


class Scripted:
    """A tiny HTTP server answering from a script of (status, headers, body, delay)."""

    def __init__(self, script):
        self.script = list(script)
        self.hits = 0
        self.seen: list[str] = []  # "METHOD path body" of each request, as received
        self.auth: list[str | None] = []  # the Authorization header of each request
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.do_GET()

            def do_GET(self):  # noqa: N802
                outer.hits += 1
                received = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.seen.append(f"{self.command} {self.path} {received.decode()}".strip())
                outer.auth.append(self.headers.get("Authorization"))
                status, headers, body, delay = outer.script.pop(0) if outer.script else (
                    200, {}, b"ok", 0)
                time.sleep(delay)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"http://{self.host}/x"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted():
    servers = []

    def make(script):
        servers.append(Scripted(script))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_backoff_doubles_and_retry_after_wins(scripted):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server = scripted([(503, {}, b"", 0), (502, {}, b"", 0), (429, {"Retry-After": "7"}, b"", 0),
                       (429, {"Retry-After": when}, b"", 0), (200, {}, b"fine", 0)])
    waits = []
    client = HttpClient(retry=RetryPolicy(attempts=5, backoff=1.5), sleep=waits.append)
    assert client.get(server.url).text == "fine"
    assert waits[:3] == [1.5, 3.0, 7.0]
    assert 27 <= waits[3] <= 30


def test_retry_after_longer_than_we_wait_fails_now(scripted):
    server = scripted([(429, {"Retry-After": "3600"}, b"", 0)])
    client = HttpClient(retry=RetryPolicy(max_wait=60), sleep=lambda s: None)
    with pytest.raises(SourceError, match="asked us to wait 3600s"):
        client.get(server.url, service="PubMed")


def test_client_errors_are_not_retried(scripted):
    server = scripted([(404, {}, b"<html>not here</html>", 0)])
    client = HttpClient(sleep=lambda s: None)
    with pytest.raises(SourceError, match=r"answered HTTP 404$"):
        client.get(server.url)
    assert server.hits == 1


def test_a_dead_host_is_tried_twice_then_remembered(unused_port):
    waits = []
    client = HttpClient(retry=RetryPolicy(backoff=0.01), sleep=waits.append)
    url = f"http://127.0.0.1:{unused_port}/"
    with pytest.raises(SourceError, match="connection refused"):
        client.get(url, service="PubMed")
    assert client.requests == 2
    with pytest.raises(SourceError, match=f"could not reach PubMed \\(127.0.0.1:{unused_port}\\)"):
        client.get(url, service="PubMed")
    assert client.requests == 2, "no new connection attempts to a host known to be down"



def test_a_dead_host_two_services_share_is_named_as_each_service_asking(unused_port):
    """Europe PMC's look-up after Crossref's, both through one (down) mirror: each failure names
    the service that asked, not the one that found the host down."""
    client = HttpClient(retry=RetryPolicy(backoff=0.01), sleep=lambda s: None)
    url = f"http://127.0.0.1:{unused_port}/"
    with pytest.raises(SourceError, match="could not reach Crossref"):
        client.get(url + "works", service="Crossref")
    with pytest.raises(SourceError) as caught:
        client.get(url + "search", service="Europe PMC")
    assert str(caught.value).startswith(f"could not reach Europe PMC (127.0.0.1:{unused_port})")
    assert "Crossref" not in str(caught.value)
    assert client.requests == 2, "still no new connection attempt to a host known to be down"

def test_timeout_is_reported_with_the_host(scripted):
    server = scripted([(200, {}, b"late", 2)] * 2)
    client = HttpClient(timeout=0.3, retry=RetryPolicy(attempts=2, backoff=0.01),
                        sleep=lambda s: None)
    with pytest.raises(SourceError, match=r"no answer from .*127\.0\.0\.1.* within 0\.3s"):
        client.get(server.url)


def test_secrets_never_appear_in_error_text(scripted):
    server = scripted([(403, {}, b'{"error":"denied for token xoxb-secret-1","api-key":"k"}', 0)])
    client = HttpClient(sleep=lambda s: None, secrets=("xoxb-secret-1",))
    with pytest.raises(SourceError) as caught:
        client.get(server.url)
    assert "xoxb-secret-1" not in str(caught.value)
    assert '"api-key":"***"' in str(caught.value)


def test_a_redirect_to_another_host_is_refused_and_sends_it_nothing(scripted):
    other = scripted([])
    origin = scripted([(307, {"Location": f"{other.url}?api_key=KEY-4242"}, b"", 0),
                       (302, {"Location": other.url}, b"", 0)])
    http = HttpClient(retry=RetryPolicy(backoff=0.01), sleep=lambda s: None,
                      secrets=("KEY-4242",))
    expected = (f"PubMed ({origin.host}) redirected to http://{other.host}: not followed (a "
                "redirect is followed only on the same host and scheme)")
    with pytest.raises(SourceError) as caught:  # the form NCBI_API_KEY and e-mail travel in
        http.post(origin.url, data={"api_key": "KEY-4242", "email": "me@example.org",
                                    "term": "ketamine"}, service="PubMed")
    assert str(caught.value) == expected
    with pytest.raises(SourceError) as caught:  # a key in the query string
        http.get(origin.url, params={"api_key": "KEY-4242"}, service="PubMed")
    assert str(caught.value) == expected
    assert other.hits == 0, "the other host never received a request, key or e-mail"
    assert origin.hits == 2, "each refused at once, not retried"


def test_a_redirect_from_one_scheme_to_another_is_refused(scripted):
    origin = scripted([(301, {"Location": "https://127.0.0.1:1/x"}, b"", 0)])
    with pytest.raises(SourceError, match=r"redirected to https://127\.0\.0\.1:1: not "
                                          "followed"):
        HttpClient(sleep=lambda s: None).get(origin.url, service="PubMed")


def test_a_redirect_on_the_same_host_is_followed(scripted):
    server = scripted([(307, {"Location": "/moved"}, b"", 0), (200, {}, b"here", 0),
                       (303, {"Location": "/result?id=1"}, b"", 0), (200, {}, b"result", 0)])
    http = HttpClient(sleep=lambda s: None)
    # 307 repeats the POST with its form; 303 asks for the result with a GET.
    assert http.post(server.url, data={"term": "ketamine"}).text == "here"
    assert http.post(server.url, data={"term": "ketamine"}).text == "result"
    assert server.seen == ["POST /x term=ketamine", "POST /moved term=ketamine",
                           "POST /x term=ketamine", "GET /result?id=1"]
    # A base URL's user info still signs in after a redirect to an absolute URL of its host.
    server.script = [(302, {"Location": f"http://{server.host}/moved"}, b"", 0),
                     (200, {}, b"signed in", 0)]
    assert http.get(f"http://alice:pw@{server.host}/x").text == "signed in"
    assert server.auth[-2:] == ["Basic YWxpY2U6cHc="] * 2


def test_a_redirect_without_a_location_is_one_line_and_not_followed(scripted):
    # A 302 naming nowhere (a misconfigured proxy, a maintenance page) used to end the poll
    # with "unexpected KeyError: 'Location'" and a traceback.
    server = scripted([(302, {}, b"moved", 0), (300, {"Location": "/x"}, b"choose", 0)])
    http = HttpClient(retry=RetryPolicy(backoff=0.01), sleep=lambda s: None)
    with pytest.raises(SourceError) as caught:
        http.get(server.url, service="ClinicalTrials.gov")
    assert str(caught.value) == f"ClinicalTrials.gov ({server.host}) answered HTTP 302: moved"
    with pytest.raises(SourceError, match=r"answered HTTP 300: choose$"):
        http.get(server.url, service="ClinicalTrials.gov")
    assert server.hits == 2, "neither retried nor followed"


def test_a_redirect_loop_on_the_same_host_stops(scripted):
    server = scripted([(302, {"Location": "/x"}, b"", 0)] * 10)
    with pytest.raises(SourceError, match=r"^PubMed \(127\.0\.0\.1:\d+\): more than 5 "
                                          r"redirects; stopped$"):
        HttpClient(sleep=lambda s: None).get(server.url, service="PubMed")
    assert server.hits == 6


def test_rate_limiter_spaces_calls_from_many_threads():
    clock = [0.0]
    waits = []
    limiter = RateLimiter(4, clock=lambda: clock[0], sleep=waits.append, margin=0)
    for _ in range(5):
        limiter.acquire()
    assert waits == pytest.approx([0.25, 0.5, 0.75, 1.0])


def _sends(limiter_for, arrivals: list[float]) -> list[float]:
    """When calls asking at *arrivals* (seconds, one after another) are let through."""
    clock, sent = [0.0], []

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    limiter = limiter_for(clock=lambda: clock[0], sleep=sleep)
    for at in arrivals:
        clock[0] = max(clock[0], at)
        limiter.acquire()
        sent.append(clock[0])
    return sent


def test_a_per_second_limiter_lets_the_rate_go_together_and_never_more_in_a_second():
    sent = _sends(lambda **kw: RateLimiter(3, per_second=True, **kw), [0.0] * 7)
    assert sent == pytest.approx([0, 0, 0, 1.1, 1.1, 1.1, 2.2])
    # calls arriving at any times: no window of 1.1 s ever holds a fourth
    arrivals = [0.0, 0.05, 0.3, 0.31, 0.9, 1.0, 1.2, 2.0, 2.05, 2.1, 2.15, 4.0, 4.0, 5.05]
    sent = _sends(lambda **kw: RateLimiter(3, per_second=True, **kw), arrivals)
    assert all(later - sent[n] >= 1.1 - 1e-9 for n, later in enumerate(sent[3:]))
    assert sent == sorted(sent) and all(s >= a for s, a in zip(sent, arrivals, strict=True))
    assert sent[:3] == arrivals[:3], "the first three go when asked"


def test_a_per_second_limiter_below_one_a_second_spaces_calls_evenly():
    sent = _sends(lambda **kw: RateLimiter(0.5, per_second=True, margin=0, **kw), [0.0] * 3)
    assert sent == pytest.approx([0, 2, 4])


def test_slowing_a_per_second_limiter_spaces_every_later_call():
    clock, waits = [0.0], []
    limiter = RateLimiter(10, per_second=True, clock=lambda: clock[0], sleep=waits.append)
    limiter.acquire()
    limiter.acquire()
    limiter.slow_to(0.5)
    limiter.acquire()
    limiter.acquire()
    assert waits == pytest.approx([0.5, 1.0])


def test_a_per_second_limiter_at_a_fractional_rate_never_lets_more_than_it_in_a_second():
    """WATCHER_NCBI_RATE=2.5 (a share of an API key): two go together, never a third within
    1.1 s. Spacing the pairs 2 / 2.5 s apart let four through in 0.88 s."""
    sent = _sends(lambda **kw: RateLimiter(2.5, per_second=True, **kw), [0.0] * 6)
    assert all(later - sent[n] >= 1.1 - 1e-9 for n, later in enumerate(sent[2:]))
    assert sent[:2] == [0.0, 0.0]
