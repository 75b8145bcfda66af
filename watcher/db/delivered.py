"""What each destination was told: the items its messages carried, newest first. A feed is
built from these alone (never from what is pending), so it lists what the team saw."""

from __future__ import annotations

import json
from typing import Any

from ..events import from_row
from ..models import Match, Study
from .rows import DeliveredItem


class DeliveredMixin:
    conn: Any
    get_study: Any  # from StudiesMixin

    def delivered(self) -> list[DeliveredItem]:
        """Every item about a study that a destination accepted (state 'sent'), newest first
        (by when it was sent, then by outbox order); notices about a query are left out."""
        rows = self.conn.execute(
            "SELECT o.id, o.destination, o.sent_at, o.digest_id, e.id, e.key, e.kind,"
            " e.study_id, e.query_id, e.details, e.created FROM outbox o JOIN events e"
            " ON e.id = o.event_id WHERE o.state = 'sent' AND e.study_id IS NOT NULL"
            " ORDER BY o.sent_at DESC, o.id DESC").fetchall()
        studies: dict[int, tuple[Study, list[Match]]] = {}
        items = []
        for (outbox_id, destination, sent_at, digest_id, event_id, key, kind, study_id,
             query_id, details, created) in rows:
            if study_id not in studies:
                studies[study_id] = (self.get_study(study_id), self._filed_under(study_id))
            study, matches = studies[study_id]
            event = from_row({"id": event_id, "key": key, "kind": kind, "study_id": study_id,
                              "query_id": query_id, "details": details, "created": created})
            items.append(DeliveredItem(outbox_id, destination, sent_at or created or "",
                                       digest_id, event, study, matches))
        return items

    def _filed_under(self, study_id: int) -> list[Match]:
        """The study's matches its query did not exclude, earliest first."""
        return [Match(q, s, json.loads(labels or "[]")) for q, s, labels in self.conn.execute(
            "SELECT query_id, source, labels FROM matches WHERE study_id = ? AND excluded"
            " IS NULL ORDER BY first_matched, query_id", (study_id,))]
