"""RIS, as Zotero, EndNote and Mendeley import it, written by rispy: a paper as JOUR (a
preprint as a manuscript), a registered trial as CTRIAL with its registry ids, status, phase and
sponsor. PMID goes in AN, PMCID in C2 (EndNote's and PubMed's own convention), and both again in
N1 notes, which every reference manager keeps."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import rispy

from .common import (
    Exported,
    authors,
    corrections,
    journal_info,
    keywords,
    link,
    page_range,
    registry_ids,
    trial_facts,
)

#: RIS type of each study kind.
TYPES = {"publication": "JOUR", "preprint": "UNPB", "trial": "CTRIAL"}


def entry(item: Exported) -> dict[str, Any]:
    """One RIS reference as rispy's field names; fields without a value are left out (RIS has
    no way to say "unknown": a study with no date simply has no PY)."""
    study = item.study
    ref: dict[str, Any] = {"type_of_reference": TYPES.get(study.kind, "GEN"),
                           "title": _line(study.title)}
    names = [_line(n.inverted) for n in authors(study)]
    notes = [_line(n) for n in corrections(item)]
    if study.kind == "trial":
        facts = trial_facts(study)
        ids = registry_ids(study)
        if ids:
            ref["accession_number"] = ids[0]
            notes.append("Registry ids: " + ", ".join(ids))
        if facts["sponsor"]:
            ref["publisher"] = _line(facts["sponsor"])
            notes.append(_line(f"Sponsor: {facts['sponsor']}"))
        if facts["status"]:
            ref["custom3"] = facts["status"]
            notes.append(f"Status: {facts['status']}")
        if facts["phase"]:
            ref["custom4"] = facts["phase"]
            notes.append(f"Phase: {facts['phase']}")
        ref["name_of_database"] = "ClinicalTrials.gov" if study.ids.get("nct") else "ISRCTN"
    else:
        journal = journal_info(study)
        _put(ref, "secondary_title", _line(journal["title"]))
        _put(ref, "alternate_title2", _line(journal["abbreviation"]))
        _put(ref, "volume", journal["volume"])
        _put(ref, "number", journal["issue"])
        start, end = page_range(journal["pages"])
        _put(ref, "start_page", start)
        _put(ref, "end_page", end)
        _put(ref, "accession_number", study.ids.get("pmid", ""))
        _put(ref, "custom2", study.ids.get("pmcid", ""))
        for scheme, label in (("pmid", "PMID"), ("pmcid", "PMCID")):
            if study.ids.get(scheme):
                notes.append(f"{label}: {study.ids[scheme]}")
        ref["name_of_database"] = "PubMed" if study.ids.get("pmid") else study.source
    if names:
        ref["authors"] = names
    if study.year:
        ref["year"] = str(study.year)
    _put(ref, "date", _line(study.published))
    _put(ref, "doi", study.ids.get("doi", ""))
    url = link(study)
    if url:
        ref["urls"] = [url]
    _put(ref, "abstract", _line(study.abstract))
    words = [_line(k) for k in keywords(item)]
    if words:
        ref["keywords"] = words
    if notes:
        ref["notes"] = notes
    return ref


class _Writer(rispy.RisWriter):
    """rispy's RIS writer without its numbered line ("1.") before each reference: that line
    is no RIS tag, and EndNote's strict import stops at what is not one."""

    def set_header(self, count: int) -> str:
        return ""


def write(items: Iterable[Exported]) -> str:
    """The RIS file of *items* (empty for none)."""
    entries = [entry(item) for item in items]
    return rispy.dumps(entries, implementation=_Writer) if entries else ""


def _put(ref: dict[str, Any], key: str, value: str) -> None:
    if value:
        ref[key] = value


def _line(text: str) -> str:
    """RIS is one field per line: a value's own line breaks become spaces, or its next line
    would be read as a tag (or lost)."""
    return " ".join(text.split())
