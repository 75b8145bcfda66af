"""Pure parsers for ClinicalTrials.gov API v2 JSON: a search page, the /version answer, one
study into a normalized trial :class:`Study` (what changed between two versions of a trial is
``trial_changes.py``'s).

No network here. A response that is not the v2 shape (the retired classic API's
``FullStudiesResponse``, an HTML error page, invalid JSON) is refused with one clear line rather
than read as zero studies; one study that cannot be read fails alone (``parse_records``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..errors import ParseError
from ..models import SourceRecord, Study
from .trial_status import normalize_status

SOURCE = "clinicaltrials"
STUDY_URL = "https://clinicaltrials.gov/study/{nct}"
_NCT = re.compile(r"^NCT\d{8}$")
_EUDRACT = re.compile(r"(?<!\d)(\d{4}-\d{6}-\d{2})(?![\d-]\d)")  # EUCTR2004-000123-45-GB
_CTIS = re.compile(r"(?<!\d)(\d{4}-\d{6}-\d{2}-\d{2})(?!\d)")
_ISRCTN = re.compile(r"\bISRCTN\s*(\d{8})\b", re.IGNORECASE)
_PARTIAL_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
#: Top-level keys of the classic API (retired June 2024), to name it when a server answers so.
_LEGACY_KEYS = ("FullStudiesResponse", "StudyFieldsResponse", "FieldValuesResponse")




@dataclass
class SearchPage:
    """One /studies answer: its studies as JSON objects, the total (first page only, when
    countTotal=true) and the token of the next page (absent on the last one)."""

    studies: list[dict[str, Any]]
    total: int | None
    next_token: str | None


# --- responses --------------------------------------------------------------------------------

def load_json(body: bytes | str, what: str) -> Any:
    """The decoded JSON of a response, or a ParseError naming what came instead."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    stripped = text.lstrip()
    if not stripped:
        raise ParseError(f"ClinicalTrials.gov {what}: empty response body")
    if stripped[:15].lower().startswith(("<!doctype html", "<html")):
        raise ParseError(f"ClinicalTrials.gov {what}: received an HTML page, not API v2 JSON "
                         "(an error page or a wrong WATCHER_CTGOV_URL)")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ParseError(f"ClinicalTrials.gov {what}: invalid JSON ({exc.msg} at line "
                         f"{exc.lineno} column {exc.colno})") from None


def _refuse_legacy(data: Any, what: str) -> None:
    if isinstance(data, dict):
        for key in _LEGACY_KEYS:
            if key in data:
                raise ParseError(
                    f"ClinicalTrials.gov {what}: the answer is in the retired classic API "
                    f"format ({key}), not API v2; WATCHER_CTGOV_URL must point at "
                    "https://clinicaltrials.gov/api/v2/")


def parse_search_page(body: bytes | str) -> SearchPage:
    """A /studies page; anything but {"studies": [...], ...} is a ParseError."""
    what = "search"
    data = load_json(body, what)
    _refuse_legacy(data, what)
    if not isinstance(data, dict) or not isinstance(data.get("studies"), list):
        shown = ", ".join(sorted(data)[:5]) if isinstance(data, dict) else type(data).__name__
        raise ParseError(f"ClinicalTrials.gov {what}: not an API v2 search answer (no "
                         f"'studies' list; got {shown or 'an empty object'})")
    studies = data["studies"]
    if not all(isinstance(s, dict) for s in studies):
        raise ParseError(f"ClinicalTrials.gov {what}: 'studies' holds something that is not a "
                         "study object")
    total = data.get("totalCount")
    if total is not None and (not isinstance(total, int) or isinstance(total, bool)
                              or total < 0):
        raise ParseError(f"ClinicalTrials.gov {what}: totalCount {total!r} is not a count")
    token = data.get("nextPageToken")
    if token is not None and (not isinstance(token, str) or not token):
        raise ParseError(f"ClinicalTrials.gov {what}: nextPageToken {token!r} is not a token")
    return SearchPage(studies, total, token or None)


def parse_version(body: bytes | str) -> datetime:
    """/version -> the registry's data timestamp (UTC, 'yyyy-MM-ddTHH:mm:ss')."""
    what = "/version"
    data = load_json(body, what)
    _refuse_legacy(data, what)
    stamp = data.get("dataTimestamp") if isinstance(data, dict) else None
    if not isinstance(stamp, str):
        raise ParseError(f"ClinicalTrials.gov {what}: no dataTimestamp in the answer")
    try:
        return datetime.fromisoformat(stamp.strip().removesuffix("Z"))
    except ValueError:
        raise ParseError(f"ClinicalTrials.gov {what}: dataTimestamp {stamp!r} is not a "
                         "date and time") from None


