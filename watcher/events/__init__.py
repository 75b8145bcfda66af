"""Everything the team is told, one frozen dataclass per kind: the one place an event kind
lives. Adding a kind is one module (its key, what it stores, how a reader is told of it) and
one line in ``KINDS``.

``from_row`` turns a stored events row back into its typed event; a kind this version does not
know (written by a newer one) comes back as :class:`Unknown` and is shown from what it stores.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .base import Event, Unknown
from .correction import Correction
from .new_study import NewStudy
from .now_published import NowPublished
from .query_health import QueryHealth
from .trial_changed import TrialChanged

#: Stored kind -> its class, in the order a digest presents them.
KINDS: dict[str, type[Event]] = {cls.KIND: cls for cls in (
    NewStudy,
    TrialChanged,
    Correction,
    NowPublished,
    QueryHealth,
)}


def from_row(row: Mapping[str, Any]) -> Event:
    """The typed event of a stored row (columns key, kind, study_id, query_id, details as
    JSON text, created, id)."""
    details = row["details"]
    stored = json.loads(details or "{}") if isinstance(details, str | None) else dict(details)
    common = {"key": row["key"], "study_id": row["study_id"], "query_id": row["query_id"],
              "created": row["created"] or "", "id": row["id"] or 0}
    cls = KINDS.get(row["kind"])
    if cls is None:
        return Unknown(stored_kind=row["kind"], stored=stored, **common)
    return cls.from_stored(details=stored, **common)


__all__ = ["KINDS", "Correction", "Event", "NewStudy", "NowPublished", "QueryHealth",
           "TrialChanged", "Unknown", "from_row"]
