"""One vocabulary for a trial's status (and phase), whichever registry tells it:
ClinicalTrials.gov's ``overallStatus`` values (RECRUITING, COMPLETED, ACTIVE_NOT_RECRUITING ...),
shown one readable way ("Recruiting", "Active, not recruiting").

ISRCTN and other registries write statuses as free text ("Recruiting", "No longer recruiting",
"Stopped"); they are mapped onto that vocabulary, so one trial registered twice has one status
and a change is compared value for value, also against records kept before this mapping
existed (their statuses are normalised when read). A status outside the vocabulary is kept as
the registry wrote it, never guessed. Where a registry states none, it is derived from the
trial's dates (``status_from_dates``).

Phases are shown one way too (``phase_name``): CT.gov's PHASE2 and ISRCTN's "Phase II" are both
"Phase 2".
"""

from __future__ import annotations

import re
from typing import Any

#: ClinicalTrials.gov's overallStatus values and how a reader sees them.
STATUS_NAMES = {
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "RECRUITING": "Recruiting",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation",
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "SUSPENDED": "Suspended",
    "TERMINATED": "Terminated",
    "COMPLETED": "Completed",
    "WITHDRAWN": "Withdrawn",
    "UNKNOWN": "Unknown status",
    "AVAILABLE": "Available",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
    "WITHHELD": "Withheld",
}

#: Other registries' words (lower case, punctuation as spaces) -> the shared value.
_SYNONYMS = {
    "anticipated": "NOT_YET_RECRUITING",  # ISRCTN: recruitment has not started
    "pending": "NOT_YET_RECRUITING",
    "open": "RECRUITING",
    "no longer recruiting": "ACTIVE_NOT_RECRUITING",  # ISRCTN
    "closed to recruitment": "ACTIVE_NOT_RECRUITING",
    "active not recruiting": "ACTIVE_NOT_RECRUITING",
    "stopped": "TERMINATED",  # ISRCTN: stopped early
    "complete": "COMPLETED",
    "unknown": "UNKNOWN",
}


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z]+", " ", text.lower()).split())


_LOOKUP = {**{_words(value): value for value in STATUS_NAMES},
           **{_words(name): value for value, name in STATUS_NAMES.items()}, **_SYNONYMS}


def normalize_status(value: Any) -> str:
    """The shared value of a status as any registry wrote it ("" when none); a status outside
    the vocabulary is returned as written (whitespace tidied)."""
    text = " ".join(str(value or "").split())
    return _LOOKUP.get(_words(text), text)


def status_name(value: Any) -> str:
    """How a status is shown: 'Active, not recruiting' for ACTIVE_NOT_RECRUITING (or for
    ISRCTN's 'No longer recruiting'); a status outside the vocabulary as written."""
    status = normalize_status(value)
    return STATUS_NAMES.get(status, status)


def status_from_dates(start: str, recruitment_end: str, overall_end: str, as_of: str) -> str:
    """The status a registry that states none derives from its dates, as of *as_of* (ISO
    dates, "" when unknown): not yet recruiting before the recruitment start, recruiting until
    its end, active (not recruiting) until the trial's end, then completed. "" when the dates
    say nothing (no start and no end); never guessed past what they say."""
    if not as_of or not (start or recruitment_end or overall_end):
        return ""
    if overall_end and as_of > overall_end:
        return "COMPLETED"
    if recruitment_end and as_of > recruitment_end:
        return "ACTIVE_NOT_RECRUITING"
    if start and as_of < start:
        return "NOT_YET_RECRUITING"
    return "RECRUITING" if start else ""


#: A phase as either registry writes it: CT.gov's PHASE2, EARLY_PHASE1; ISRCTN's "Phase II/III".
_PHASE = re.compile(r"^(early )?phase ?(iv|i{1,3}|[0-4])(?:/(?:phase ?)?(iv|i{1,3}|[0-4]))?$")
_NUMBER = {"i": "1", "ii": "2", "iii": "3", "iv": "4"}
#: Words that say a trial has no phase (CT.gov's NA, ISRCTN's "Not Applicable" ...).
_NO_PHASE = {"", "na", "n a", "not applicable", "not specified"}


def phase_name(phases: Any) -> str:
    """How a trial's phases are shown, the same from every registry: "Phase 2" for CT.gov's
    PHASE2 and ISRCTN's "Phase II", "Phase 1/2" for [PHASE1, PHASE2] and "Phase I/II",
    "Early phase 1"; "" when it has none. A phase outside this is shown as written."""
    numbers: list[str] = []
    shown: list[str] = []
    for value in phases or []:
        text = " ".join(str(value).replace("_", " ").lower().split())
        text = re.sub(r"\s*/\s*", "/", text)
        if (match := _PHASE.match(text)) is None:
            if _words(text) not in _NO_PHASE:
                shown.append(" ".join(str(value).split()))
            continue
        if match.group(1):
            shown.append(f"Early phase {_NUMBER.get(match.group(2), match.group(2))}")
            continue
        for part in match.group(2, 3):
            number = _NUMBER.get(part, part) if part else ""
            if number and number not in numbers:
                numbers.append(number)
    if numbers:
        shown.insert(0, "Phase " + "/".join(sorted(numbers)))
    return ", ".join(shown)