def study_records(studies: list[dict[str, Any]]) -> list[SourceRecord]:
    """Each study of a page as a record: raw JSON kept, parsed alone (one bad study fails
    alone and is set aside by the core; the others are stored)."""
    return [_record(json.dumps(study, sort_keys=True), study) for study in studies]


def parse_records(raws: list[str]) -> list[SourceRecord]:
    """Re-parse kept raw records offline (SPEC.parse_records)."""
    records = []
    for raw in raws:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            records.append(SourceRecord("", raw, None, f"invalid JSON ({exc.msg})"))
            continue
        records.append(_record(raw, data))
    return records


def _record(raw: str, data: Any) -> SourceRecord:
    nct = nct_of(data)
    try:
        study = parse_study(data)
    except ParseError as exc:
        return SourceRecord(nct, raw, None, str(exc))
    return SourceRecord(nct, raw, study, None, study.details.get("last_update_posted"))


def nct_of(data: Any) -> str:
    """The study's NCT id, or "" when it has none (it cannot be stored under an id then)."""
    try:
        value = data["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError):
        return ""
    return value.strip().upper() if isinstance(value, str) else ""


# --- one study --------------------------------------------------------------------------------

def parse_study(data: Any) -> Study:
    """One v2 study object into a normalized trial. Raises ParseError (naming the NCT id) when
    it lacks what every registered study has: its id and its status module."""
    if not isinstance(data, dict):
        raise ParseError("ClinicalTrials.gov study: not a JSON object")
    _refuse_legacy(data, "study")
    protocol = _dict(data.get("protocolSection"))
    ident = _dict(protocol.get("identificationModule"))
    nct = nct_of(data)
    if not nct:
        raise ParseError("ClinicalTrials.gov study: no protocolSection.identificationModule."
                         "nctId")
    if not _NCT.match(nct):
        raise ParseError(f"ClinicalTrials.gov study {nct}: nctId is not NCT and 8 digits")
    if not isinstance(protocol.get("statusModule"), dict):
        raise ParseError(f"ClinicalTrials.gov study {nct}: no statusModule (status and dates "
                         "unknown)")
    status = protocol["statusModule"]
    design = _dict(protocol.get("designModule"))
    enrollment = _dict(design.get("enrollmentInfo"))
    sponsor = _text(_dict(_dict(protocol.get("sponsorCollaboratorsModule")).get("leadSponsor"))
                    .get("name"))
    arms = _dict(protocol.get("armsInterventionsModule"))
    interventions = [i for i in _list(arms.get("interventions")) if isinstance(i, dict)]
    locations = _list(_dict(protocol.get("contactsLocationsModule")).get("locations"))
    officials = _list(_dict(protocol.get("contactsLocationsModule")).get("overallOfficials"))
    derived = _dict(data.get("derivedSection"))
    brief = _text(ident.get("briefTitle")) or _text(ident.get("officialTitle")) or nct

    secondary = []
    for info in _list(ident.get("secondaryIdInfos")):
        if isinstance(info, dict) and _text(info.get("id")):
            secondary.append({key: _text(info.get(key)) for key in ("id", "type", "domain")
                              if _text(info.get(key))})
    start, start_type = _date_struct(status.get("startDateStruct"), nct, "start date")
    primary, primary_type = _date_struct(status.get("primaryCompletionDateStruct"), nct,
                                         "primary completion date")
    completion, completion_type = _date_struct(status.get("completionDateStruct"), nct,
                                               "completion date")
    first_posted, _ = _date_struct(status.get("studyFirstPostDateStruct"), nct, "first posted")
    last_update, _ = _date_struct(status.get("lastUpdatePostDateStruct"), nct,
                                  "last update posted")
    results_posted, _ = _date_struct(status.get("resultsFirstPostDateStruct"), nct,
                                     "results first posted")
    has_results = data.get("hasResults")
    if not isinstance(has_results, bool):
        has_results = bool(results_posted or data.get("resultsSection"))
    count = enrollment.get("count")
    details: dict[str, Any] = {
        "nct_id": nct,
        "brief_title": _text(ident.get("briefTitle")),
        "official_title": _text(ident.get("officialTitle")),
        "acronym": _text(ident.get("acronym")),
        "overall_status": normalize_status(_text(status.get("overallStatus"))),
        "why_stopped": _text(status.get("whyStopped")),
        "phases": [p for p in _strings(design.get("phases"))],
        "study_type": _text(design.get("studyType")),
        "enrollment": count if isinstance(count, int) and not isinstance(count, bool) else None,
        "enrollment_type": _text(enrollment.get("type")),
        "start_date": start, "start_date_type": start_type,
        "primary_completion_date": primary, "primary_completion_date_type": primary_type,
        "completion_date": completion, "completion_date_type": completion_type,
        "conditions": _strings(_dict(protocol.get("conditionsModule")).get("conditions")),
        # what the trial measures first: one of the signs of what it is about (placement)
        "primary_outcomes": [_text(o.get("measure"))
                             for o in _list(_dict(protocol.get("outcomesModule"))
                                            .get("primaryOutcomes"))
                             if isinstance(o, dict) and _text(o.get("measure"))],
        "interventions": [_intervention(i) for i in interventions if _text(i.get("name"))],
        "lead_sponsor": sponsor,
        "countries": sorted({_text(loc.get("country")) for loc in locations
                             if isinstance(loc, dict) and _text(loc.get("country"))}),
        "first_posted": first_posted,
        "last_update_posted": last_update,
        "has_results": has_results,
        "results_first_posted": results_posted,
        "secondary_ids": secondary,
    }
    pmids = []
    for ref in _list(_dict(protocol.get("referencesModule")).get("references")):
        pmid = _text(ref.get("pmid")) if isinstance(ref, dict) else ""
        if pmid.isdigit() and pmid not in pmids:
            pmids.append(pmid)
    mesh = [_text(m.get("term")) for module in ("conditionBrowseModule",
                                                "interventionBrowseModule")
            for m in _list(_dict(derived.get(module)).get("meshes"))
            if isinstance(m, dict) and _text(m.get("term"))]
    authors = [_text(o.get("name")) for o in officials
               if isinstance(o, dict) and _text(o.get("name"))]
    return Study(
        source=SOURCE, kind="trial", ids={"nct": nct, **registry_ids(secondary)}, title=brief,
        abstract=_text(_dict(protocol.get("descriptionModule")).get("briefSummary")),
        authors=authors, journal=sponsor or "ClinicalTrials.gov", published=start or "",
        year=int(start[:4]) if start else None, entry_date=first_posted or None,
        publication_types=[], mesh_terms=mesh,
        linked_ids={"pmid": pmids} if pmids else {},
        url=STUDY_URL.format(nct=nct), details=details)


def registry_ids(secondary: list[dict[str, str]]) -> dict[str, str]:
    """Other registries' ids among a study's secondary ids (EudraCT, CTIS, ISRCTN), as Study id
    schemes, so a trial registered twice is one study. Grant numbers and sponsors' own
    protocol numbers are not ids of another registry and stay in details only."""
    ids: dict[str, str] = {}
    for info in secondary:
        value, kind = info.get("id", ""), info.get("type", "").upper()
        if kind in ("NIH", "FDA", "VA", "CDC", "AHRQ", "SAMHSA", "OTHER_GRANT"):
            continue
        if match := _ISRCTN.search(value):
            ids.setdefault("isrctn", f"ISRCTN{match.group(1)}")
        elif match := _CTIS.search(value):
            ids.setdefault("ctis", match.group(1))
        elif kind == "CTIS" and value.strip():
            ids.setdefault("ctis", value.strip())
        elif match := _EUDRACT.search(value):
            ids.setdefault("eudract", match.group(1))
    return ids


def _intervention(item: dict[str, Any]) -> str:
    kind = _text(item.get("type"))
    name = _text(item.get("name"))
    return f"{kind.replace('_', ' ').title()}: {name}" if kind else name


def _date_struct(value: Any, nct: str, what: str) -> tuple[str, str]:
    """A v2 date struct -> (date as given, type). Partial dates ('2010-05', '2010') are kept
    as they are: the registry does not know the day. Anything else is a ParseError."""
    if value is None:
        return "", ""
    if not isinstance(value, dict):
        raise ParseError(f"ClinicalTrials.gov study {nct}: {what} is not a date structure")
    raw = value.get("date")
    if raw is None or raw == "":
        return "", _text(value.get("type"))
    if not isinstance(raw, str) or not _PARTIAL_DATE.match(raw.strip()):
        raise ParseError(f"ClinicalTrials.gov study {nct}: {what} {raw!r} is not a date")
    raw = raw.strip()
    try:
        year, month, day = (int(p) for p in (raw.split("-") + ["1", "1"])[:3])
        date(year, month, day)
    except ValueError:
        raise ParseError(f"ClinicalTrials.gov study {nct}: {what} {raw!r} is not a date") \
            from None
    return raw, _text(value.get("type"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _strings(value: Any) -> list[str]:
    return [_text(v) for v in _list(value) if _text(v)]
