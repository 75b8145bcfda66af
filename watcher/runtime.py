"""Small helpers every part of the core shares: clocks, the run's HTTP client, one-line
errors."""

from __future__ import annotations

from datetime import UTC, datetime

from .errors import WatcherError
from .http import HttpClient, RetryPolicy
from .redact import scrub
from .settings import Settings


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="seconds")


def make_http(settings: Settings) -> HttpClient:
    return HttpClient(timeout=settings.http_timeout,
                      retry=RetryPolicy(backoff=settings.retry_backoff),
                      secrets=settings.secrets(),
                      max_bytes=max(1, int(settings.max_response_mb * 1_000_000)))


def one_line(exc: Exception, name: str) -> str:
    """A failure as one line, secrets scrubbed: our own errors as they are, anything else
    named as unexpected. Every failure the core reports, logs or stores passes through here."""
    if isinstance(exc, WatcherError):
        text = str(exc)
    else:
        text = f"{name}: unexpected {type(exc).__name__}: {exc}"
    return scrub(" ".join(text.split()))


def named(destination: str, error: str) -> str:
    """*error* naming its destination once (delivery errors often begin with it already)."""
    return error if error.startswith(f"{destination}: ") else f"{destination}: {error}"
