"""Build the digest a destination receives: pending events grouped by condition, plus a receipt.

Pure data in, pure data out: the pipeline hands in pending items (events with their studies and
matches) and poll receipts; renderers turn the :class:`Digest` into text, Slack blocks or email.
Filters are re-judged here with the queries' current settings, so an item queued before a
filter changed is withheld rather than sent under a wrong heading.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from . import evidence
from .db.report_rows import HeldRecord, Outage
from .db.rows import PendingItem, PollRow
from .events import Correction, Event, NewStudy, TrialChanged
from .filters import Filters, judge
from .models import Study
from .placement import Topic, beside_their_trials, primary_first, with_their_trials
from .receipts import SourceReceipt, receipts
from .sources import PRIORITY

__all__ = ["Digest", "DigestItem", "RoutedQuery", "Section", "SourceReceipt", "build", "limit",
           "receipts", "select"]


@dataclass(frozen=True)
class RoutedQuery:
    """A query whose events go to the destination: its heading and its current filters."""

    condition: str
    filters: Filters
    #: source -> the search this query sends there (PubMed: {"term": ...}; ClinicalTrials.gov:
    #: its query.* parameters): what a link showing the studies a digest held back asks.
    searches: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass
class DigestItem:
    event: Event
    study: Study | None  # None for events about a query rather than a study
    conditions: list[str]  # every condition it matched, its primary one first
    labels: list[str]
    outbox_id: int
    #: Outbox rows of the study's other change events this item tells too (see merge_changes).
    merged: list[int] = field(default_factory=list)

    @property
    def outbox_ids(self) -> list[int]:
        """Every outbox row this item delivers: a message carrying it carries them all."""
        return [self.outbox_id, *self.merged]


#: At most this many items are named at the top of a digest (see :func:`highlights`).
MAX_HIGHLIGHTS = 3


@dataclass
class Section:
    """One condition's part of a digest. *items* are the studies told in full here (this is
    their primary condition, ``item.conditions[0]``); *pointers* are studies that matched this
    condition too but are told in full under their own primary condition: a one-line pointer
    each, so every condition's specialist sees every study that matched their condition."""

    condition: str
    items: list[DigestItem] = field(default_factory=list)
    pointers: list[DigestItem] = field(default_factory=list)

    @property
    def matched(self) -> int:
        """Every study that matched this condition (told here or pointed to)."""
        return len(self.items) + len(self.pointers)


@dataclass
class Digest:
    destination: str
    generated: str  # ISO timestamp
    since: str | None  # previous digest to this destination
    sections: list[Section]
    receipts: list[SourceReceipt]
    notices: list[DigestItem] = field(default_factory=list)  # query health and the like
    #: condition -> items held back by the destination's max_items (still pending: they lead
    #: the next digest)
    overflow: dict[str, int] = field(default_factory=dict)
    #: The few most important items, named at the top of the digest (each is also listed in
    #: full in its section).
    highlights: list[DigestItem] = field(default_factory=list)
    #: Where the static archive is served (WATCHER_ARCHIVE_URL), '' when nowhere: held-back
    #: conditions and the footer link into it.
    archive: str = ""
    #: condition -> the items *overflow* counts (what a link to the source's search shows)
    held: dict[str, list[DigestItem]] = field(default_factory=dict)
    #: condition -> source -> the searches of its queries (see RoutedQuery.searches)
    searches: dict[str, dict[str, list[Mapping[str, str]]]] = field(default_factory=dict)

    @property
    def items(self) -> list[DigestItem]:
        return [item for section in self.sections for item in section.items] + self.notices

    @property
    def total(self) -> int:
        return sum(len(section.items) for section in self.sections)

    @property
    def failing(self) -> int:
        """Queries whose latest poll failed, over every source: a digest is owed even with
        nothing new while one is (a failure a later poll caught up is told in the receipt of
        the next digest, not sent on its own)."""
        return sum(r.down for r in self.receipts)

    @property
    def held_back(self) -> int:
        return sum(self.overflow.values())


def limit(digest: Digest, max_items: int) -> Digest:
    """Keep at most *max_items* study items, the strongest across all sections (in evidence
    order, see watcher.evidence); the rest are counted per condition in ``overflow`` and stay
    pending, so a backlog after an outage is one readable digest, never a flood and never a
    silent drop. Pointers and highlights to a held-back item go with it; notices always go;
    every other field is kept."""
    kept = {item.outbox_id for item in strongest_first(
        [item for section in digest.sections for item in section.items])[:max(max_items, 0)]}
    sections: list[Section] = []
    overflow = dict(digest.overflow)
    held = {condition: list(items) for condition, items in digest.held.items()}
    for section in digest.sections:
        items = [item for item in section.items if item.outbox_id in kept]
        pointers = [item for item in section.pointers if item.outbox_id in kept]
        if len(section.items) > len(items):
            overflow[section.condition] = (overflow.get(section.condition, 0)
                                           + len(section.items) - len(items))
            held.setdefault(section.condition, []).extend(
                item for item in section.items if item.outbox_id not in kept)
        if items or pointers:
            sections.append(replace(section, items=items, pointers=pointers))
    return replace(digest, sections=sections, overflow=overflow, held=held,
                   highlights=[item for item in digest.highlights if item.outbox_id in kept])


