"""The normalized study record every source produces and every renderer reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Identifier schemes that link one study across sources, in display order.
ID_SCHEMES = ("pmid", "pmcid", "doi", "nct")


def normalize_id(scheme: str, value: str) -> str:
    """Canonical form of an id so that the same study matches across sources."""
    value = value.strip()
    if scheme == "doi":
        value = value.lower()
        for prefix in ("https://doi.org/", "http://dx.doi.org/", "doi:"):
            if value.startswith(prefix):
                value = value[len(prefix):]
    elif scheme in ("pmcid", "nct"):
        value = value.upper()
    return value


@dataclass
class Study:
    """One publication or registered trial, as a source described it."""

    source: str  # the source module that produced it, e.g. "pubmed"
    kind: str  # "publication", "preprint" or "trial"
    ids: dict[str, str]  # scheme -> id, normalized (see ID_SCHEMES)
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    journal: str = ""
    published: str = ""  # human-readable publication date as the source gives it
    year: int | None = None
    entry_date: str | None = None  # ISO date the source first listed it
    publication_types: list[str] = field(default_factory=list)
    mesh_terms: list[str] = field(default_factory=list)
    linked_ids: dict[str, list[str]] = field(default_factory=dict)  # e.g. trials it reports
    url: str = ""

    @property
    def non_human(self) -> bool:
        """MEDLINE's convention: indexed Animals without Humans."""
        return "Animals" in self.mesh_terms and "Humans" not in self.mesh_terms

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Study:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
