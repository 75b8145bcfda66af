"""What a correction needs to know of the outbox: who was told a study, or is owed it."""

from __future__ import annotations

from typing import Any

from ..events import NewStudy


class CorrectionsMixin:
    conn: Any

    def new_item_states(self, study_id: int) -> dict[str, str]:
        """Destination -> state of the study's new-study item there ('sent', 'pending' ...),
        for every destination that was told or is owed it (filters' withheld items are not,
        nor items a retired destination set aside: nobody was told those)."""
        return {destination: state for destination, state in self.conn.execute(
            "SELECT o.destination, o.state FROM outbox o JOIN events e ON e.id = o.event_id"
            " WHERE e.study_id = ? AND e.kind = ? AND o.state NOT IN ('withheld', 'retired',"
            " 'merged')"
            " ORDER BY o.destination", (study_id, NewStudy.KIND))}
