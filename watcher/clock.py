"""The one clock: every stored or shown time is UTC, written to the second."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp(now: datetime) -> str:
    """*now* as stored in the database and shown by `status`: ISO 8601 UTC, to the second."""
    return now.astimezone(UTC).isoformat(timespec="seconds")
