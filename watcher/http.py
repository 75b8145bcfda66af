"""The project's own HTTP layer: timeouts, a shared per-service rate limit, retries with backoff
that honour Retry-After, a cap on an answer's size, redirects followed only on the same host and
scheme, an optional deadline for a whole poll, and one-line errors that name the host but never
a secret.

Every source goes through :class:`HttpClient`; nothing else in the package opens sockets.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import io
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
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
#: Largest answer read, decoded (WATCHER_MAX_RESPONSE_MB): a bigger one fails, unread.
DEFAULT_MAX_BYTES = 200_000_000
#: Same-host redirects followed for one request.
MAX_REDIRECTS = 5


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


class _PollOutOfTime(Exception):
    """The request was cut short by the deadline of the poll it belongs to."""


class _TooLarge(Exception):
    """The answer is (or announces it is) larger than the client's cap."""


class _Redirected(Exception):
    """A redirect to another host or scheme, refused (str: where it pointed)."""


class _TooManyRedirects(Exception):
    """More same-host redirects than MAX_REDIRECTS."""


@dataclass(frozen=True)
class _PollDeadline:
    at: float  # time.monotonic() by which every request of the poll must be done
    seconds: float


_POLL_DEADLINE: ContextVar[_PollDeadline | None] = ContextVar("watcher_poll_deadline",
                                                              default=None)


