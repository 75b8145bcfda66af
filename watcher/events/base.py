"""What every event is: something the team is told, about a study or about a query.

An event's ``key`` is stable: the same fact found again (another query, another run, another
source) has the same key, so it is stored and delivered once. Each kind is one frozen
dataclass in its own module: it builds its key, says what it stores (``details``), reads a
stored row back (``from_stored``), and says how a reader is told of it (the methods below,
which the renderers call instead of branching on the kind).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Self


@dataclass(frozen=True, kw_only=True)
class Event:
    """The part every kind shares: the key, what it is about, and where it is stored."""

    #: The kind as stored in the events table (never changed: stored rows carry it).
    KIND: ClassVar[str] = ""

    key: str
    study_id: int | None = None
    query_id: str | None = None
    created: str = ""
    id: int = 0

    @property
    def kind(self) -> str:
        return self.KIND

    @property
    def details(self) -> dict[str, Any]:
        """What is stored beside the key (as JSON): the kind's own facts."""
        return {}

    @classmethod
    def from_stored(cls, *, key: str, study_id: int | None, query_id: str | None,
                    details: dict[str, Any], created: str = "", id: int = 0) -> Self:
        """The event as a stored row holds it (*details* already read from JSON)."""
        return cls(key=key, study_id=study_id, query_id=query_id, created=created, id=id)

    # --- how a reader is told ---------------------------------------------------------------

    def title(self) -> str:
        """The kind's name when nothing else names it: 'query health'."""
        return self.kind.replace("_", " ")

    def lead_label(self) -> str | None:
        """The tag an item of this event leads with (None: a new study's own tags only)."""
        return self.title()

    def counted_as(self) -> tuple[str, str] | None:
        """(one, many) as a digest's headline counts these; None: counted as new studies."""
        return self.title(), self.title()

    def changes_text(self) -> str:
        """What changed, in one line: 'status Recruiting → Completed; enrollment 60 → 120'."""
        return ""

    def note(self) -> str:
        """The note under an item, without a link (renderers add the notice their way)."""
        return self.changes_text()

    def note_label(self) -> str:
        """What the note under an item is."""
        return "changed"

    def slack_note(self) -> str:
        """The note Slack shows under an item."""
        return ""

    def notice_link(self) -> tuple[str, str]:
        """(label, url) of the notice the event cites, or ('', '') when it has none."""
        return "", ""

    def notice_text(self) -> str:
        """One line for an event about a query rather than a study."""
        return self.title()


@dataclass(frozen=True, kw_only=True)
class Unknown(Event):
    """A stored event of a kind this version does not know (written by a newer one): kept and
    shown from what it stores, never a crash."""

    stored_kind: str
    stored: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.stored_kind

    @property
    def details(self) -> dict[str, Any]:
        return dict(self.stored)

    def lead_label(self) -> str | None:
        return str(self.stored.get("label") or self.title())

    def changes_text(self) -> str:
        return "; ".join(str(change) for change in self.stored.get("changes", []))

    def slack_note(self) -> str:
        for name in ("what", "summary", "changes"):
            value = self.stored.get(name)
            if isinstance(value, list):
                value = "; ".join(str(v) for v in value)
            if value:
                return str(value)
        return ""

    def notice_text(self) -> str:
        return str(self.stored.get("message") or self.title())
