"""The client every source asks through: one per run, retrying what is worth retrying and
remembering hosts that are down or hung, so a dead host costs one or two attempts, not twenty
rounds of retries."""

from __future__ import annotations

import base64
import functools
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import httpx

from .. import __version__
from ..errors import SourceError
from ..redact import scrub
from .body import DEFAULT_MAX_BYTES, WBITS
from .deadline import PollDeadline, current_poll, out_of_time
from .failures import (
    DeadlineExceeded,
    PollOutOfTime,
    Redirected,
    TooLarge,
    TooManyRedirects,
    body_hint,
    reason,
    size,
)
from .rate import RateLimiter
from .retry import RETRY_STATUSES, RetryPolicy, retry_after
from .transport import MAX_REDIRECTS, send

# The package's name, as before it was a package: operators filter logs by it.
log = logging.getLogger("watcher.http")


class HttpClient:
    """One shared client per run; remembers hosts that could not be reached, or that did not
    answer in time twice in a row, so that twenty queries against a dead or hung host fail in
    one or two attempts, not twenty rounds of retries.

    *timeout* is a deadline for each attempt as a whole (connect, headers and the entire
    body), not per socket read: a server trickling one byte at a time is abandoned too.
    *max_bytes* caps an answer's decoded size: reading stops as soon as it is passed.
    """

    def __init__(self, timeout: float = 30.0, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, secrets: tuple[str, ...] = (),
                 max_bytes: int = DEFAULT_MAX_BYTES):
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.secrets = tuple(s for s in secrets if s)
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            # Only what body.decoded undoes: httpx would also offer br or zstd whenever some
            # package installs brotli or zstandard, and those answers would reach the parsers raw.
            headers={"User-Agent": f"watcher/{__version__} (literature monitoring bot)",
                     "Accept-Encoding": ", ".join(WBITS)},
            # Followed by transport.send, only on the same host and scheme: httpx would re-send
            # a POST's form (NCBI_API_KEY, e-mail) to any host a 307 names.
            follow_redirects=False,
            verify=_certificates(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")),
        )
        self._lock = threading.Lock()
        self._unreachable: dict[str, tuple[str, str]] = {}  # host -> (label, problem)
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
                service: str = "", headers: dict[str, str] | None = None,
                accept: tuple[int, ...] = ()) -> httpx.Response:
        """Send a request and return a 2xx response (or one whose status the caller *accept*s:
        a conditional GET's 304), or raise SourceError with one line. *headers* are sent with
        it (a conditional GET's If-None-Match)."""
        host, secrets = self._host_and_secrets(url)
        label = f"{service} ({host})" if service else host
        if host in self._unreachable:  # said as the service asking now (one mirror, many)
            first, problem = self._unreachable[host]
            raise SourceError(problem.replace(first, label, 1))
        poll = current_poll()
        last_problem = ""
        for attempt in range(1, self.retry.attempts + 1):
            if limiter:
                limiter.acquire()
            if poll is not None and time.monotonic() >= poll.at:
                raise SourceError(out_of_time(label, poll))
            with self._lock:
                self.requests += 1
                key = service or host
                self.counts[key] = self.counts.get(key, 0) + 1
            try:
                response = send(self._client, method, url, params=params, data=data,
                                timeout=self.timeout, max_bytes=self.max_bytes,
                                poll=poll, headers=headers)
            except (PollOutOfTime, TooLarge, Redirected, TooManyRedirects,
                    httpx.InvalidURL) as exc:
                raise SourceError(self._refused(exc, label, poll)) from None
            except (httpx.TimeoutException, DeadlineExceeded):
                last_problem = f"no answer from {label} within {self.timeout:g}s"
                wait = self.retry.wait(attempt)
                if self._timed_out(host) >= 2:
                    # Twice in a row without an answer: hung, not just slow once. Later
                    # requests fail at once instead of each waiting out more deadlines.
                    self._unreachable[host] = (label, last_problem)
                    raise SourceError(last_problem) from None
            except httpx.ConnectError as exc:  # refused, no route, DNS: the host is down
                last_problem = f"could not reach {label}: {reason(exc, secrets)}"
                wait = self.retry.wait(attempt)
                if attempt >= min(2, self.retry.attempts):
                    self._unreachable[host] = (label, last_problem)
                    raise SourceError(last_problem) from None
            except httpx.TransportError as exc:  # dropped mid-answer: retry like a 5xx
                self._answered(host)
                last_problem = f"connection to {label} failed: {reason(exc, secrets)}"
                wait = self.retry.wait(attempt)
            except httpx.HTTPError as exc:  # undecodable body, too many redirects, ...
                raise SourceError(f"{label}: {reason(exc, secrets)}") from None
            else:
                self._answered(host)
                if response.is_success or response.status_code in accept:
                    return response
                hint = body_hint(response, secrets)
                if response.status_code not in RETRY_STATUSES:
                    raise SourceError(f"{label} answered HTTP {response.status_code}{hint}")
                last_problem = f"{label} answered HTTP {response.status_code}{hint}"
                wait = retry_after(response)
                if wait is None:
                    wait = self.retry.wait(attempt)
                elif wait > self.retry.max_wait:
                    raise SourceError(f"{last_problem}; it asked us to wait {wait:.0f}s, "
                                      "longer than we wait within one run")
            if attempt < self.retry.attempts:
                if poll is not None and time.monotonic() + wait >= poll.at:
                    raise SourceError(f"{last_problem}; no time left to retry within the "
                                      f"poll's deadline ({poll.seconds:g}s, "
                                      "WATCHER_POLL_TIMEOUT)")
                log.info("%s; retry %d of %d in %.1fs", last_problem, attempt,
                         self.retry.attempts - 1, wait)
                self._sleep(wait)
        raise SourceError(f"{last_problem} (gave up after {self.retry.attempts} attempts)")

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def _refused(self, exc: Exception, label: str, poll: PollDeadline | None) -> str:
        """The one line for an attempt that is not retried: out of time, too large, sent
        elsewhere, or not a URL."""
        if isinstance(exc, PollOutOfTime):
            return out_of_time(label, poll)
        if isinstance(exc, TooLarge):
            return (f"{label}: the answer is larger than {size(self.max_bytes)} "
                    "(WATCHER_MAX_RESPONSE_MB); stopped reading it")
        if isinstance(exc, Redirected):
            return (f"{label} redirected to {exc}: not followed (a redirect is followed only "
                    "on the same host and scheme)")
        if isinstance(exc, TooManyRedirects):
            return f"{label}: more than {MAX_REDIRECTS} redirects; stopped"
        return f"{label}: invalid URL"

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


@functools.cache
def _certificates(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """httpx's own TLS context (which reads SSL_CERT_FILE or SSL_CERT_DIR, hence the key),
    loaded once per process: loading the certificate authorities takes 25 ms, and a run makes
    a client for its polls and another for its look-ups."""
    return httpx.create_ssl_context()
