"""What changed between two versions of a trial, in the fields a query tracks: one phrase per
change ("status Recruiting → Completed"), shared by every registry (their details use the same
keys, their statuses one vocabulary)."""

from __future__ import annotations

from typing import Any

from ..models import Study
from .trial_status import normalize_status, phase_name, status_from_dates, status_name

#: Fields a query may track (`track:` in the YAML), in the order changes are listed.
TRACKABLE = ("status", "phases", "enrollment", "start_date", "primary_completion_date",
             "completion_date", "results", "why_stopped", "study_type", "conditions",
             "interventions", "sponsor", "countries", "title")
#: What the team is told about unless a query says otherwise.
DEFAULT_TRACK = ("status", "phases", "enrollment", "start_date", "primary_completion_date",
                 "completion_date", "results", "why_stopped")


def changed_fields(previous: Study, current: Study, tracked: list[str]
                   ) -> list[tuple[str, str]]:
    """What changed in the tracked fields between two versions of a trial, one phrase each
    ("status Recruiting → Completed") with the field it is about, so the changes several
    records of one trial report can be told once per field; empty when only untracked fields
    changed. An empty *tracked* means the defaults."""
    before, after = previous.details or {}, current.details or {}
    wanted = set(tracked or DEFAULT_TRACK)
    return [(name, phrase) for name in TRACKABLE if name in wanted
            for phrase in _CHANGES[name](before, after)]


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value) if value not in (None, "") else "none"


def _simple(key: str, label: str):
    def compare(before: dict, after: dict) -> list[str]:
        old, new = before.get(key), after.get(key)
        if (old or None) == (new or None):
            return []
        return [f"{label} {_shown(old)} → {_shown(new)}"]
    return compare


def _status(before: dict, after: dict) -> list[str]:
    """Compared in the shared vocabulary (a kept record may hold a registry's own words).

    A status derived from the dates (``status_as_of``, ISRCTN) moves with the calendar alone:
    the earlier version's status (derived, or none stated) is derived again from its own dates
    as of the same day, so only a change the registry made (its dates, or a status it states)
    is told, never the mere passing of time."""
    old = normalize_status(before.get("overall_status"))
    new = normalize_status(after.get("overall_status"))
    as_of = after.get("status_as_of") or ""
    if as_of and (before.get("status_as_of") or not old):
        old = status_from_dates(before.get("start_date") or "",
                                before.get("primary_completion_date") or "",
                                before.get("completion_date") or "", as_of)
    if old == new:
        return []
    return [f"status {status_name(old) or 'none'} → {status_name(new) or 'none'}"]


def _phases(before: dict, after: dict) -> list[str]:
    """Shown in the one phase vocabulary ('phase Phase 2 → Phase 2/3', not PHASE2/PHASE3)."""
    old, new = phase_name(before.get("phases")), phase_name(after.get("phases"))
    if old == new:
        return []
    return [f"phase {old or 'none'} → {new or 'none'}"]


def _dated(key: str, label: str):
    def compare(before: dict, after: dict) -> list[str]:
        old, new = before.get(key) or "", after.get(key) or ""
        old_type = (before.get(f"{key}_type") or "").lower()
        new_type = (after.get(f"{key}_type") or "").lower()
        if old != new:
            return [f"{label} {old or 'none'} → {new or 'none'}"
                    + (f" ({new_type})" if new and new_type else "")]
        if old_type != new_type and new:
            return [f"{label} {new} ({old_type or 'no type'} → {new_type or 'no type'})"]
        return []
    return compare


def _enrollment(before: dict, after: dict) -> list[str]:
    """An ISRCTN record kept by the earlier parser holds its "final" 0 as 0 (actual): read
    now as the target (estimated), it is no change the registry made, so none is told."""
    old, new = before.get("enrollment"), after.get("enrollment")
    if (after.get("isrctn_id") and old == 0 and new
            and (after.get("enrollment_type") or "").upper() == "ESTIMATED"):
        return []
    old_type = (before.get("enrollment_type") or "").lower()
    new_type = (after.get("enrollment_type") or "").lower()
    if old != new:
        return [f"enrollment {_shown(old)} → {_shown(new)}"
                + (f" ({new_type})" if new_type else "")]
    if old_type != new_type and new is not None:
        return [f"enrollment {new} ({old_type or 'no type'} → {new_type or 'no type'})"]
    return []


def _results(before: dict, after: dict) -> list[str]:
    old, new = bool(before.get("has_results")), bool(after.get("has_results"))
    posted = after.get("results_first_posted") or ""
    if new and (not old or posted != (before.get("results_first_posted") or "")):
        return [f"results posted {posted}".rstrip()]
    if old and not new:
        return ["results no longer posted"]
    return []


def _why_stopped(before: dict, after: dict) -> list[str]:
    old, new = before.get("why_stopped") or "", after.get("why_stopped") or ""
    if old == new:
        return []
    return [f"why stopped: {new}" if new else "why stopped: no longer given"]


_CHANGES = {
    "status": _status,
    "phases": _phases,
    "enrollment": _enrollment,
    "start_date": _dated("start_date", "start date"),
    "primary_completion_date": _dated("primary_completion_date", "primary completion"),
    "completion_date": _dated("completion_date", "completion"),
    "results": _results,
    "why_stopped": _why_stopped,
    "study_type": _simple("study_type", "study type"),
    "conditions": _simple("conditions", "conditions"),
    "interventions": _simple("interventions", "interventions"),
    "sponsor": _simple("lead_sponsor", "lead sponsor"),
    "countries": _simple("countries", "countries"),
    "title": _simple("brief_title", "title"),
}
assert set(_CHANGES) == set(TRACKABLE)
