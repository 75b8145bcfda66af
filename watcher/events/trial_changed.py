"""A kept trial record came back with a tracked field changed (status, enrollment, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from .base import Event


@dataclass(frozen=True, kw_only=True)
class TrialChanged(Event):
    """Keyed by the registry and the new record's content, so another query seeing the same
    change adds nothing. ``fields`` and ``changes`` pair up (an event stored before fields
    were recorded has none)."""

    KIND: ClassVar[str] = "trial_changed"

    changes: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    label: str = "changed"

    @classmethod
    def found(cls, *, source: str, content: str, study_id: int, query_id: str,
              what: list[tuple[str, str]]) -> Self:
        """The change event of *study_id*'s record from *source* (*content*: its content
        hash), *what* being (field, phrase) pairs."""
        return cls(key=f"change:{source}:{content[:20]}", study_id=study_id,
                   query_id=query_id, changes=tuple(phrase for _, phrase in what),
                   fields=tuple(name for name, _ in what))

    @property
    def source(self) -> str:
        """The registry that reported the change (from the key)."""
        return self.key.split(":")[1] if self.key.count(":") >= 2 else ""

    @property
    def details(self) -> dict[str, Any]:
        return {"changes": list(self.changes), "fields": list(self.fields),
                "label": self.label}

    @classmethod
    def from_stored(cls, *, key: str, study_id: int | None, query_id: str | None,
                    details: dict[str, Any], created: str = "", id: int = 0) -> Self:
        return cls(key=key, study_id=study_id, query_id=query_id, created=created, id=id,
                   changes=tuple(str(c) for c in details.get("changes") or []),
                   fields=tuple(str(f) for f in details.get("fields") or []),
                   label=str(details.get("label") or ""))

    def lead_label(self) -> str | None:
        return self.label or self.title()

    def counted_as(self) -> tuple[str, str] | None:
        return "trial change", "trial changes"

    def changes_text(self) -> str:
        return "; ".join(self.changes)

    def slack_note(self) -> str:
        return self.changes_text()
