"""Small helpers every part of the core shares: clocks, the run's HTTP client, one-line
errors."""

from __future__ import annotations

from datetime import UTC, datetime

from .errors import WatcherError
from .http import HttpClient, RetryPolicy
from .settings import Settings


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="seconds")


def make_http(settings: Settings) -> HttpClient:
    return HttpClient(timeout=settings.http_timeout,
                      retry=RetryPolicy(backoff=settings.retry_backoff),
                      secrets=settings.secrets())


def one_line(exc: Exception, name: str) -> str:
    """A failure as one line: our own errors as they are, anything else named as unexpected."""
    if isinstance(exc, WatcherError):
        return str(exc)
    return " ".join(f"{name}: unexpected {type(exc).__name__}: {exc}".split())
