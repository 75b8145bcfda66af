"""Corrections of what was already sent: a retraction, erratum or expression of concern of a
study the team was told about becomes one "correction" event, queued to the destinations that
had the study.

It is found from either side, whichever arrives first: the study's own record, fetched again
because PubMed revised it (a new "...In" link, or the Retracted Publication type), or the notice
record itself ("...For"/"...Of" naming the study). Both sides make the same event key, so a
correction is told once however many queries, polls or sides find it; a study has at most one
retraction event, and one erratum or expression-of-concern event per notice.

Who is told: a destination that was sent the study gets the correction. A destination that is
still owed the study gets it only when the study item it is about to receive would not show it
(its record does not carry the correction yet): the pending item is then labelled from the
record (see render.common.item_labels), so one digest never carries the study twice. A study no
destination was owed (excluded by the filters) is never corrected: it was never told. A
destination since removed from the YAML is not queued to; when all that had the study are gone,
the current destinations of the queries that found it are told instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .db import Store
from .events import Correction
from .events.correction import CORRECTION_KINDS, RETRACTED, links, shows
from .models import Study


class Routing(Protocol):
    """What corrections reads of the configuration (config.Config): which destinations exist
    and where each query's events go. A Protocol, so that this module (which the digest and the
    destinations' renderers sit on) does not import the YAML schema built from them."""

    @property
    def queries(self) -> Sequence[Any]: ...

    def all_destinations(self) -> Mapping[str, Any]: ...

    def routes(self, query: Any) -> tuple[str, ...]: ...

#: Publication types of a notice: a record that corrects another, never alerted as a study.
NOTICE_TYPES = ("Retraction of Publication", "Published Erratum", "Expression of Concern")


def is_correction_notice(study: Study) -> bool:
    return any(kind in study.publication_types for kind in NOTICE_TYPES)


def _notice_targets(study: Study) -> list[tuple[str, str]]:
    """(RefType stem, PMID) of each study this record is a notice for."""
    found = []
    for link in links(study):
        kind = str(link.get("type", ""))
        stem = kind.removesuffix("For").removesuffix("Of")
        if kind.endswith(("For", "Of")) and stem in CORRECTION_KINDS and link.get("pmid"):
            found.append((stem, str(link["pmid"])))
    return found


def corrects_a_kept_study(study: Study, store: Store) -> bool:
    """A notice naming a study we hold is told as that study's correction, not as a study.
    (A notice for a study we never had stays an ordinary record: the query's filters decide.)"""
    own = study.ids.get("pmid", "")
    return is_correction_notice(study) and any(
        pmid != own and store.find_study({"pmid": pmid}) is not None
        for _, pmid in _notice_targets(study))


def found_in(study_id: int, previous: Study | None, current: Study,
             store: Store) -> list[tuple[int, str, str]]:
    """(corrected study, RefType stem, notice PMID) for each correction this record reveals:
    what a kept record gained since its last version, and the studies a notice names."""
    found: list[tuple[int, str, str]] = []
    if previous is not None:  # a kept record came back: what it gained
        before = {(str(c.get("type")), str(c.get("pmid") or "")) for c in links(previous)}
        for link in links(current):
            kind, pmid = str(link.get("type", "")), str(link.get("pmid") or "")
            stem = kind.removesuffix("In")
            if kind.endswith("In") and stem in CORRECTION_KINDS and (kind, pmid) not in before:
                found.append((study_id, stem, pmid))
        if (RETRACTED in current.publication_types and RETRACTED not in
                previous.publication_types and not any(s == "Retraction" for _, s, _ in found)):
            # the type is new; a RetractionIn link it carries (one the version compared with
            # already had, or one it could not know) names the notice
            notices = [str(c.get("pmid") or "") for c in links(current)
                       if str(c.get("type", "")) == "RetractionIn"]
            found.append((study_id, "Retraction", next(filter(None, notices), "")))
    notice = current.ids.get("pmid", "")
    for stem, pmid in _notice_targets(current):
        target = store.find_study({"pmid": pmid})
        if target is not None and target != study_id:
            found.append((target, stem, notice))
    return found


def queue_corrections(study_id: int, previous: Study | None, current: Study, store: Store,
                      now: str, config: Routing | None = None) -> int:
    """Tell each correction *current* reveals once, to the destinations that had (or are owed
    and would not otherwise see) the corrected study. Returns the outbox rows added."""
    return sum(queue_correction(target, Correction.of(target, stem, notice), store, now, config,
                                stem=stem, notice=notice)
               for target, stem, notice in found_in(study_id, previous, current, store))


def queue_correction(target: int, event: Correction, store: Store, now: str,
                     config: Routing | None = None, *, stem: str, notice: str) -> int:
    """Tell *event* (a correction of study *target* of RefType *stem*, told by *notice*) once,
    to the destinations that had (or are owed and would not otherwise see) the study, whoever
    found it: PubMed's records or a look-up (watcher.lookups). Returns the outbox rows added."""
    states = store.new_item_states(target)
    if not states:
        return 0  # never told anyone (excluded by the filters): nothing to correct
    study = store.get_study(target)
    owed_sees_it = study is not None and shows(study, stem, notice)
    to = [name for name, state in states.items() if state in TOLD or not owed_sees_it]
    if config is not None:
        to = _still_configured(to, target, store, config)
    if not to:
        return 0  # the pending item will carry the label; an event later would repeat it
    event_id, new = store.add_event(event, now)
    if not new:
        return 0
    return sum(store.queue(destination, event_id, now) for destination in to)


def _still_configured(to: list[str], study_id: int, store: Store, config: Routing) -> list[str]:
    """*to* without destinations gone from the YAML; when every one that had the study is gone
    (renamed, or the terminal replaced by Slack), the current destinations of the queries that
    found it: the team was told, through a destination it no longer uses."""
    configured = config.all_destinations()
    kept = [name for name in to if name in configured]
    if kept or not to:
        return kept
    found_by = {match.query_id for match in store.matches_of(study_id)}
    return sorted({name for query in config.queries if query.id in found_by
                   for name in config.routes(query)})


#: States of a new-study item that may have reached its destination.
TOLD = ("sent", "sending", "retired_sending")
