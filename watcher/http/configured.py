"""The run's HTTP client, configured from the environment's settings.

Takes any object with the settings it reads (a Protocol, not `watcher.settings`), because the
settings gather the sources, and the sources import this package."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from .client import HttpClient
from .retry import RetryPolicy


class HttpSettings(Protocol):
    http_timeout: float
    retry_backoff: float
    max_response_mb: float

    def secrets(self) -> Iterable[str]: ...


def client_for(settings: HttpSettings) -> HttpClient:
    """One client for a run: its timeout, backoff and size cap, and the secrets it must never
    show in an error."""
    return HttpClient(timeout=settings.http_timeout,
                      retry=RetryPolicy(backoff=settings.retry_backoff),
                      secrets=settings.secrets(),
                      max_bytes=max(1, int(settings.max_response_mb * 1_000_000)))
