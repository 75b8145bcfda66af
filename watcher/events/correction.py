"""A correction of a study the team was told about: a retraction, an erratum or an expression
of concern (how one is found and who is told: watcher.corrections)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from ..models import Study
from .base import Event

#: CommentsCorrections RefType stem -> (kind in the event key, digest label, what happened).
CORRECTION_KINDS = {
    "Retraction": ("retraction", "RETRACTED", "retracted"),
    "Erratum": ("erratum", "erratum", "an erratum was published"),
    "ExpressionOfConcern": ("concern", "expression of concern",
                            "an expression of concern was published"),
}
RETRACTED = "Retracted Publication"


def links(study: Study) -> list[dict]:
    """The record's CommentsCorrections links (type and PMID)."""
    return list(study.details.get("corrections") or [])


def shows(study: Study, stem: str, notice: str) -> bool:
    """Whether the study's own record already carries this correction (so an item about the
    study, sent now, is labelled with it)."""
    if stem == "Retraction" and RETRACTED in study.publication_types:
        return True
    return any(str(link.get("type", "")) == f"{stem}In"
               and (not notice or str(link.get("pmid") or "") == notice)
               for link in links(study))


@dataclass(frozen=True, kw_only=True)
class Correction(Event):
    """Keyed by study and kind (and notice, for errata and concerns: each is its own), so both
    sides of a correction, and every query seeing it, make one event."""

    KIND: ClassVar[str] = "correction"

    label: str = ""
    what: str = ""
    notice: str = ""
    notice_url: str = ""
    changes: tuple[str, ...] = ()

    @classmethod
    def of(cls, target: int, stem: str, notice: str) -> Self:
        """The correction of study *target* of RefType *stem*, told by PMID *notice*."""
        kind, label, what = CORRECTION_KINDS[stem]
        url = f"https://pubmed.ncbi.nlm.nih.gov/{notice}/" if notice else ""
        key = f"{cls.KIND}:{target}:{kind}" + ("" if kind == "retraction" else f":{notice}")
        text = (label if kind == "retraction" else what) + (
            f": notice PMID {notice} {url}" if notice else "")
        return cls(key=key, study_id=target, label=label, what=what, notice=notice,
                   notice_url=url, changes=(text,))

    @classmethod
    def from_crossref(cls, target: int, stem: str, notice_doi: str, *, key_notice: str = "",
                      retraction_watch: bool = False) -> Self:
        """The same correction found in Crossref's ``updated-by`` (watcher.lookups): the same
        key as PubMed's (a retraction's names no notice; an erratum's or concern's names
        *key_notice*, the notice's PMID when known, else its DOI), so it is told once whichever
        source tells first. The link shown is the notice's DOI; a Retraction Watch entry says
        so."""
        kind, label, what = CORRECTION_KINDS[stem]
        url = f"https://doi.org/{notice_doi}" if notice_doi else ""
        key_notice = key_notice or notice_doi
        key = f"{cls.KIND}:{target}:{kind}" + ("" if kind == "retraction" else f":{key_notice}")
        told_by = " (Retraction Watch, through Crossref)" if retraction_watch else \
            " (through Crossref)"
        text = (label if kind == "retraction" else what) + (
            f": notice DOI {notice_doi} {url}" if notice_doi else "") + told_by
        return cls(key=key, study_id=target, label=label, what=what, notice=notice_doi,
                   notice_url=url, changes=(text,))

    @property
    def details(self) -> dict[str, Any]:
        return {"label": self.label, "what": self.what, "notice": self.notice,
                "notice_url": self.notice_url, "changes": list(self.changes)}

    @classmethod
    def from_stored(cls, *, key: str, study_id: int | None, query_id: str | None,
                    details: dict[str, Any], created: str = "", id: int = 0) -> Self:
        return cls(key=key, study_id=study_id, query_id=query_id, created=created, id=id,
                   label=str(details.get("label") or ""), what=str(details.get("what") or ""),
                   notice=str(details.get("notice") or ""),
                   notice_url=str(details.get("notice_url") or ""),
                   changes=tuple(str(c) for c in details.get("changes") or []))

    def carried_by(self, study: Study) -> bool:
        """Whether the study's own new-study item, sent now, shows this correction (its record
        carries the retraction type or the notice's link)."""
        parts = self.key.split(":")
        stems = {kind: stem for stem, (kind, _, _) in CORRECTION_KINDS.items()}
        if len(parts) < 3 or parts[2] not in stems:
            return False
        return shows(study, stems[parts[2]], self.notice)

    def lead_label(self) -> str | None:
        return self.label or self.title()

    def counted_as(self) -> tuple[str, str] | None:
        return "correction", "corrections"

    def changes_text(self) -> str:
        return "; ".join(self.changes)

    def note(self) -> str:
        """What the correction is: 'RETRACTED', 'an erratum was published'."""
        return self.label if self.label == "RETRACTED" else (self.what or self.label)

    def note_label(self) -> str:
        return "correction"

    def slack_note(self) -> str:
        return "correction: " + self.note()

    def notice_link(self) -> tuple[str, str]:
        if not self.notice_url:
            return "", ""
        scheme = "DOI" if "/" in self.notice else "PMID"  # a Crossref notice is a DOI
        return f"notice {scheme} {self.notice}", self.notice_url
