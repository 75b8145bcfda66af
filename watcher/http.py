"""The project's own HTTP layer: timeouts, a shared per-service rate limit, retries with backoff
that honour Retry-After, and one-line errors that name the host but never a secret.

Every source goes through :class:`HttpClient`; nothing else in the package opens sockets.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import httpx

from . import __version__
from .errors import SourceError
from .redact import scrub

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO, query string (and so api_key) included.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

RETRY_STATUSES = {429, 500, 502, 503, 504}


class RateLimiter:
    """At most *rate* calls per second, shared by every thread that holds this limiter."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, margin: float = 0.1):
        # A small margin: requests spaced exactly 1/rate apart still land `rate + 1` in one
        # second on the server's clock once network jitter is added.
        self.interval = (1.0 + margin) / rate
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            wait = self._next - now
            self._next = max(now, self._next) + self.interval
        if wait > 0:
            self._sleep(wait)


@dataclass
class RetryPolicy:
    attempts: int = 4  # total tries for 429/5xx and connection failures
    backoff: float = 2.0  # first wait in seconds; doubles each retry
    max_wait: float = 120.0  # longest wait we accept, Retry-After included


class _DeadlineExceeded(Exception):
    """The answer did not arrive in full before the request's deadline."""


class _Remaining(dict):
    """httpx's timeout extension ({connect, read, write, pool}) whose every value is capped, at
    the moment httpcore looks it up (once per phase), by what is left of *deadline*."""

    def __init__(self, deadline: float, timeout: float):
        super().__init__(connect=timeout, read=timeout, write=timeout, pool=timeout)
        self.deadline = deadline

    def get(self, key: str, default: float | None = None) -> float | None:
        try:
            return self[key]
        except KeyError:
            return default

    def __getitem__(self, key: str) -> float:
        left = self.deadline - time.monotonic()
        return max(0.001, min(super().__getitem__(key), left))


