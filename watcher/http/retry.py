"""When a failed request is tried again, and how long to wait first (Retry-After wins)."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass
class RetryPolicy:
    attempts: int = 4  # total tries for 429/5xx and connection failures
    backoff: float = 2.0  # first wait in seconds; doubles each retry
    max_wait: float = 120.0  # longest wait we accept, Retry-After included

    def wait(self, attempt: int) -> float:
        """The wait after failed try number *attempt* (1-based), doubling, capped."""
        return min(self.backoff * 2 ** (attempt - 1), self.max_wait)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (Retry-After: seconds or an HTTP date), or None."""
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
