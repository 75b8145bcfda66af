"""JSON lines: one JSON object per study, everything stored about it: its ids, the merged
record (authors, journal, dates, publication types, MeSH, the source's own details), the
conditions and queries that found it with their labels, and the events told of it, dated."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from .common import Exported


def document(item: Exported) -> dict[str, Any]:
    stored = item.stored
    return {"study_id": stored.id, "first_seen": stored.first_seen, "updated": stored.updated,
            **item.study.to_dict(), "conditions": item.conditions,
            "matches": [asdict(m) for m in stored.matches],
            "events": [asdict(e) for e in stored.events]}


def write(items: Iterable[Exported]) -> str:
    """One line per study (UTF-8 as is: a name's accents stay readable)."""
    return "".join(json.dumps(document(item), ensure_ascii=False) + "\n" for item in items)
