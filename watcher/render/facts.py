"""What an entry says about a study at a glance, the same in every channel: a trial's phase,
status, enrolment, labelled dates, sponsor and countries; a paper's sample size; every registry
id with the registry page it opens; and whether the study is retracted (or under an expression
of concern), which changes how an entry is shown and whether its conclusion is quoted.

A trial's sponsor is told here, once: a registry record has no journal, so the byline never
repeats it. A trial's dates are labelled ("starts Feb 2027", "completed Mar 2026"): a bare date
under a trial would read as a publication date."""

from __future__ import annotations

import re
from datetime import date
from typing import NamedTuple

from ..clock import utc_now
from ..models import Study
from ..parsers.pubmed_fields import REGISTRY_SCHEMES
from ..parsers.trial_status import normalize_status, phase_name, status_name
from ..sample_size import paper_sample_size


class RegistryId(NamedTuple):
    """One registry id as shown ('NCT01234567', 'EudraCT 2017-001234-56') and the registry's
    page for it ("" when the registry has no stable page per id, or the id is malformed)."""

    label: str
    url: str


#: Registers whose page for an id has a stable address: the id's exact form -> its page.
#: CTIS has none yet (its public portal's addresses changed in 2024); DRKS, ChiCTR and ANZCTR
#: ids are shown unlinked rather than linked to a guess.
_PAGES = {
    "nct": (re.compile(r"NCT\d{8}"), "https://clinicaltrials.gov/study/{id}"),
    "isrctn": (re.compile(r"ISRCTN\d{8}"), "https://www.isrctn.com/{id}"),
    "eudract": (re.compile(r"\d{4}-\d{6}-\d{2}"),
                "https://www.clinicaltrialsregister.eu/ctr-search/search?query={id}"),
}

#: Registry ids that read as bare numbers get the register's name in front.
_REGISTRY_NAMES = {"eudract": "EudraCT ", "ctis": "CTIS "}

#: The longest registry id shown whole (a CTIS number with its register's name is 22): an
#: accession is the publisher's free text, and one line must not become a page.
_ID_LIMIT = 40


def registry_id(scheme: str, value: str) -> RegistryId:
    """*value* of *scheme* as shown, with its page when the id has the register's exact form
    (a publisher's free-text accession is shown, cut, never linked)."""
    shown = _short_id(_REGISTRY_NAMES.get(scheme, "") + str(value))
    page = _PAGES.get(scheme)
    if page and page[0].fullmatch(str(value)):
        return RegistryId(shown, page[1].format(id=value))
    return RegistryId(shown, "")


def _short_id(value: str) -> str:
    """A linked id as one short line: whitespace (line breaks too) collapsed, cut with '…'."""
    value = " ".join(str(value).split())
    return value if len(value) <= _ID_LIMIT else value[:_ID_LIMIT - 1] + "…"


def _unique(found: list[RegistryId]) -> list[RegistryId]:
    return list({entry.label: entry for entry in found}.values())


def trial_ids(study: Study) -> list[RegistryId]:
    """A registry record's own ids in every registry it is in (a trial registered with both
    ClinicalTrials.gov and ISRCTN is one study holding both ids): each is shown and linked.
    Empty for a paper."""
    if study.kind != "trial":
        return []
    return _unique([registry_id(scheme, study.ids[scheme]) for scheme in REGISTRY_SCHEMES
                    if study.ids.get(scheme)])


def reported_trials(study: Study) -> list[RegistryId]:
    """The trials a paper reports (from its DataBankList and abstract), which a clinician
    follows to the registry. Empty for a registry record, whose own ids are :func:`trial_ids`."""
    if study.kind == "trial":
        return []
    return _unique([registry_id(scheme, value) for scheme in REGISTRY_SCHEMES
                    for value in study.linked_ids.get(scheme, [])])


def reports_lead(count: int) -> str:
    """'reports trial' or 'reports trials', before the ids."""
    return "reports trial" + ("s" if count > 1 else "")


def registrations(study: Study, limit: int = 3) -> str:
    """'reports trial NCT02149199, ISRCTN12345678': a paper's :func:`reported_trials` as plain
    text (the text renderers; Slack and email link each id). Empty for a registry record."""
    if study.kind == "trial":
        return ""
    return id_text(study, limit)


def id_text(study: Study, limit: int = 3) -> str:
    """:func:`shown_ids` as plain text: 'NCT01234567, ISRCTN12345678' for a trial, 'reports
    trial NCT02149199' for a paper, "" when there are none."""
    lead, ids, more = shown_ids(study, limit)
    if not ids:
        return ""
    return (lead + " " if lead else "") + ", ".join(entry.label for entry in ids) + more


def source_parts(study: Study) -> list[str]:
    """Where a paper appeared, for its byline: journal and publication date. Nothing for a
    trial: its "journal" is its sponsor (told once, in :func:`trial_facts`) and its date the
    start (told there, labelled); its registry ids say where it is registered."""
    if study.kind == "trial":
        return []
    return [part for part in (study.journal, study.published) if part]


def shown_ids(study: Study, limit: int = 3) -> tuple[str, list[RegistryId], str]:
    """(lead, ids, more) for a byline: a trial's own ids, or the trials a paper reports after
    'reports trial(s)' (at most *limit*, then ' and N more')."""
    if study.kind == "trial":
        return "", trial_ids(study), ""
    ids = reported_trials(study)
    if not ids:
        return "", [], ""
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return reports_lead(len(ids)), ids[:limit], more


