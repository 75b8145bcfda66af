"""The project's own HTTP layer: timeouts, a shared per-service rate limit, retries with backoff
that honour Retry-After, and one-line errors that name the host but never a secret.

Every source goes through :class:`HttpClient`; nothing else in the package opens sockets.
"""

from __future__ import annotations

import email.utils
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from . import __version__
from .errors import SourceError

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


class HttpClient:
    """One shared client per run; remembers hosts that could not be reached so that twenty
    queries against a dead host fail in one attempt, not twenty rounds of retries."""

    def __init__(self, timeout: float = 30.0, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, secrets: tuple[str, ...] = ()):
        self.retry = retry or RetryPolicy()
        self.secrets = tuple(s for s in secrets if s)
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": f"watcher/{__version__} (literature monitoring bot)"},
            follow_redirects=True,
        )
        self._unreachable: dict[str, str] = {}
        self.requests = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, url: str, *, params: dict | None = None,
                data: dict | None = None, limiter: RateLimiter | None = None,
                service: str = "") -> httpx.Response:
        """Send a request and return a 2xx response, or raise SourceError with one line."""
        host = urlsplit(url).netloc or url
        label = f"{service} ({host})" if service else host
        if host in self._unreachable:
            raise SourceError(self._unreachable[host])
        last_problem = ""
        for attempt in range(1, self.retry.attempts + 1):
            if limiter:
                limiter.acquire()
            self.requests += 1
            try:
                response = self._client.request(method, url, params=params, data=data)
            except httpx.TimeoutException:
                last_problem = f"no answer from {label} within {self._timeout():g}s"
                wait = self._backoff(attempt)
            except httpx.ConnectError as exc:  # refused, no route, DNS: the host is down
                last_problem = f"could not reach {label}: {_reason(exc)}"
                wait = self._backoff(attempt)
                if attempt >= min(2, self.retry.attempts):
                    self._unreachable[host] = last_problem
                    raise SourceError(last_problem) from None
            except httpx.TransportError as exc:  # dropped mid-answer: retry like a 5xx
                last_problem = f"connection to {label} failed: {_reason(exc)}"
                wait = self._backoff(attempt)
            else:
                if response.is_success:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise SourceError(f"{label} answered HTTP {response.status_code}"
                                      f"{_body_hint(response, self.secrets)}")
                last_problem = (f"{label} answered HTTP {response.status_code}"
                                f"{_body_hint(response, self.secrets)}")
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

    def _backoff(self, attempt: int) -> float:
        return min(self.retry.backoff * 2 ** (attempt - 1), self.retry.max_wait)

    def _timeout(self) -> float:
        return self._client.timeout.read or 0.0


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


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "Name or service not known" in text or "Temporary failure in name resolution" in text \
            or "nodename nor servname" in text:
        return "host name could not be resolved (no network?)"
    if "Connection refused" in text:
        return "connection refused"
    return " ".join(text.split())[:200]


def _body_hint(response: httpx.Response, secrets: tuple[str, ...] = ()) -> str:
    """A short excerpt of an error body (NCBI's JSON error, say) with keys and secrets removed."""
    try:
        text = response.text
    except Exception:  # undecodable body: no hint rather than a crash
        return ""
    text = " ".join(text.split())
    if not text or text.lower().startswith(("<!doctype html", "<html")):
        return ""
    # NCBI echoes the caller's API key (or IP) in 429 bodies.
    text = re.sub(r'("api[-_]?key"\s*:\s*)"[^"]*"', r'\1"***"', text, flags=re.IGNORECASE)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return f": {text[:160]}"
