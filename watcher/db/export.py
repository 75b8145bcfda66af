"""What `watcher export` reads: each stored study (its merged view, from the kept source
records) with the queries that matched it and the events told of it, as typed rows. Read in
pages, so a large database is never held in one query's result at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..models import Study
from .studies import _study_from_row

#: Studies read per page.
PAGE = 500


@dataclass(frozen=True)
class StudyMatch:
    """A query that found the study: through which source, when, with which labels, and
    whether the query's filters set it aside (``excluded`` says why)."""

    query_id: str
    source: str
    first_matched: str
    excluded: str | None
    labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StudyEvent:
    """Something the team was told of the study (new, a trial change, a correction), and when."""

    kind: str
    query_id: str | None
    created: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredStudy:
    """One study as stored: its merged view, when it was first stored and last refreshed, the
    queries that matched it and its events, oldest first."""

    id: int
    study: Study
    first_seen: str
    updated: str
    matches: list[StudyMatch]
    events: list[StudyEvent]


@dataclass(frozen=True)
class ExportFilter:
    """Which studies to export: stored on or after *since* (a YYYY-MM-DD day), found by one of
    *query_ids* (None: any query), of one *kind* ("publication" takes preprints too)."""

    since: str | None = None
    query_ids: tuple[str, ...] | None = None
    kind: str | None = None


def matched_query_ids(store: Any) -> list[str]:
    """Every query id that ever matched a stored study: the queries an export can name even
    when the YAML no longer lists them."""
    return [row[0] for row in store.conn.execute(
        "SELECT DISTINCT query_id FROM matches ORDER BY query_id")]


def stored_studies(store: Any, wanted: ExportFilter) -> Iterator[StoredStudy]:
    """The studies *wanted* picks, oldest stored first. A study every match of which the
    query's filters set aside (noise: an animal study, an excluded type) is left out, as the
    digests leave it out; one no query matched (stored before matches were kept) is kept."""
    where, args = _where(wanted)
    after = 0
    while True:
        rows = list(store.db.query(
            f"SELECT * FROM studies s WHERE s.id > ? {where} ORDER BY s.id LIMIT ?",
            [after, *args, PAGE]))
        if not rows:
            return
        after = rows[-1]["id"]
        ids = [row["id"] for row in rows]
        known = _ids_of(store, ids)
        matches = _matches_of(store, ids)
        events = _events_of(store, ids)
        for row in rows:
            yield StoredStudy(row["id"], _study_from_row(row, known.get(row["id"], {})),
                              row["first_seen"] or "", row["updated"] or "",
                              matches.get(row["id"], []), events.get(row["id"], []))


def _where(wanted: ExportFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if wanted.since:
        clauses.append("s.first_seen >= ?")
        args.append(wanted.since)
    if wanted.kind == "trial":
        clauses.append("s.kind = 'trial'")
    elif wanted.kind == "publication":
        clauses.append("s.kind IN ('publication', 'preprint')")
    if wanted.query_ids is not None:
        marks = ", ".join("?" * len(wanted.query_ids))
        clauses.append(f"EXISTS (SELECT 1 FROM matches m WHERE m.study_id = s.id AND"
                       f" m.excluded IS NULL AND m.query_id IN ({marks}))")
        args.extend(wanted.query_ids)
    else:
        clauses.append("(NOT EXISTS (SELECT 1 FROM matches m WHERE m.study_id = s.id) OR"
                       " EXISTS (SELECT 1 FROM matches m WHERE m.study_id = s.id AND"
                       " m.excluded IS NULL))")
    return "".join(f" AND {c}" for c in clauses), args


def _in(ids: list[int]) -> str:
    return ", ".join(str(int(i)) for i in ids)


def _ids_of(store: Any, ids: list[int]) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = {}
    for study_id, scheme, value in store.conn.execute(
            f"SELECT study_id, scheme, value FROM study_ids WHERE study_id IN ({_in(ids)})"
            " ORDER BY rowid"):
        found.setdefault(study_id, {})[scheme] = value
    return found


def _matches_of(store: Any, ids: list[int]) -> dict[int, list[StudyMatch]]:
    found: dict[int, list[StudyMatch]] = {}
    for study_id, query_id, source, first, excluded, labels in store.conn.execute(
            "SELECT study_id, query_id, source, first_matched, excluded, labels FROM matches"
            f" WHERE study_id IN ({_in(ids)}) ORDER BY first_matched, query_id, source"):
        found.setdefault(study_id, []).append(
            StudyMatch(query_id, source, first or "", excluded, json.loads(labels or "[]")))
    return found


def _events_of(store: Any, ids: list[int]) -> dict[int, list[StudyEvent]]:
    found: dict[int, list[StudyEvent]] = {}
    for study_id, kind, query_id, created, details in store.conn.execute(
            "SELECT study_id, kind, query_id, created, details FROM events"
            f" WHERE study_id IN ({_in(ids)}) ORDER BY id"):
        found.setdefault(study_id, []).append(
            StudyEvent(kind, query_id, created or "", json.loads(details or "{}")))
    return found