# --- a trial's facts ----------------------------------------------------------------------------

def month(iso: str) -> str:
    """'Feb 2027' for '2027-02' or '2027-02-15' (a registry often knows only the month); the
    year alone for '2027'; "" for anything else."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-\d{2})?)?", str(iso or "").strip())
    if not match:
        return ""
    if not match.group(2) or not 1 <= int(match.group(2)) <= 12:
        return match.group(1)
    return date(int(match.group(1)), int(match.group(2)), 1).strftime("%b %Y")


def _passed(iso: str, today: date) -> bool:
    """Whether the (possibly partial) date *iso* is before *today*'s month, or today."""
    return str(iso)[:10] <= today.isoformat()[:len(str(iso)[:10])]


def trial_dates(study: Study, today: date | None = None) -> str:
    """'started Mar 2025 · completion expected Aug 2028': the dates a clinician decides on,
    each labelled, as of *today* (default: now). A start in the future 'starts'; a start that
    never happened (withdrawn, even if planned for later, or not yet recruiting past its
    planned day) is 'planned start';
    the end is 'completed' or 'stopped' (terminated) once the registry says so, 'completion
    expected' while ahead and 'completion was due' when past but not reported. Results posted
    are told. With neither start nor end, the day it was registered."""
    today = today or utc_now().date()
    d = study.details
    status = normalize_status(d.get("overall_status"))
    parts = []
    start = str(d.get("start_date") or "")
    if month(start):
        if status == "WITHDRAWN" or (status == "NOT_YET_RECRUITING" and _passed(start, today)):
            parts.append(f"planned start {month(start)}")  # it never started (or not yet)
        elif not _passed(start, today):
            parts.append(f"starts {month(start)}")
        else:
            parts.append(f"started {month(start)}")
    end = str(d.get("completion_date") or "")
    if month(end) and status != "WITHDRAWN":
        if status == "COMPLETED":
            parts.append(f"completed {month(end)}")
        elif status == "TERMINATED":
            parts.append(f"stopped {month(end)}")
        elif not _passed(end, today) or today.isoformat().startswith(end[:10]):
            parts.append(f"completion expected {month(end)}")  # (its day or month is not over)
        else:
            parts.append(f"completion was due {month(end)}")
    if month(str(d.get("results_first_posted") or "")):
        parts.append(f"results posted {month(d['results_first_posted'])}")
    if not parts and month(str(d.get("first_posted") or "")):
        parts.append(f"registered {month(d['first_posted'])}")
    return " · ".join(parts)


def trial_facts(study: Study, today: date | None = None) -> str:
    """'Phase 2 · Recruiting · 60 participants (estimated) · started Mar 2025 · Sponsor ·
    Israel, United States': what a clinician scans a trial for, in one vocabulary whichever
    registry told it. The sponsor is told here only. Empty for publications."""
    if study.kind != "trial":
        return ""
    d = study.details
    parts = [phase_name(d.get("phases")), status_name(d.get("overall_status"))]
    if d.get("enrollment") not in (None, ""):
        kind = str(d.get("enrollment_type") or "").lower()
        parts.append(f"{d['enrollment']} participants" + (f" ({kind})" if kind else ""))
    parts.append(trial_dates(study, today))
    parts.append(str(d.get("lead_sponsor") or ""))
    countries = [str(c) for c in d.get("countries") or []]
    if countries:
        more = f" and {len(countries) - 3} more" if len(countries) > 3 else ""
        parts.append(", ".join(countries[:3]) + more)
    return " · ".join(part for part in parts if part)


def study_facts(study: Study) -> str:
    """The facts line under an entry: a trial's :func:`trial_facts`, or a paper's sample size
    ('n=412') read from its abstract at render time (no stored field: every stored paper gets
    it, and a better reading applies to all of them at once). Empty when there is none."""
    if study.kind == "trial":
        return trial_facts(study)
    found = paper_sample_size(study)
    return found.label() if found else ""


# --- retractions ------------------------------------------------------------------------------

RETRACTED = "retracted"
CONCERN = "concern"

#: The label (``item_labels``) that carries each warning.
WARNING_LABEL = {RETRACTED: "RETRACTED", CONCERN: "expression of concern"}
#: What an entry set apart says (email and terminal; Slack's line is shorter).
WARNING_TEXT = {RETRACTED: "RETRACTED: this paper has been retracted; do not rely on its findings",
                CONCERN: "Expression of concern published about this paper"}


def warning(labels: list[str]) -> str:
    """RETRACTED when an entry's labels (``item_labels``) say the study is retracted, CONCERN
    when an expression of concern was published about it, else ""."""
    if "RETRACTED" in labels:
        return RETRACTED
    return CONCERN if "expression of concern" in labels else ""


def without_warning(labels: list[str]) -> list[str]:
    """*labels* less the one an entry's warning shows instead (a tag would look routine)."""
    shown = WARNING_LABEL.get(warning(labels))
    return [label for label in labels if label != shown]


def quoted_conclusion(labels: list[str], found: str) -> str:
    """The conclusion an entry quotes, given its *labels* and the abstract's conclusion
    *found*: none for a retracted study (quoted under its title it reads as a finding, and
    skimming readers take the quote, not the tag; its PubMed page keeps the abstract beside
    the retraction notice); for one under an expression of concern, labelled as the paper's
    own claim; else as found."""
    state = warning(labels)
    if state == RETRACTED or not found:
        return ""
    if state == CONCERN:
        return f"The paper's claim (under an expression of concern): {found}"
    return found
