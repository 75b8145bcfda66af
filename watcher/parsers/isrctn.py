"""Pure parsers for the ISRCTN registry's XML query API: a search answer (``allTrials`` holding
``fullTrial`` elements) and one trial into a normalized trial :class:`Study`.

No network here. The details are mapped onto the same keys as ClinicalTrials.gov's, so change
phrases are shared (``trial_changes``), and the status onto its vocabulary (``trial_status``).
Elements are matched by local name ({*}), so the registry's namespace may change without
breaking the reader; ElementTree fetches no external entities. A trial's ClinicalTrials.gov
number becomes ``ids["nct"]``: a trial registered in both registries is one study.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..errors import ParseError
from ..models import SourceRecord, Study
from .trial_changes import DEFAULT_TRACK, TRACKABLE, changed_fields
from .trial_status import normalize_status, status_from_dates

__all__ = ["DEFAULT_TRACK", "TRACKABLE", "SearchAnswer", "changed_fields", "parse_records",
           "parse_search", "parse_trial"]

SOURCE = "isrctn"
TRIAL_URL = "https://www.isrctn.com/{isrctn}"
_ISRCTN = re.compile(r"^(?:ISRCTN)?\s*(\d{8})$", re.IGNORECASE)
_NCT = re.compile(r"\bNCT\d{8}\b", re.IGNORECASE)
_EUDRACT = re.compile(r"(?<!\d)(\d{4}-\d{6}-\d{2})(?![\d-]\d)")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")




@dataclass
class SearchAnswer:
    """One query answer: each ``fullTrial`` as XML text and the ``totalCount`` it announced."""

    trials: list[str]
    total: int | None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml(body: bytes | str, what: str) -> ET.Element:
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    stripped = text.lstrip()
    if not stripped:
        raise ParseError(f"ISRCTN {what}: empty response body")
    if stripped[:15].lower().startswith(("<!doctype html", "<html")):
        raise ParseError(f"ISRCTN {what}: received an HTML page, not the query API's XML (an "
                         "error page or a wrong WATCHER_ISRCTN_URL)")
    if "<!ENTITY" in text:
        raise ParseError(f"ISRCTN {what}: the XML declares entities; refused")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise ParseError(f"ISRCTN {what}: invalid XML ({exc})") from None


def parse_search(body: bytes | str) -> SearchAnswer:
    """An ``allTrials`` answer; anything else is a ParseError (never read as zero trials)."""
    root = _xml(body, "search")
    if _local(root.tag) != "allTrials":
        raise ParseError(f"ISRCTN search: not a query answer (root <{_local(root.tag)}>, "
                         "expected <allTrials>)")
    raw_total = root.get("totalCount")
    total = None
    if raw_total is not None:
        if not raw_total.strip().isdigit():
            raise ParseError(f"ISRCTN search: totalCount {raw_total!r} is not a count")
        total = int(raw_total)
    trials = [ET.tostring(child, encoding="unicode") for child in root
              if _local(child.tag) == "fullTrial"]
    return SearchAnswer(trials, total)


def parse_records(raws: list[str], as_of: date | None = None) -> list[SourceRecord]:
    """Each kept ``fullTrial`` parsed alone (SPEC.parse_records): one bad trial fails alone.
    *as_of* is the day of the answer, which a status derived from the dates is told as of."""
    records = []
    for raw in raws:
        try:
            element = _xml(raw, "trial")
        except ParseError as exc:
            records.append(SourceRecord("", raw, None, str(exc)))
            continue
        isrctn = isrctn_of(element)
        try:
            study = parse_trial(element, as_of)
        except ParseError as exc:
            records.append(SourceRecord(isrctn, raw, None, str(exc)))
            continue
        records.append(SourceRecord(isrctn, raw, study, None,
                                    study.details.get("last_update_posted") or None))
    return records


def isrctn_of(full: ET.Element) -> str:
    """'ISRCTN' and 8 digits, or "" when the trial has none."""
    trial = full.find("{*}trial")
    node = trial.find("{*}isrctn") if trial is not None else None
    match = _ISRCTN.match(_clean(node.text if node is not None else None))
    return f"ISRCTN{match.group(1)}" if match else ""


def parse_trial(full: ET.Element, as_of: date | None = None) -> Study:
    """One ``fullTrial`` into a normalized trial. Raises ParseError when it lacks its ISRCTN
    number; every other field is optional (the registry's records vary in completeness).

    Where the trial states no status (the default format has none: the registry derives it
    from the recruitment dates), it is derived from them as of *as_of* and the day is kept as
    ``status_as_of``, so a change compares both versions as of one day (``trial_changes``)."""
    if _local(full.tag) != "fullTrial":
        raise ParseError(f"ISRCTN trial: <{_local(full.tag)}> is not a <fullTrial>")
    trial = full.find("{*}trial")
    if trial is None:
        raise ParseError("ISRCTN trial: no <trial> element")
    isrctn = isrctn_of(full)
    if not isrctn:
        raise ParseError("ISRCTN trial: no ISRCTN number (<trial><isrctn>)")
    refs = trial.find("{*}externalRefs")
    secondary = []
    for child in list(refs) if refs is not None else []:
        name = _local(child.tag)
        if name == "secondaryNumbers":
            secondary += [{"id": _clean(n.text), "type": n.get("numberType") or "secondary"}
                          for n in child if _clean(n.text)]
        elif name != "doi" and _clean(child.text):
            secondary.append({"id": _clean(child.text), "type": name})
    ids = {"isrctn": isrctn}
    for info in secondary:
        if "nct" not in ids and (match := _NCT.search(info["id"])):
            ids["nct"] = match.group(0).upper()
        elif "eudract" not in ids and (match := _EUDRACT.search(info["id"])):
            ids["eudract"] = match.group(1)
    title = _find(trial, "trialDescription/title") or isrctn
    # The final figure is 0 (or absent) until the trial ends: the target is what is expected.
    final = _count(_find(trial, "participants/totalFinalEnrolment"))
    target = _count(_find(trial, "participants/targetEnrolment"))
    interventions = trial.findall("{*}interventions/{*}intervention")
    phases = []
    for node in interventions:
        phase = _find(node, "phase")
        if phase and phase not in phases and phase.lower() not in ("not applicable", "n/a"):
            phases.append(phase)
    start = _day(_find(trial, "participants/recruitmentStart"))
    registered = _day((trial.find("{*}isrctn").get("dateAssigned") or "")
                      if trial.find("{*}isrctn") is not None else "")
    end = _day(_find(trial, "participants/recruitmentEnd"))
    overall_end = _day(_find(trial, "trialDesign/overallEndDate"))
    sponsor = _find(full, "sponsor/organisation")
    status = normalize_status(_find(trial, "participants/recruitmentStatusOverride")
                              or _find(trial, "trialDesign/overallStatusOverride")
                              or _find(trial, "participants/recruitmentStatus") or "")
    as_of_day = as_of.isoformat() if as_of and not status else ""
    if as_of_day:
        status = status_from_dates(start, end, overall_end, as_of_day)
    details: dict[str, Any] = {
        "isrctn_id": isrctn,
        "brief_title": title,
        "official_title": _find(trial, "trialDescription/scientificTitle"),
        "acronym": _find(trial, "trialDescription/acronym"),
        "overall_status": status,
        **({"status_as_of": as_of_day} if as_of_day else {}),
        "why_stopped": _find(trial, "trialDesign/reasonAbandoned"),
        "phases": phases,
        "study_type": _find(trial, "trialDesign/primaryStudyDesign"),
        "enrollment": final or target,
        "enrollment_type": "ACTUAL" if final else "ESTIMATED" if target is not None else "",
        "start_date": start, "start_date_type": "",
        "primary_completion_date": end,
        "primary_completion_date_type": "",
        "completion_date": overall_end,
        "completion_date_type": "",
        "conditions": _all(trial, "conditions/condition/description"),
        # what the trial measures first: one of the signs of what it is about (placement)
        "primary_outcomes": (_all(trial, "trialDescription/primaryOutcomes/outcomeMeasure/variable")
                             or _all(trial, "trialDescription/primaryOutcome")),
        "interventions": [_find(n, "drugNames") or _find(n, "description")
                          for n in interventions
                          if _find(n, "drugNames") or _find(n, "description")],
        "lead_sponsor": sponsor,
        "countries": sorted(set(_all(trial, "participants/recruitmentCountries/country"))),
        "first_posted": registered,
        "last_update_posted": _day(trial.get("lastUpdated") or ""),
        "has_results": False,
        "results_first_posted": "",
        "secondary_ids": secondary,
    }
    return Study(
        source=SOURCE, kind="trial", ids=ids, title=title,
        abstract=_find(trial, "trialDescription/plainEnglishSummary"),
        journal=sponsor or "ISRCTN", published=start, year=int(start[:4]) if start else None,
        entry_date=registered or None, url=TRIAL_URL.format(isrctn=isrctn), details=details)


def _path(path: str) -> str:
    return "/".join("{*}" + part for part in path.split("/"))


def _find(node: ET.Element, path: str) -> str:
    found = node.find(_path(path))
    return _clean(found.text if found is not None else None)


def _all(node: ET.Element, path: str) -> list[str]:
    values: list[str] = []
    for found in node.findall(_path(path)):
        value = _clean(found.text)
        if value and value not in values:
            values.append(value)
    return values


def _count(value: str) -> int | None:
    """A participant count, or None (also for 0: no final figure yet)."""
    digits = value.isascii() and value.isdigit()  # ('²' is a digit to isdigit, not to int)
    return int(value) if digits and int(value) > 0 else None


def _clean(value: str | None) -> str:
    return " ".join(value.split()) if value else ""


def _day(value: str) -> str:
    """The date part of an ISRCTN timestamp ('2021-03-01T00:00:00.000Z'), or ""."""
    match = _DATE.match(value.strip())
    return match.group(1) if match else ""
