"""Strongest evidence first: the class of evidence an item is, the order a section lists its
items in, and which few items the top of a digest names.

A clinician triaging a week's digest wants, in each condition: first the news about what they
were already told (a retraction, a correction, a trial stopped or its results posted), then
syntheses, randomised trials, other clinical studies, new trial registrations (and smaller
changes to trials already told), narrative reviews, case reports, editorials, letters and
comments, and last preclinical and animal work; newest first within a class. The class is read
from the record's MEDLINE publication types, or, before MEDLINE indexes it, from the design
:mod:`watcher.labels` infers from its title and abstract. Pure functions: no I/O, no SQL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import IntEnum
from typing import Protocol, TypeVar

from .events import Correction, Event, TrialChanged
from .labels import has_real_types, infer_design
from .models import Study


class Evidence(IntEnum):
    """Evidence classes, strongest (listed first) to weakest."""

    NEWS = 0  # retraction, correction, trial stopped or results posted
    SYNTHESIS = 1  # systematic review, meta-analysis
    RCT = 2
    CLINICAL = 3  # any other study of patients
    REGISTRATION = 4  # a new trial registration, a protocol, a smaller change to a told trial
    REVIEW = 5  # narrative review
    CASE = 6
    COMMENT = 7  # editorial, letter, comment, news
    PRECLINICAL = 8  # animal or laboratory work


#: Classes a digest's highlights are chosen from.
HIGHLIGHT_CLASSES = (Evidence.NEWS, Evidence.SYNTHESIS, Evidence.RCT)

#: Order within NEWS: a retraction, a trial stopped, its results posted, another correction.
RETRACTION, STOPPED, RESULTS, CORRECTED = range(4)

_RETRACTED_TYPES = {"Retracted Publication", "Retraction of Publication"}
_NOTICE_TYPES = {"Published Erratum", "Expression of Concern", "Retraction of Publication"}
_COMMENT_TYPES = {"Editorial", "Letter", "Comment", "News", "Newspaper Article"}
_SYNTHESIS_TYPES = {"Meta-Analysis", "Systematic Review", "Network Meta-Analysis"}
_STOPPED = re.compile(r"\b(?:terminated|suspended|withdrawn|stopped)\b", re.I)
#: A change phrase's first word -> its field, for change events stored without fields.
_FIELD_OF = {"status": "status", "results": "results", "why": "why_stopped"}
_NARRATIVE = re.compile(r"\b(?:review|overview)\b", re.I)


def _types(study: Study, labels: list[str]) -> set[str]:
    """Publication types, a veterinary design read as its design, plus the filters' labels."""
    return {t.removesuffix(", Veterinary") for t in [*study.publication_types, *labels]}


def news_rank(event: Event, study: Study | None, labels: Sequence[str] = ()) -> int | None:
    """Where the item sits within NEWS, or None when it is not news of something told."""
    if isinstance(event, Correction):
        return RETRACTION if event.label == "RETRACTED" else CORRECTED
    if isinstance(event, TrialChanged):
        said = dict(zip(event.fields, event.changes, strict=False))
        if not event.fields:  # stored before fields were: each phrase names its field first
            said = {_FIELD_OF.get(p.split(" ", 1)[0].rstrip(":"), ""): p for p in event.changes}
        status = said.get("status", "").rsplit("→", 1)[-1]
        if _STOPPED.search(status) or said.get("why_stopped", "").startswith("why stopped: "):
            return STOPPED
        if said.get("results", "").startswith("results posted"):
            return RESULTS
        return None
    if study is None:
        return None
    types = _types(study, list(labels))
    links = {str(link.get("type", "")) for link in (study.details or {}).get("corrections") or []
             if isinstance(link, dict)}
    if types & _RETRACTED_TYPES or "RetractionIn" in links:
        return RETRACTION
    if types & _NOTICE_TYPES:
        return CORRECTED
    return None


