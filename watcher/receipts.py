"""What each source did for a destination since its previous digest: the receipt every digest
ends with, and what its headline says about a source that is down.

Counted per query, by each query's latest poll since the previous digest (never polls summed
over runs: PubMed down all week over ten runs is "could not be polled for any of 10 queries",
not "10 of 20 polls failed"), with how long a failing source has been failing and where its
next successful poll catches up from, read from the database's positions (:class:`Outage`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .db.report_rows import HeldRecord, Outage
from .db.rows import PollRow
from .sources import label


@dataclass
class SourceReceipt:
    """What one source did since the destination's previous digest."""

    source: str
    label: str
    window_start: str | None = None
    window_end: str | None = None
    polls: int = 0
    seen: int = 0
    new: int = 0
    failed: int = 0  # polls that failed, a later success of the same query included
    last_error: str | None = None
    warnings: list[str] = field(default_factory=list)
    not_polled: int = 0  # queries that ask for this source, which has no fetcher yet
    quarantined: list[str] = field(default_factory=list)  # source ids set aside
    #: Queries polled since the previous digest, and those whose latest poll failed.
    queries: list[str] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)
    #: For the failing queries: their first failure since their last success (the earliest),
    #: that last success (the earliest; None when one never succeeded), and the saved window
    #: end their next successful poll restarts from (the earliest; None: it looks back).
    failing_since: str | None = None
    last_success: str | None = None
    catch_up_from: str | None = None
    never_succeeded: bool = False

    @property
    def asked(self) -> int:
        """Queries polled (polls, for a receipt built without per-query detail)."""
        return len(self.queries) if self.queries else self.polls

    @property
    def down(self) -> int:
        """Queries whose latest poll failed (failed polls, without per-query detail)."""
        return len(self.failing) if self.queries else self.failed

    #: Failed polls of queries that have polled successfully since (nothing was lost).
    recovered: int = 0


def receipts(polls: list[PollRow], query_ids: set[str], not_polled: dict[str, int],
             quarantined: list[HeldRecord], outages: list[Outage] | None = None
             ) -> list[SourceReceipt]:
    """Per source: window covered, queries polled and failing (by each one's latest poll),
    records seen, new, warnings and quarantined records since the last digest; and, for a
    failing source, since when and where it catches up from (*outages*). A failed poll's
    partial work still counts, so the headline and the receipt never disagree."""
    by_source: dict[str, SourceReceipt] = {}
    latest: dict[tuple[str, str], PollRow] = {}

    def receipt_for(source: str) -> SourceReceipt:
        return by_source.setdefault(source, SourceReceipt(source, label(source)))

    for poll in polls:
        if poll.query_id not in query_ids:
            continue
        receipt = receipt_for(poll.source)
        latest[(poll.source, poll.query_id)] = poll
        if poll.query_id not in receipt.queries:
            receipt.queries.append(poll.query_id)
        receipt.polls += 1
        receipt.seen += poll.seen
        receipt.new += poll.new
        for warning in poll.warnings:
            warning = f"query {poll.query_id}: {warning}"  # whose search it was
            if warning not in receipt.warnings:
                receipt.warnings.append(warning)
        if poll.error:
            receipt.failed += 1
            receipt.last_error = poll.error
            continue
        if poll.window_start and (receipt.window_start is None
                                  or poll.window_start < receipt.window_start):
            receipt.window_start = poll.window_start
        if poll.window_end and (receipt.window_end is None
                                or poll.window_end > receipt.window_end):
            receipt.window_end = poll.window_end
    for (source, query_id), poll in latest.items():
        if poll.error:
            by_source[source].failing.append(query_id)
    for poll in polls:
        receipt = by_source.get(poll.source)
        if poll.error and receipt and poll.query_id in receipt.queries \
                and poll.query_id not in receipt.failing:
            receipt.recovered += 1
    _outages(by_source, latest, outages or [])
    for held in quarantined:
        if held.query_id in query_ids:
            ids = receipt_for(held.source).quarantined
            if held.source_id not in ids:
                ids.append(held.source_id)
    for source, count in not_polled.items():
        receipt_for(source).not_polled = count
    return list(by_source.values())


def _outages(by_source: dict[str, SourceReceipt], latest: dict[tuple[str, str], PollRow],
             outages: list[Outage]) -> None:
    """Since when each failing source fails, its last success and where it catches up."""
    known = {(o.source, o.query_id): o for o in outages}
    for receipt in by_source.values():
        for query_id in receipt.failing:
            outage = known.get((receipt.source, query_id))
            since = (outage.failing_since if outage else None) or \
                latest[(receipt.source, query_id)].finished or None
            receipt.failing_since = _earliest(receipt.failing_since, since)
            if outage is None or outage.last_success is None:
                receipt.never_succeeded = True
            else:
                receipt.last_success = _earliest(receipt.last_success, outage.last_success)
            if outage is not None and outage.window_end:
                receipt.catch_up_from = _earliest(receipt.catch_up_from, outage.window_end)


def _earliest(current: str | None, value: str | None) -> str | None:
    if not value:
        return current
    return value if current is None or value < current else current
