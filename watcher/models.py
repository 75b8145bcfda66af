"""The normalized study record every source produces and every renderer reads."""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from isal import isal_zlib

#: Compression level for raw payloads, written by ISA-L (python-isal) in zlib's own format, so
#: stdlib zlib reads every payload, old or new: its level 1 compresses a 21 KB PubMed record
#: in 0.05 ms against zlib level 1's 0.2 (and level 6's 0.32) for payloads about as small.
PACK_LEVEL = 1

#: Trial registries whose ids carry the registry's own prefix, written as the registry does.
_REGISTRY_PREFIXES = {"isrctn": "ISRCTN", "drks": "DRKS", "actrn": "ACTRN", "chictr": "ChiCTR"}


def normalize_id(scheme: str, value: str) -> str:
    """Canonical form of an id so that the same study matches across sources."""
    value = value.strip()
    if scheme in ("doi", "preprint_doi"):
        value = value.lower()
        for prefix in ("https://doi.org/", "http://dx.doi.org/", "doi:"):
            if value.startswith(prefix):
                value = value[len(prefix):]
    elif scheme in ("pmcid", "nct", "eudract", "ctis", "ppr"):
        value = value.upper()
    elif scheme in _REGISTRY_PREFIXES:  # "isrctn 12345678" and "12345678" -> ISRCTN12345678
        prefix = _REGISTRY_PREFIXES[scheme]
        value = "".join(value.split())
        if value.upper().startswith(prefix.upper()):
            value = value[len(prefix):]
        value = value.lstrip(":" if scheme == "chictr" else ":-")  # ChiCTR-IOR-17013377
        value = prefix + value.upper() if value else ""
    return value


@dataclass
class Study:
    """One publication or registered trial, as a source described it."""

    source: str  # the source module that produced it, e.g. "pubmed"
    kind: str  # "publication", "preprint" or "trial"
    ids: dict[str, str]  # scheme -> id, normalized (see normalize_id)
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
    #: Source-specific normalized fields (a trial's status, phases, enrollment, dates ...).
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def non_human(self) -> bool:
        """MEDLINE's convention: indexed Animals without Humans."""
        return "Animals" in self.mesh_terms and "Humans" not in self.mesh_terms

    def to_dict(self) -> dict[str, Any]:
        """A deep copy (merge_studies changes it): for JSON text, ``to_json`` copies nothing."""
        return asdict(self)

    def to_json(self, details: str | None = None) -> str:
        """The same JSON text as ``json.dumps(self.to_dict())``, without the deep copy;
        *details* is ``json.dumps(self.details)`` when the caller has it already (the
        largest part: a store writes it twice)."""
        head = json.dumps({f.name: getattr(self, f.name) for f in _STUDY_FIELDS[:-1]})
        if details is None:
            details = json.dumps(self.details)
        return f'{head[:-1]}, "details": {details}}}'

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Study:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


_STUDY_FIELDS = fields(Study)
assert _STUDY_FIELDS[-1].name == "details"  # (to_json writes it last, as asdict does)


@dataclass(frozen=True)
class Packed:
    """A raw payload as it is held and kept: zlib-compressed UTF-8, with the SHA-256 of its
    text (what tells a changed record). Made once, when the record is parsed."""

    data: bytes = field(repr=False)
    digest: str

    @classmethod
    def of(cls, text: str) -> Packed:
        encoded = text.encode("utf-8")
        return cls(isal_zlib.compress(encoded, PACK_LEVEL), hashlib.sha256(encoded).hexdigest())

    @property
    def text(self) -> str:
        return zlib.decompress(self.data).decode("utf-8")


@dataclass(frozen=True, init=False)
class SourceRecord:
    """One record as a source returned it, from its parser to the store: the raw payload is
    always kept (so it can be re-parsed offline); *study* is None when it could not be parsed
    (*error* says why, in one line naming the record). The payload is held compressed
    (``packed``): a back-fill holds many; ``raw`` gives its text back."""

    source_id: str  # the source's own id ("" when the record has none)
    packed: Packed  # the record exactly as it arrived (PubMed XML, a trial's JSON or XML)
    study: Study | None
    error: str | None = None
    modified: str | None = None  # upstream modification date, when the source gives one

    def __init__(self, source_id: str, raw: str | Packed | None = None,
                 study: Study | None = None, error: str | None = None,
                 modified: str | None = None, *, packed: Packed | None = None):
        payload = packed if raw is None else raw
        if payload is None:
            raise TypeError("SourceRecord needs its raw payload")
        for name, value in (("source_id", source_id), ("study", study), ("error", error),
                            ("modified", modified),
                            ("packed", payload if isinstance(payload, Packed)
                             else Packed.of(payload))):
            object.__setattr__(self, name, value)

    @property
    def raw(self) -> str:
        """The record's text, exactly as it arrived."""
        return self.packed.text


@dataclass
class Match:
    """A saved query found a study through a source."""

    query_id: str
    source: str
    labels: list[str] = field(default_factory=list)


def merge_studies(records: list[Study], priority: tuple[str, ...]) -> Study:
    """The study as the team sees it: the record of the most trusted source, its empty fields
    filled from the others. *priority* lists source names, most trusted first."""
    if not records:
        raise ValueError("a study needs at least one record")
    ranked = sorted(records, key=lambda s: priority.index(s.source)
                    if s.source in priority else len(priority))
    merged = Study.from_dict(ranked[0].to_dict())
    for other in ranked[1:]:
        for name in Study.__dataclass_fields__:
            if name in ("source", "kind", "ids", "linked_ids", "details"):
                continue
            if not getattr(merged, name) and getattr(other, name):
                setattr(merged, name, getattr(other, name))
        for scheme, value in other.ids.items():
            merged.ids.setdefault(scheme, value)
        for key, value in other.details.items():
            merged.details.setdefault(key, value)
        for scheme, values in other.linked_ids.items():
            known = merged.linked_ids.setdefault(scheme, [])
            known.extend(v for v in values if v not in known)
    return merged