class HttpClient:
    """One shared client per run; remembers hosts that could not be reached, or that did not
    answer in time twice in a row, so that twenty queries against a dead or hung host fail in
    one or two attempts, not twenty rounds of retries.

    *timeout* is a deadline for each attempt as a whole (connect, headers and the entire
    body), not per socket read: a server trickling one byte at a time is abandoned too.
    """

    def __init__(self, timeout: float = 30.0, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, secrets: tuple[str, ...] = ()):
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.secrets = tuple(s for s in secrets if s)
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": f"watcher/{__version__} (literature monitoring bot)"},
            follow_redirects=True,
        )
        self._lock = threading.Lock()
        self._unreachable: dict[str, str] = {}
        self._timeouts: dict[str, int] = {}  # consecutive timeouts per host
        self.requests = 0
        self.counts: dict[str, int] = {}  # requests (retries included) per service or host

    def close(self) -> None:
        """Close the connections; the run's request count per service goes to the debug log
        (`watcher --debug run --once`), since NCBI's limits are counted in requests."""
        if self.counts and not self._client.is_closed:
            log.debug("HTTP requests this run: %s",
                      ", ".join(f"{name} {count}" for name, count in self.counts.items()))
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, url: str, *, params: dict | None = None,
                data: dict | None = None, limiter: RateLimiter | None = None,
                service: str = "") -> httpx.Response:
        """Send a request and return a 2xx response, or raise SourceError with one line."""
        host, secrets = self._host_and_secrets(url)
        label = f"{service} ({host})" if service else host
        if host in self._unreachable:
            raise SourceError(self._unreachable[host])
        last_problem = ""
        for attempt in range(1, self.retry.attempts + 1):
            if limiter:
                limiter.acquire()
            with self._lock:
                self.requests += 1
                key = service or host
                self.counts[key] = self.counts.get(key, 0) + 1
            try:
                response = self._send(method, url, params=params, data=data)
            except (httpx.TimeoutException, _DeadlineExceeded):
                last_problem = f"no answer from {label} within {self.timeout:g}s"
                wait = self._backoff(attempt)
                if self._timed_out(host) >= 2:
                    # Twice in a row without an answer: hung, not just slow once. Later
                    # requests fail at once instead of each waiting out more deadlines.
                    self._unreachable[host] = last_problem
                    raise SourceError(last_problem) from None
            except httpx.ConnectError as exc:  # refused, no route, DNS: the host is down
                last_problem = f"could not reach {label}: {_reason(exc, secrets)}"
                wait = self._backoff(attempt)
                if attempt >= min(2, self.retry.attempts):
                    self._unreachable[host] = last_problem
                    raise SourceError(last_problem) from None
            except httpx.TransportError as exc:  # dropped mid-answer: retry like a 5xx
                self._answered(host)
                last_problem = f"connection to {label} failed: {_reason(exc, secrets)}"
                wait = self._backoff(attempt)
            except httpx.InvalidURL:
                raise SourceError(f"{label}: invalid URL") from None
            except httpx.HTTPError as exc:  # undecodable body, too many redirects, ...
                raise SourceError(f"{label}: {_reason(exc, secrets)}") from None
            else:
                self._answered(host)
                if response.is_success:
                    return response
                hint = _body_hint(response, secrets)
                if response.status_code not in RETRY_STATUSES:
                    raise SourceError(f"{label} answered HTTP {response.status_code}{hint}")
                last_problem = f"{label} answered HTTP {response.status_code}{hint}"
                wait = _retry_after(response)
                if wait is None:
                    wait = self._backoff(attempt)
                elif wait > self.retry.max_wait:
                    raise SourceError(f"{last_problem}; it asked us to wait {wait:.0f}s, "
                                      "longer than we wait within one run")
            if attempt < self.retry.attempts:
                log.info("%s; retry %d of %d in %.1fs", last_problem, attempt,
                         self.retry.attempts - 1, wait)
                self._sleep(wait)
        raise SourceError(f"{last_problem} (gave up after {self.retry.attempts} attempts)")

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def _send(self, method: str, url: str, *, params: dict | None,
              data: dict | None) -> httpx.Response:
        """One attempt under one deadline, without signals (jobs may run in threads).

        httpx's timeouts apply to each connect and each read, so a trickling server never
        trips them: the body is streamed and the deadline checked between chunks, and every
        phase (pool, connect, send, headers, body) may wait at most what is left of it. A body
        that stalls just before the deadline can overrun it by at most one read."""
        deadline = time.monotonic() + self.timeout
        chunks: list[bytes] = []
        with self._client.stream(method, url, params=params, data=data,
                                 extensions={"timeout": _Remaining(deadline, self.timeout)}
                                 ) as response:
            for chunk in response.iter_raw():
                if time.monotonic() > deadline:
                    raise _DeadlineExceeded
                chunks.append(chunk)
            if time.monotonic() > deadline:
                raise _DeadlineExceeded
            # A plain response holding the body as received; httpx decodes any
            # content-encoding exactly as it would have for a request that was not streamed.
            return httpx.Response(response.status_code, headers=response.headers,
                                  content=b"".join(chunks), request=response.request,
                                  history=response.history, extensions=response.extensions)

    def _host_and_secrets(self, url: str) -> tuple[str, tuple[str, ...]]:
        """host:port without user info, and the secrets to scrub for this URL (its password
        included: a server may echo it back in a redirect or an error body)."""
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2] or scrub(url, self.secrets)[:100]
        if not parts.password:
            return host, self.secrets
        password = unquote(parts.password)
        basic = base64.b64encode(f"{unquote(parts.username or '')}:{password}".encode()).decode()
        return host, (*self.secrets, parts.password, password, basic)

    def _timed_out(self, host: str) -> int:
        with self._lock:
            self._timeouts[host] = self._timeouts.get(host, 0) + 1
            return self._timeouts[host]

    def _answered(self, host: str) -> None:
        with self._lock:
            self._timeouts.pop(host, None)

    def _backoff(self, attempt: int) -> float:
        return min(self.retry.backoff * 2 ** (attempt - 1), self.retry.max_wait)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _reason(exc: Exception, secrets: tuple[str, ...] = ()) -> str:
    text = str(exc) or type(exc).__name__
    if "Name or service not known" in text or "Temporary failure in name resolution" in text \
            or "nodename nor servname" in text:
        return "host name could not be resolved (no network?)"
    if "Connection refused" in text:
        return "connection refused"
    return scrub(" ".join(text.split()), secrets)[:200]


def _body_hint(response: httpx.Response, secrets: tuple[str, ...] = ()) -> str:
    """A short excerpt of an error body (NCBI's JSON error, say) with secrets removed: NCBI
    echoes the caller's API key (or IP) in its 429 bodies."""
    try:
        text = response.text
    except Exception:  # undecodable body: no hint rather than a crash
        return ""
    text = " ".join(text.split())
    if not text or text.lower().startswith(("<!doctype html", "<html")):
        return ""
    return f": {scrub(text, secrets)[:160]}"
