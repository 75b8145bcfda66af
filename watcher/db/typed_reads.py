"""Polling's and the digest's reads as typed rows (see rows.py). They read through the
dict-returning queries the status reader shares, so each table is queried in one place."""

from __future__ import annotations

from typing import Any

from .rows import KeptRecord, PollRow, SearchPoll


class TypedReadsMixin:
    # from PositionsMixin and StudiesMixin
    polls_after: Any
    search_history: Any
    records: Any

    def polls_since(self, poll_id: int) -> list[PollRow]:
        """Polls logged after *poll_id*: what a destination's next receipt covers."""
        return [PollRow.of(row) for row in self.polls_after(poll_id)]

    def searches(self, query_id: str, source: str, *, limit: int) -> list[SearchPoll]:
        """The last *limit* successful searches of (query, source), newest first."""
        return [SearchPoll.of(row) for row in self.search_history(query_id, source,
                                                                  limit=limit)]

    def kept_records(self, source: str, *, after_id: int, limit: int) -> list[KeptRecord]:
        """A page of kept records of *source* after *after_id*, in id order."""
        return [KeptRecord.of(row) for row in self.records(source, after_id=after_id,
                                                           limit=limit)]