def evidence_class(event: Event, study: Study | None, labels: Sequence[str] = ()) -> Evidence:
    """The item's evidence class (see the module docstring)."""
    if news_rank(event, study, labels) is not None:
        return Evidence.NEWS
    if study is None or study.kind == "trial":
        return Evidence.REGISTRATION
    types = _types(study, list(labels))
    indexed = has_real_types(study.publication_types)
    inferred = set() if indexed else set(infer_design(study.title, study.abstract))
    if study.non_human or "non-human" in types or "animal" in inferred:
        return Evidence.PRECLINICAL
    if types & _SYNTHESIS_TYPES or inferred & {"meta-analysis", "systematic review"}:
        return Evidence.SYNTHESIS
    if "Randomized Controlled Trial" in types or "RCT" in inferred:
        return Evidence.RCT
    if "Clinical Trial Protocol" in types or "protocol" in inferred:
        return Evidence.REGISTRATION
    if "Case Reports" in types or "case report" in inferred:
        return Evidence.CASE
    if "Review" in types or (not indexed and _NARRATIVE.search(study.title)):
        return Evidence.REVIEW
    if types & _COMMENT_TYPES:
        return Evidence.COMMENT
    return Evidence.CLINICAL


_NEWS_REASONS = {RETRACTION: "RETRACTED", STOPPED: "trial stopped", RESULTS: "results posted",
                 CORRECTED: "corrected"}


def reason(event: Event, study: Study | None, labels: Sequence[str] = ()) -> str:
    """Why an item is a highlight, in a word or two ('RETRACTED', 'trial stopped',
    'meta-analysis', 'RCT'); '' for an item of no highlight class."""
    rank = news_rank(event, study, labels)
    if rank == STOPPED and isinstance(event, TrialChanged):
        # withdrawn (it never enrolled), terminated or suspended: not the same news
        status = " ".join(p for p in event.changes if p.startswith("status")).rsplit("→", 1)[-1]
        if found := _STOPPED.search(status):
            return f"trial {found.group(0).lower()}"
    if rank is not None:
        return _NEWS_REASONS[rank]
    kind = evidence_class(event, study, labels)
    if kind == Evidence.SYNTHESIS and study is not None:
        types = _types(study, list(labels))
        return "meta-analysis" if "Meta-Analysis" in types or "Network Meta-Analysis" in types \
            else "systematic review"
    return "RCT" if kind == Evidence.RCT else ""


def newest(event: Event, study: Study | None) -> str:
    """The date an item is ordered by, newest first: when the news was found for news, else
    when the source first listed the study."""
    if study is None or news_rank(event, study) is not None:
        return event.created or ""
    return study.entry_date or str((study.details or {}).get("first_posted") or "") or (
        event.created or "")


def strength(event: Event, study: Study | None, labels: Sequence[str] = ()) -> tuple[int, int]:
    """(class, rank within NEWS): smaller is stronger. Sort by :func:`newest` descending
    first, then stably by this, for "strongest first, newest first within a class"."""
    kind = evidence_class(event, study, labels)
    rank = news_rank(event, study, labels) if kind == Evidence.NEWS else 0
    return int(kind), rank or 0


class Told(Protocol):
    """A digest item as ordering sees it (watcher.digest.DigestItem)."""

    event: Event
    study: Study | None
    labels: list[str]


Item = TypeVar("Item", bound=Told)


def in_order(items: list[Item]) -> list[Item]:
    """*items* strongest class first, newest first within a class (a stable order otherwise)."""
    newest_first = sorted(items, key=lambda i: newest(i.event, i.study), reverse=True)
    return sorted(newest_first, key=lambda i: strength(i.event, i.study, i.labels))


def highlights(items: list[Item], most: int) -> list[Item]:
    """The few items the top of a digest names: up to *most* of its strongest items that are
    news about something told (a retraction first, then a trial stopped, results posted, a
    correction), a systematic review or meta-analysis, or a randomised trial, in that order,
    newest first within each. None when the digest has *most* items or fewer: each is then
    already in sight."""
    if len(items) <= most:
        return []
    return [item for item in in_order(items)
            if evidence_class(item.event, item.study, item.labels) in HIGHLIGHT_CLASSES][:most]
