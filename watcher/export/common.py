"""What every export format reads off a stored study: its authors as names, its registry ids,
its journal's volume, issue and pages, a trial's status, phase and sponsor, its conditions,
and whether it was retracted or corrected. Pure: no database, no network."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..db.export import StoredStudy
from ..models import Study
from ..parsers.trial_status import phase_name, status_name

#: Ids of a publication; every other id a study carries is a trial registry's.
PUBLICATION_IDS = ("pmid", "pmcid", "doi")

#: A record's own CommentsCorrections links -> what a reference manager's reader is told.
CORRECTION_NOTES = {"RetractionIn": "Retracted", "ErratumIn": "Erratum published",
                    "ExpressionOfConcernIn": "Expression of concern published"}
RETRACTED_TYPE = "Retracted Publication"


@dataclass(frozen=True)
class Name:
    """One author: family and given names, or a literal name (a collective, a trial official
    written as one string) that must not be split."""

    last: str
    first: str = ""
    literal: bool = False

    @property
    def inverted(self) -> str:
        """"Last, First" (RIS and CSV), or the literal name as written."""
        return self.last if self.literal or not self.first else f"{self.last}, {self.first}"


@dataclass(frozen=True)
class Exported:
    """A stored study with the names of the conditions its queries follow (not set aside by
    their filters), as every writer receives it."""

    stored: StoredStudy
    conditions: list[str]

    @property
    def study(self) -> Study:
        return self.stored.study


def exported(stored: StoredStudy, names: dict[str, str]) -> Exported:
    """*stored* with its conditions named by *names* (query id -> condition; a query the YAML
    no longer lists is named by its id)."""
    conditions: list[str] = []
    for match in stored.matches:
        name = names.get(match.query_id, match.query_id)
        if match.excluded is None and name not in conditions:
            conditions.append(name)
    return Exported(stored, conditions)


def authors(study: Study) -> list[Name]:
    """Byline order. PubMed's structured author list where kept (family and given names),
    else the names as the source wrote them, each kept whole."""
    structured = study.details.get("author_list") or []
    found = []
    for author in structured if isinstance(structured, list) else []:
        if not isinstance(author, dict):
            continue
        if author.get("collective_name"):
            found.append(Name(str(author["collective_name"]), literal=True))
        elif author.get("last_name"):
            first = str(author.get("fore_name") or author.get("initials") or "")
            suffix = str(author.get("suffix") or "")
            found.append(Name(str(author["last_name"]), f"{first} {suffix}".strip()
                              if suffix and first else first))
    if found:
        return found
    return [Name(name, literal=True) for name in study.authors if name.strip()]


def registry_ids(study: Study) -> list[str]:
    """The study's own trial registry ids (NCT, ISRCTN, EudraCT ...), NCT first."""
    ids = [v for k, v in study.ids.items() if k not in PUBLICATION_IDS and v]
    return sorted(ids, key=lambda v: not v.upper().startswith("NCT"))


def journal_info(study: Study) -> dict[str, str]:
    """{"title", "abbreviation", "volume", "issue", "pages"} where known ("" otherwise)."""
    info = study.details.get("journal_info") or {}
    info = info if isinstance(info, dict) else {}
    title = str(info.get("title") or "") or study.journal
    return {"title": title, "abbreviation": str(info.get("iso_abbreviation") or ""),
            "volume": str(info.get("volume") or ""), "issue": str(info.get("issue") or ""),
            "pages": _pages(str(info.get("pages") or ""), study.ids.get("doi", ""))}


def _pages(pages: str, doi: str) -> str:
    """The pages, or an e-locator such as e0123; not a DOI (the parser's stand-in for an
    online-only paper's pages): it is the DOI field's, and as pages a reference manager would
    show 'Pages: 10.1177/...'."""
    if (doi and pages.casefold() == doi.casefold()) or re.match(r"10\.\d{4,9}/", pages):
        return ""
    return pages


def page_range(pages: str) -> tuple[str, str]:
    """MEDLINE's "123-9" as start and end pages ("123", "129"); an e-locator stays whole."""
    match = re.fullmatch(r"\s*(\w+)\s*[-\u2013]\s*(\w+)\s*", pages)
    if not match:
        return pages.strip(), ""
    start, end = match.groups()
    if start.isdigit() and end.isdigit() and len(end) < len(start):
        end = start[: len(start) - len(end)] + end
    return start, end


def trial_facts(study: Study) -> dict[str, str]:
    """{"status", "phase", "sponsor"} of a trial ("" where unknown or not a trial), in the one
    vocabulary the digests use for every registry ("Active, not recruiting", "Phase 2"), never
    a registry's codes (ACTIVE_NOT_RECRUITING, PHASE2)."""
    details = study.details
    phases = details.get("phases") or []
    return {"status": status_name(details.get("overall_status")),
            "phase": phase_name(phases) if isinstance(phases, list) else "",
            "sponsor": str(details.get("lead_sponsor") or "")}


def corrections(exported_study: Exported) -> list[str]:
    """What reference managers should show of the study's corrections, retraction first:
    "Retracted (notice PMID 123)", from its own record and from what the team was told."""
    study = exported_study.study
    notes: dict[str, str] = {}
    for link in study.details.get("corrections") or []:
        note = CORRECTION_NOTES.get(str(link.get("type", ""))) if isinstance(link, dict) else None
        if note and note not in notes:
            notice = str(link.get("pmid") or "")
            notes[note] = f"{note} (notice PMID {notice})" if notice else note
    for event in exported_study.stored.events:
        if event.kind == "correction" and event.details.get("label") == "RETRACTED":
            notice = str(event.details.get("notice") or "")
            notes.setdefault("Retracted", f"Retracted (notice PMID {notice})" if notice
                             else "Retracted")
    if RETRACTED_TYPE in study.publication_types:
        notes.setdefault("Retracted", "Retracted")
    return sorted(notes.values(), key=lambda n: not n.startswith("Retracted"))


def retracted(exported_study: Exported) -> bool:
    return any(n.startswith("Retracted") for n in corrections(exported_study))


def keywords(exported_study: Exported) -> list[str]:
    """The conditions matched, and "Retracted Publication" for a retracted study (the keyword
    reference managers let a reader filter on)."""
    found = list(exported_study.conditions)
    if retracted(exported_study):
        found.append(RETRACTED_TYPE)
    return found


def link(study: Study) -> str:
    """The study's page: PubMed for a paper with a PMID, else its own URL, else its DOI."""
    if study.ids.get("pmid"):
        return f"https://pubmed.ncbi.nlm.nih.gov/{study.ids['pmid']}/"
    if study.url:
        return study.url
    return f"https://doi.org/{study.ids['doi']}" if study.ids.get("doi") else ""
