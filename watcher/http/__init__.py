"""The project's own HTTP layer: timeouts, a shared per-service rate limit, retries with backoff
that honour Retry-After, a cap on an answer's size, redirects followed only on the same host and
scheme, an optional deadline for a whole poll, and one-line errors that name the host but never
a secret.

Every source goes through :class:`HttpClient`; nothing else in the package opens sockets.
"""

from __future__ import annotations

import logging

from .body import DEFAULT_MAX_BYTES
from .client import HttpClient
from .configured import client_for
from .deadline import poll_deadline
from .rate import RateLimiter
from .retry import RETRY_STATUSES, RetryPolicy
from .transport import MAX_REDIRECTS

# httpx logs every request URL at INFO, query string (and so api_key) included.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

__all__ = ["DEFAULT_MAX_BYTES", "MAX_REDIRECTS", "RETRY_STATUSES", "HttpClient", "RateLimiter",
           "RetryPolicy", "client_for", "poll_deadline"]
