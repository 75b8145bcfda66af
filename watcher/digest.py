"""Build the digest a destination receives: pending studies grouped by condition, plus a receipt.

Pure data in, pure data out; renderers turn a :class:`Digest` into text, Slack blocks or email.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .db import PendingItem
from .models import Study
from .sources import LABELS


@dataclass
class DigestItem:
    study: Study
    conditions: list[str]  # every condition it matched, the section's own first
    labels: list[str]
    outbox_id: int


@dataclass
class Section:
    condition: str
    items: list[DigestItem] = field(default_factory=list)


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
    failed: int = 0
    last_error: str | None = None
    warnings: list[str] = field(default_factory=list)
    not_polled: int = 0  # queries that ask for this source, which has no fetcher yet


@dataclass
class Digest:
    destination: str
    generated: str  # ISO timestamp
    since: str | None  # previous digest to this destination
    sections: list[Section]
    receipts: list[SourceReceipt]

    @property
    def items(self) -> list[DigestItem]:
        return [item for section in self.sections for item in section.items]

    @property
    def total(self) -> int:
        return sum(len(section.items) for section in self.sections)


def build(destination: str, pending: list[PendingItem], conditions: dict[str, str],
          polls: list[dict[str, Any]], *, generated: str, since: str | None,
          not_polled: dict[str, int] | None = None) -> Digest:
    """Group *pending* by the first condition (in YAML order) among *conditions* it matched.

    *conditions* maps the query ids routed to this destination to their condition names.
    """
    order = list(conditions)
    sections: dict[str, Section] = {}
    for entry in pending:
        query_ids = list(dict.fromkeys(m["query_id"] for m in entry.matches))
        routed = sorted((q for q in query_ids if q in conditions), key=order.index)
        names = [conditions[q] for q in routed] or ["Other"]
        labels = list(dict.fromkeys(label for m in entry.matches for label in m["labels"]))
        section = sections.setdefault(names[0], Section(names[0]))
        section.items.append(DigestItem(entry.study, names, labels, entry.outbox_id))
    names_in_order = list(dict.fromkeys([conditions[q] for q in order] + ["Other"]))
    ordered = [sections[name] for name in names_in_order if name in sections]
    return Digest(destination, generated, since, ordered,
                  receipts(polls, set(conditions), not_polled or {}))


def receipts(polls: list[dict[str, Any]], query_ids: set[str],
             not_polled: dict[str, int]) -> list[SourceReceipt]:
    """Per source: window covered, polls, records seen, new, failures since the last digest."""
    by_source: dict[str, SourceReceipt] = {}
    for poll in polls:
        if poll["query_id"] not in query_ids:
            continue
        source = poll["source"]
        receipt = by_source.setdefault(source, SourceReceipt(source, LABELS.get(source, source)))
        receipt.polls += 1
        if poll["error"]:
            receipt.failed += 1
            receipt.last_error = poll["error"]
            continue
        receipt.seen += poll["seen"] or 0
        receipt.new += poll["new"] or 0
        if poll["window_start"] and (receipt.window_start is None
                                     or poll["window_start"] < receipt.window_start):
            receipt.window_start = poll["window_start"]
        if poll["window_end"] and (receipt.window_end is None
                                   or poll["window_end"] > receipt.window_end):
            receipt.window_end = poll["window_end"]
        for warning in json.loads(poll["warnings"] or "[]"):
            if warning not in receipt.warnings:
                receipt.warnings.append(warning)
    for source, count in not_polled.items():
        receipt = by_source.setdefault(source, SourceReceipt(source, LABELS.get(source, source)))
        receipt.not_polled = count
    return list(by_source.values())