def strongest_first(items: list[DigestItem]) -> list[DigestItem]:
    """*items* in evidence order: strongest class first, newest first within a class."""
    return evidence.in_order(items)


def highlights(sections: list[Section]) -> list[DigestItem]:
    """The few items the top of a digest names (see watcher.evidence.highlights)."""
    return evidence.highlights([item for section in sections for item in section.items],
                               MAX_HIGHLIGHTS)


def select(pending: list[PendingItem], routed: dict[str, RoutedQuery]
           ) -> tuple[list[PendingItem], list[tuple[int, str]]]:
    """Re-judge each pending study against the current filters of the routed queries that
    matched it. Returns the items to send (their matches narrowed to those still valid, with
    fresh labels) and (outbox id, reason) for items every such query now excludes."""
    kept: list[PendingItem] = []
    withheld: list[tuple[int, str]] = []
    for item in pending:
        if isinstance(item.event, Correction) and item.state == "withheld":
            continue  # carried by the study's own labelled item (below)
        if item.study is None or isinstance(item.event, Correction):
            # A correction is owed to whoever was sent the study, whatever the filters now
            # make of its revised record (a retracted or newly indexed record can fail them).
            kept.append(item)
            continue
        valid, reasons = [], []
        for match in item.matches:
            query = routed.get(match.query_id)
            if query is None:
                continue
            verdict = judge(item.study, query.filters)
            if verdict.excluded:
                reasons.append(verdict.excluded)
            else:
                valid.append(type(match)(match.query_id, match.source, verdict.labels))
        if valid:  # (a withheld item whose filter was undone is owed again)
            kept.append(replace(item, matches=valid))
        elif item.state == "withheld":
            continue  # still excluded (or its queries are gone): stays withheld
        elif reasons:
            withheld.append((item.outbox_id, f"excluded by the current filters: {reasons[0]}"))
        else:  # its queries were removed from the YAML: still owed, shown under "Other"
            kept.append(item)
    # A correction offered with the study's own item (queued while that item was in flight,
    # or for a study still owed): never the study twice in one digest. The item, labelled from
    # the revised record, tells it; else the correction waits for the next digest.
    studies = {item.event.study_id for item in kept if isinstance(item.event, NewStudy)}
    for item in [i for i in kept if isinstance(i.event, Correction)]:
        if item.event.study_id in studies:
            kept.remove(item)
            if item.study is not None and item.event.carried_by(item.study):
                withheld.append((item.outbox_id, "told by the study's own item, labelled"))
    return kept, withheld


def build(destination: str, pending: list[PendingItem], conditions: dict[str, str],
          polls: list[PollRow], *, generated: str, since: str | None,
          not_polled: dict[str, int] | None = None,
          quarantined: list[HeldRecord] | None = None, outages: list[Outage] | None = None,
          queries: Mapping[str, RoutedQuery] | None = None,
          topics: dict[str, Topic] | None = None) -> Digest:
    """Each study told in full under its primary condition (the one it is most about, see
    watcher.placement) with a pointer in every other condition it matched; strongest evidence
    first in each section (watcher.evidence), a paper right after the trial it reports when
    both are here; and the digest's highlights.

    *conditions* maps the query ids routed to this destination to their condition names (YAML
    order: sections come in it, and it breaks ties); *topics* maps them to what each condition
    is about (from the condition's name alone when absent); *outages* (the failing positions)
    say since when a source fails; *queries* (the routed queries) give each condition's
    searches, for links that show what max_items holds back.
    """
    order = list(conditions)
    about: dict[str, Topic] = {}
    for query_id, name in conditions.items():
        topic = (topics or {}).get(query_id) or Topic.of(name)
        about[name] = about[name].merged(topic) if name in about else topic
    entries: list[DigestItem] = []
    notices: list[DigestItem] = []
    for entry, others in merge_changes(pending):
        query_ids = list(dict.fromkeys(m.query_id for m in entry.matches))
        for event in [entry.event, *(other.event for other in others)]:
            if event.query_id and event.query_id not in query_ids:
                query_ids.append(event.query_id)
        routed = sorted((q for q in query_ids if q in conditions), key=order.index)
        names = list(dict.fromkeys(conditions[q] for q in routed)) or ["Other"]
        labels = list(dict.fromkeys(label for m in entry.matches for label in m.labels))
        item = DigestItem(entry.event, entry.study,
                          primary_first(entry.study, names, about), labels, entry.outbox_id,
                          [other.outbox_id for other in others])
        (notices if entry.study is None else entries).append(item)
    follows = with_their_trials(entries)
    sections: dict[str, Section] = {}
    for item in strongest_first(entries):
        primary, *elsewhere = item.conditions
        sections.setdefault(primary, Section(primary)).items.append(item)
        for name in elsewhere:
            sections.setdefault(name, Section(name)).pointers.append(item)
    for section in sections.values():
        section.items = beside_their_trials(section.items, follows)
    names_in_order = list(dict.fromkeys([conditions[q] for q in order] + ["Other"]))
    ordered = [sections[name] for name in names_in_order if name in sections]
    return Digest(destination, generated, since, ordered,
                  receipts(polls, set(conditions), not_polled or {}, quarantined or [],
                           outages),
                  notices, highlights=highlights(ordered),
                  searches=condition_searches(queries or {}))


