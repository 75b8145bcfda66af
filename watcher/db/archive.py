"""What `watcher archive` reads: every study a query kept (not those its filters excluded),
its ids, matches, kept records with every version's date, events and where each went, and each
digest that reached its destination with the items its messages carried. Read in a few bulk
queries (no raw payloads), so an archive of thousands of studies is read in well under a
second; the site is built from these rows alone (watcher.archive)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..events import Event, from_row
from .report_rows import Delivery


@dataclass(frozen=True)
class RecordVersion:
    """One kept version of a source record: when it was fetched and its content's hash."""

    fetched: str
    content_hash: str


@dataclass
class ArchivedRecord:
    """A source record a study is merged from, with every kept version, oldest first."""

    source: str
    source_id: str
    modified: str | None
    parse_error: str | None
    versions: list[RecordVersion] = field(default_factory=list)


@dataclass
class ArchivedEvent:
    """An event about a study (or a query) and where it went."""

    event: Event
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass
class ArchivedStudy:
    """A study as the archive shows it: its merged fields, ids, the queries that kept it."""

    id: int
    kind: str
    title: str
    abstract: str
    authors: list[str]
    journal: str
    published: str
    entry_date: str | None
    first_seen: str
    url: str
    ids: dict[str, str] = field(default_factory=dict)
    query_ids: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    records: list[ArchivedRecord] = field(default_factory=list)
    events: list[ArchivedEvent] = field(default_factory=list)
    publication_types: list[str] = field(default_factory=list)

    @property
    def retracted(self) -> bool:
        """Retracted: its record says so, or the team was told of its retraction. Every page
        that lists it says so, never a plain title a reader could cite."""
        return "Retracted Publication" in self.publication_types or any(
            e.event.lead_label() == "RETRACTED" for e in self.events)

    @property
    def date(self) -> str:
        """The date it is filed under (newest first, studies per month): when it entered its
        source (PubMed's entry date), else when watcher first kept it."""
        return (self.entry_date or self.first_seen or "")[:10]


@dataclass
class ArchivedDigest:
    """A digest that reached its destination (sent, or partly sent), with the events its
    accepted messages carried, in the order they were queued. What the messages said is not
    stored: only these items, the message ids and times."""

    id: int
    destination: str
    started: str | None
    sent_at: str
    state: str
    parts: int
    items: list[Event] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    rendered: str = ""  # its text as it was sent ('' for a digest sent before that was kept)


@dataclass
class ArchiveData:
    studies: list[ArchivedStudy]
    digests: list[ArchivedDigest]


def read_archive(store: Any) -> ArchiveData:
    """Everything the archive shows, from the database behind *store* (a Store)."""
    conn = store.conn
    studies: dict[int, ArchivedStudy] = {}
    for row in conn.execute(
            "SELECT id, kind, title, abstract, authors, journal, published, entry_date,"
            " first_seen, url, publication_types FROM studies s WHERE EXISTS (SELECT 1"
            " FROM matches m WHERE m.study_id = s.id AND m.excluded IS NULL) ORDER BY id"):
        (study_id, kind, title, abstract, authors, journal, published, entry_date, first_seen,
         url, types) = row
        studies[study_id] = ArchivedStudy(
            study_id, kind or "", title or "", abstract or "", json.loads(authors or "[]"),
            journal or "", published or "", entry_date, first_seen or "", url or "",
            publication_types=json.loads(types or "[]"))
    for scheme, value, study_id in conn.execute(
            "SELECT scheme, value, study_id FROM study_ids ORDER BY rowid"):
        if study_id in studies:
            studies[study_id].ids.setdefault(scheme, value)
    for study_id, query_id, labels in conn.execute(
            "SELECT study_id, query_id, labels FROM matches WHERE excluded IS NULL"
            " ORDER BY first_matched, query_id"):
        study = studies.get(study_id)
        if study is None:
            continue
        if query_id not in study.query_ids:
            study.query_ids.append(query_id)
        for label in json.loads(labels or "[]"):
            if label not in study.labels:
                study.labels.append(label)
    _read_records(conn, studies)
    events = _read_events(conn, studies)
    return ArchiveData(list(studies.values()), _read_digests(conn, events))


def _read_records(conn: Any, studies: dict[int, ArchivedStudy]) -> None:
    records: dict[int, ArchivedRecord] = {}
    for record_id, study_id, source, source_id, modified, error in conn.execute(
            "SELECT id, study_id, source, source_id, modified, parse_error FROM source_records"
            " WHERE study_id IS NOT NULL ORDER BY source, source_id"):
        if study_id in studies:
            records[record_id] = ArchivedRecord(source, source_id, modified, error)
            studies[study_id].records.append(records[record_id])
    for record_id, fetched, digest in conn.execute(
            "SELECT record_id, fetched, content_hash FROM record_versions UNION ALL"
            " SELECT id, fetched, content_hash FROM source_records ORDER BY 2"):
        if record_id in records:
            records[record_id].versions.append(RecordVersion(fetched or "", digest or ""))


def _read_events(conn: Any, studies: dict[int, ArchivedStudy]) -> dict[int, ArchivedEvent]:
    events: dict[int, ArchivedEvent] = {}
    conn_rows = conn.execute("SELECT id, key, kind, study_id, query_id, details, created"
                             " FROM events ORDER BY id")
    for event_id, key, kind, study_id, query_id, details, created in conn_rows:
        event = from_row({"id": event_id, "key": key, "kind": kind, "study_id": study_id,
                          "query_id": query_id, "details": details, "created": created})
        events[event_id] = ArchivedEvent(event)
        if study_id in studies:
            studies[study_id].events.append(events[event_id])
    for event_id, destination, state, sent_at, error in conn.execute(
            "SELECT event_id, destination, state, sent_at, last_error FROM outbox"
            " ORDER BY destination"):
        if event_id in events:
            events[event_id].deliveries.append(Delivery(destination, state, sent_at, error))
    return events


def _read_digests(conn: Any, events: dict[int, ArchivedEvent]) -> list[ArchivedDigest]:
    digests = {row[0]: ArchivedDigest(*row[:6], rendered=row[6] or "") for row in conn.execute(
        "SELECT id, destination, started, sent_at, state, parts, rendered FROM digests"
        " WHERE sent_at IS NOT NULL ORDER BY sent_at DESC, id DESC")}
    for digest_id, event_id in conn.execute(
            "SELECT m.digest_id, o.event_id FROM outbox o JOIN messages m ON m.id = o.message_id"
            " ORDER BY o.id"):
        if digest_id in digests and event_id in events:
            digests[digest_id].items.append(events[event_id].event)
    for digest_id, external_id in conn.execute(
            "SELECT digest_id, external_id FROM messages WHERE external_id IS NOT NULL"
            " ORDER BY digest_id, part"):
        if digest_id in digests:
            digests[digest_id].message_ids.append(external_id)
    return list(digests.values())