@contextlib.contextmanager
def poll_deadline(seconds: float) -> Iterator[None]:
    """Every request made inside (in this thread) must be done within *seconds* of entering:
    a source that keeps paging, or keeps being answered slowly, fails its poll with one line
    instead of running for ever and holding up every later job of `serve`."""
    token = _POLL_DEADLINE.set(_PollDeadline(time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _POLL_DEADLINE.reset(token)


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
            # Only what _decoded undoes: httpx would also offer br or zstd whenever some
            # package installs brotli or zstandard, and those answers would reach the parsers raw.
            headers={"User-Agent": f"watcher/{__version__} (literature monitoring bot)",
                     "Accept-Encoding": ", ".join(_WBITS)},
            # Followed by _send, only on the same host and scheme: httpx would re-send a POST's
            # form (NCBI_API_KEY, e-mail) to any host a 307 names.
            follow_redirects=False,
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
        poll = _POLL_DEADLINE.get()
        last_problem = ""
        for attempt in range(1, self.retry.attempts + 1):
            if limiter:
                limiter.acquire()
            if poll is not None and time.monotonic() >= poll.at:
                raise SourceError(_out_of_time(label, poll))
            with self._lock:
                self.requests += 1
                key = service or host
                self.counts[key] = self.counts.get(key, 0) + 1
            try:
                response = self._send(method, url, params=params, data=data, poll=poll)
            except _PollOutOfTime:
                raise SourceError(_out_of_time(label, poll)) from None
            except _TooLarge:
                raise SourceError(f"{label}: the answer is larger than "
                                  f"{_size(self.max_bytes)} (WATCHER_MAX_RESPONSE_MB); "
                                  "stopped reading it") from None
            except _Redirected as exc:
                raise SourceError(f"{label} redirected to {exc}: not followed (a redirect is "
                                  "followed only on the same host and scheme)") from None
            except _TooManyRedirects:
                raise SourceError(f"{label}: more than {MAX_REDIRECTS} redirects; "
                                  "stopped") from None
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

    def _send(self, method: str, url: str, *, params: dict | None, data: dict | None,
              poll: _PollDeadline | None = None) -> httpx.Response:
        """One attempt under one deadline, without signals (jobs may run in threads).

        httpx's timeouts apply to each connect and each read, so a trickling server never
        trips them: the body is streamed and the deadline checked between chunks, and every
        phase (pool, connect, send, headers, body) may wait at most what is left of it. A body
        that stalls just before the deadline can overrun it by at most one read. The deadline
        is the poll's when that comes first (then running out is _PollOutOfTime).

        A redirect is followed (within the same deadline) only to the same scheme, host and
        port, with httpx's rules for the method: anything else is _Redirected, unsent."""
        own = time.monotonic() + self.timeout
        deadline = min(own, poll.at) if poll is not None else own
        timeout = _Remaining(deadline, self.timeout)
        try:
            for _ in range(MAX_REDIRECTS + 1):
                with self._client.stream(method, url, params=params, data=data,
                                         extensions={"timeout": timeout}) as response:
                    # (a 3xx naming nowhere, or a 300/304, is the answer itself: not a success)
                    if not response.has_redirect_location:
                        return self._read(response, deadline)
                    origin = response.url
                    target = origin.join(response.headers["Location"])
                    status = response.status_code
                if (target.scheme, target.host, target.port) != (origin.scheme, origin.host,
                                                                 origin.port):
                    raise _Redirected(f"{target.scheme}://{_netloc(target)}")
                if origin.userinfo and not target.userinfo:  # same host: same credentials
                    target = target.copy_with(userinfo=origin.userinfo)
                if status == 303 and method != "HEAD" or status in (301, 302) \
                        and method == "POST":
                    method, data = "GET", None
                url, params = str(target), None
            raise _TooManyRedirects
        except (httpx.TimeoutException, _DeadlineExceeded):
            if poll is not None and poll.at < own:
                raise _PollOutOfTime from None
            raise

    def _read(self, response: httpx.Response, deadline: float) -> httpx.Response:
        """The streamed answer, decoded, whole and held once (no list of chunks joined into a
        second copy), or _TooLarge as soon as it passes max_bytes (its Content-Length is
        believed up front). Content-encodings are undone here in pieces of at most _PIECE
        bytes (see _decoded), so a small compressed answer that inflates past the cap is
        stopped within one piece of it, however many times it was compressed."""
        length = response.headers.get("Content-Length", "").strip()
        if length.isdigit() and int(length) > self.max_bytes:
            raise _TooLarge
        body = io.BytesIO()
        for chunk in _decoded(response):
            if time.monotonic() > deadline:
                raise _DeadlineExceeded
            if body.tell() + len(chunk) > self.max_bytes:
                raise _TooLarge
            body.write(chunk)
        if time.monotonic() > deadline:
            raise _DeadlineExceeded
        headers = httpx.Headers(response.headers)
        headers.pop("Content-Encoding", None)  # already decoded
        # getvalue() hands over BytesIO's own buffer; a plain identity response keeps it as is.
        return httpx.Response(response.status_code, headers=headers, content=body.getvalue(),
                              request=response.request, extensions=response.extensions)

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


#: Most bytes one decompression step may produce: httpx inflates a whole network chunk at once
#: (64 KB of gzip is 64 MB of zeros; gzip twice, 64 GB), before any cap could be checked.
_PIECE = 65_536
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
#: Most content-encodings undone on one answer (a real server uses one).
_LAYERS = 4


def _decoded(response: httpx.Response) -> Iterator[bytes]:
    """*response*'s body with its content-encodings undone (gzip and deflate, as httpx does;
    others are left as they are, as httpx leaves them), in pieces of at most _PIECE bytes."""
    chunks: Iterator[bytes] = response.iter_raw()
    layers = [_WBITS[name] for encoding in response.headers.get_list("content-encoding",
                                                                     split_commas=True)
              if (name := encoding.strip().lower()) in _WBITS]
    if len(layers) > _LAYERS:  # each layer is a decoder (and a frame) of its own
        raise httpx.DecodingError(f"the answer is compressed {len(layers)} times (at most "
                                  f"{_LAYERS} are undone)")
    for wbits in reversed(layers):
        chunks = _inflated(chunks, wbits)
    return chunks


def _inflated(chunks: Iterator[bytes], wbits: int) -> Iterator[bytes]:
    """One encoding undone, never more than _PIECE bytes at a time. Deflate may come raw,
    without its zlib header (as httpx accepts it too). A broken stream is httpx's
    DecodingError, as it would have been."""
    inflater, first = zlib.decompressobj(wbits), True
    try:
        for chunk in chunks:
            data = chunk
            while data:
                try:
                    piece = inflater.decompress(data, _PIECE)
                except zlib.error:
                    if not (first and wbits == zlib.MAX_WBITS):
                        raise
                    inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate
                    piece = inflater.decompress(data, _PIECE)
                first = False
                if piece:
                    yield piece
                data = inflater.unconsumed_tail
        while not inflater.eof and (piece := inflater.decompress(b"", _PIECE)):
            yield piece  # what the last input still held
    except zlib.error as exc:
        raise httpx.DecodingError(f"the answer's compressed body is broken: {exc}") from None


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


def _out_of_time(label: str, poll: _PollDeadline | None) -> str:
    seconds = f"{poll.seconds:g}s" if poll else "its time"
    return (f"{label}: the poll ran past its deadline ({seconds}, WATCHER_POLL_TIMEOUT); "
            "stopped")


def _netloc(url: httpx.URL) -> str:
    """host[:port] of *url*, never its user info."""
    return f"{url.host}:{url.port}" if url.port else url.host


def _size(count: int) -> str:
    return f"{count / 1_000_000:g} MB" if count >= 1_000_000 else f"{count} bytes"


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
