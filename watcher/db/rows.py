"""Rows as polling and the digest read them: small frozen values, so a reader of that code
sees named fields instead of ``row["…"]`` lookups (see typed_reads.TypedReadsMixin)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..events import Event
from ..models import Match, Study


@dataclass(frozen=True)
class PendingItem:
    """One outbox row waiting for a destination: the event, its study and what matched it."""

    outbox_id: int
    event: Event
    study: Study | None
    matches: list[Match]
    queued_at: str = ""
    attempts: int = 0
    state: str = "pending"  # or 'sending' (left by a dead process), 'withheld' (by filters)


@dataclass(frozen=True)
class PollRow:
    """One logged poll, as a receipt counts it."""

    query_id: str
    source: str
    window_start: str | None
    window_end: str | None
    seen: int
    new: int
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    #: When the poll ran: the stamp its writes carry (a record it set aside is last seen then).
    finished: str = ""

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> PollRow:
        return cls(row["query_id"], row["source"], row["window_start"], row["window_end"],
                   row["seen"] or 0, row["new"] or 0, json.loads(row["warnings"] or "[]"),
                   row["error"], row["finished"] or "")


@dataclass(frozen=True)
class SearchPoll:
    """One successful poll's search, as the search-drift checks compare them: its count, the
    source's reading of the terms, the hash of the terms sent, and the records it was the
    first to find."""

    id: int
    count: int
    translation: str | None
    terms_hash: str | None
    finished: str
    found: int

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> SearchPoll:
        return cls(row["id"], row["count"], row["translation"], row["terms_hash"],
                   row["finished"], row["found"] or 0)


@dataclass(frozen=True)
class KeptRecord:
    """A kept source record (its current version, payload unpacked), as re-parsing reads it."""

    id: int
    source: str
    source_id: str
    payload: str
    modified: str | None
    parse_error: str | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> KeptRecord:
        return cls(row["id"], row["source"], row["source_id"], row["payload"],
                   row["modified"], row["parse_error"])


@dataclass(frozen=True)
class DeliveredItem:
    """One outbox row a destination accepted, about a study: what the team was told, when
    (*sent_at*), in which digest, and the matches (not excluded by their query) that file it
    under conditions. What a feed lists (see watcher.feeds)."""

    outbox_id: int
    destination: str
    sent_at: str
    digest_id: int | None
    event: Event
    study: Study
    matches: list[Match]
