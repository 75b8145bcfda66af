"""A study a saved query found, told once to each destination the query routes to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from .base import Event


@dataclass(frozen=True, kw_only=True)
class NewStudy(Event):
    """Keyed by the study alone: every query and source that finds it makes the same event."""

    KIND: ClassVar[str] = "new"

    @classmethod
    def of(cls, study_id: int) -> Self:
        return cls(key=cls.key_for(study_id), study_id=study_id)

    @classmethod
    def key_for(cls, study_id: int) -> str:
        return f"new:{study_id}"

    def lead_label(self) -> str | None:
        return None  # the study's own tags say what it is

    def counted_as(self) -> tuple[str, str] | None:
        return None
