"""Rows `watcher status`, `watcher health` (see watcher.reporting) and delivery read: small
frozen values, so what leaves the database is named and typed rather than a dict of columns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PositionRow:
    """Where one (query, source) stands: its window and its last success and error."""

    query_id: str
    source: str
    window_end: str | None
    last_success: str | None
    last_attempt: str | None
    last_error: str | None
    last_error_at: str | None
    #: Its corrections: the end of the last window searched, and when (None: no such search).
    corrections_end: str | None = None
    corrections_at: str | None = None


@dataclass(frozen=True)
class Outage:
    """A (query, source) whose last poll failed: when it last succeeded, where its next
    successful poll restarts (its saved window end: nothing after it is lost), and when it
    first failed since that success (how long it has been failing)."""

    query_id: str
    source: str
    last_success: str | None  # None: never polled successfully
    window_end: str | None  # None: the next success looks back lookback_days
    failing_since: str | None


@dataclass(frozen=True)
class PollWindow:
    """The window the last successful poll of a (query, source) covered."""

    start: str
    end: str


@dataclass(frozen=True)
class HeldRecord:
    """A record quarantined (or still awaited) for a query, with why and since when."""

    query_id: str
    source: str
    source_id: str
    state: str  # 'watching' (awaited), 'quarantined', 'released'
    reason: str
    first_seen: str
    last_seen: str
    attempts: int = 0  # runs it was missing in (counted afresh after a release)


@dataclass(frozen=True)
class IdConflict:
    """An id claimed by a second study: kept by its owner, recorded here."""

    scheme: str
    value: str
    owner_study: int
    claimed_by_study: int
    source: str
    source_id: str
    detected: str


@dataclass(frozen=True)
class RecordVersion:
    """One kept version of a study's source record (the current one among them)."""

    source: str
    source_id: str
    content_hash: str
    fetched: str
    payload: str


@dataclass(frozen=True)
class SentMessage:
    """One accepted message of a digest: which part, its id at the destination, and where it
    went (the channel as configured, and the id the destination answered with)."""

    id: int
    digest_id: int
    destination: str
    part: int
    external_id: str | None
    items: int
    sent_at: str
    channel: str | None
    channel_id: str | None


@dataclass(frozen=True)
class Delivery:
    """Where an event went: its state at one destination, and when it was sent."""

    destination: str
    state: str
    sent_at: str | None
    last_error: str | None


@dataclass(frozen=True)
class LeaseRow:
    """Who holds the worker lease (one `serve` per database), since when, until when."""

    holder: str
    host: str
    pid: int
    since: str
    renewed: str
    expires: str


@dataclass(frozen=True)
class InterruptedItem:
    """An item a dead process left 'sending': the digest that carried it, when that digest
    started, and the channel (id and configured name) its recorded messages went to."""

    id: int
    digest_id: int | None
    started: str | None
    channel_id: str | None
    channel: str | None


@dataclass(frozen=True)
class StudyJoin:
    """Why a record, a claimed id or a merged study belongs to a study, and since when."""

    study_id: int
    source: str  # the record's source, or who said so (a link's upstream)
    source_id: str  # the record's id, or the ids a link joined ("ppr:PPR1 -> pmid:123")
    merged_study: int | None  # the study merged into this one (None: a record or an id)
    rule: str  # "first record", "shared id pmid:123", "Europe PMC link (...)", ...
    basis: str  # "publisher" / "title_author" for a link, "" otherwise
    joined: str | None  # when (None: attached before joins were recorded)