def condition_searches(routed: Mapping[str, RoutedQuery]
                       ) -> dict[str, dict[str, list[Mapping[str, str]]]]:
    """condition -> source -> the searches of the queries filed under it (YAML order)."""
    out: dict[str, dict[str, list[Mapping[str, str]]]] = {}
    for query in routed.values():
        for source, search in query.searches.items():
            out.setdefault(query.condition, {}).setdefault(source, []).append(search)
    return out


def merge_changes(pending: list[PendingItem]) -> list[tuple[PendingItem, list[PendingItem]]]:
    """One item per study: the change events of a study waiting together (one per registry
    that lists the trial, or one per revision) become the first one's item, telling each field
    once; and when the study's new-study item waits too (it changed before it was ever told),
    they are carried by that item, which shows the trial as it is now: a change from a state
    the reader never saw is not news. Returns (entry, the entries merged into it), in
    *pending*'s order."""
    changes: dict[int, list[PendingItem]] = {}
    news: dict[int, PendingItem] = {}
    for entry in pending:
        study_id = entry.event.study_id
        if study_id is not None and isinstance(entry.event, TrialChanged):
            changes.setdefault(study_id, []).append(entry)
        elif study_id is not None and isinstance(entry.event, NewStudy):
            news.setdefault(study_id, entry)
    out: list[tuple[PendingItem, list[PendingItem]]] = []
    for entry in pending:
        study_id = entry.event.study_id
        if not isinstance(entry.event, TrialChanged) or study_id is None:
            carried = changes.get(study_id, []) if study_id is not None and news.get(
                study_id) is entry else []
            out.append((entry, carried))
            continue
        group = changes[study_id]
        if study_id in news:
            continue  # carried by the study's new-study item
        if len(group) == 1:
            out.append((entry, []))
        elif entry is group[0]:
            said = _changes_once([item.event for item in group
                                  if isinstance(item.event, TrialChanged)])
            event = replace(entry.event, changes=tuple(p for _, p in said),
                            fields=tuple(f for f, _ in said))
            out.append((replace(entry, event=event), group[1:]))
    return out


def _changes_once(events: list[TrialChanged]) -> list[tuple[str, str]]:
    """(field, phrase) told for a study's change events: each field once, as the most trusted
    registry says it (ClinicalTrials.gov before ISRCTN) and, when that registry revised it more
    than once, the whole way from the value last told ("status Recruiting → Active, not
    recruiting → Completed"), never only its last step. An event from before fields were
    recorded counts each phrase as its own field, so an identical phrase is still told once."""
    def trust(event: TrialChanged) -> int:
        source = event.source
        return PRIORITY.index(source) if source in PRIORITY else len(PRIORITY)

    said: dict[str, tuple[int, list[str]]] = {}  # field -> (trust, its phrases, oldest first)
    for event in sorted(events, key=lambda e: (trust(e), e.id or 0)):
        phrases, fields = list(event.changes), list(event.fields)
        if len(fields) != len(phrases):
            fields = phrases
        for name, phrase in zip(fields, phrases, strict=True):
            rank, told = said.setdefault(name, (trust(event), []))
            if rank == trust(event) and told[-1:] != [phrase]:  # (A → B, B → A, A → B)
                told.append(phrase)
    return [(name, _chained(told)) for name, (_, told) in said.items()]


def _chained(phrases: list[str]) -> str:
    """One registry's successive phrases about a field, oldest first, as one: a step that
    starts where the one before ended continues it ("status A → B", "status B → C" is
    "status A → B → C"; an annotation such as "(estimated)" of the middle value is dropped);
    others are listed in order."""
    out: list[str] = []
    for phrase in phrases:
        if out and (joined := _continue(out[-1], phrase)) is not None:
            out[-1] = joined
        else:
            out.append(phrase)
    return "; ".join(out)


def _continue(earlier: str, later: str) -> str | None:
    if " → " not in earlier or later.count(" → ") != 1:
        return None
    head, reached = earlier.rsplit(" → ", 1)
    middle = re.sub(r" \([^()]*\)$", "", reached)
    start, end = later.split(" → ")
    label = start[:-len(middle)] if middle and start.endswith(" " + middle) else ""
    if not label.strip() or not head.startswith(label):
        return None
    return f"{head} → {middle} → {end}"
