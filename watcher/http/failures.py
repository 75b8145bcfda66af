"""What can go wrong with one attempt, and how it is told: internal exceptions the client turns
into one-line SourceErrors, with hosts named and secrets scrubbed."""

from __future__ import annotations

import httpx

from ..redact import scrub


class DeadlineExceeded(Exception):
    """The answer did not arrive in full before the request's deadline."""


class PollOutOfTime(Exception):
    """The request was cut short by the deadline of the poll it belongs to."""


class TooLarge(Exception):
    """The answer is (or announces it is) larger than the client's cap."""


class Redirected(Exception):
    """A redirect to another host or scheme, refused (str: where it pointed)."""


class TooManyRedirects(Exception):
    """More same-host redirects than MAX_REDIRECTS."""


def netloc(url: httpx.URL) -> str:
    """host[:port] of *url*, never its user info."""
    return f"{url.host}:{url.port}" if url.port else url.host


def size(count: int) -> str:
    return f"{count / 1_000_000:g} MB" if count >= 1_000_000 else f"{count} bytes"


def reason(exc: Exception, secrets: tuple[str, ...] = ()) -> str:
    text = str(exc) or type(exc).__name__
    if "Name or service not known" in text or "Temporary failure in name resolution" in text \
            or "nodename nor servname" in text:
        return "host name could not be resolved (no network?)"
    if "Connection refused" in text:
        return "connection refused"
    return scrub(" ".join(text.split()), secrets)[:200]


def body_hint(response: httpx.Response, secrets: tuple[str, ...] = ()) -> str:
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
