"""Studies, the ids that link them across sources, the source records they are merged from,
and the queries that matched them.

A study is the merged view over its records: each source's raw payload is kept (every version),
with the parsed record beside it, so a parser fix can be re-applied without the network and a
trial change can be detected by comparing versions. An id that already belongs to another study
is recorded as a conflict, never dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils.db import NotFoundError

from ..events import NewStudy
from ..models import Match, Packed, Study, merge_studies
from ..redact import scrub
from ..sources import PRIORITY
from .report_rows import RecordVersion
from .study_ids import UNIQUE_SCHEMES


@dataclass
class SavedRecord:
    """What storing one source record did."""

    study_id: int | None
    new_study: bool = False
    new_record: bool = False
    changed: bool = False  # an already kept record came back with different content
    previous: Study | None = None  # the parsed record before this change
    conflicts: list[str] = field(default_factory=list)


def content_hash(payload: str) -> str:
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def pack(payload: str) -> bytes:
    """Raw payloads are kept compressed (as SourceRecord holds them: ``Packed``)."""
    return Packed.of(payload).data


def unpack(blob: bytes | str | None) -> str:
    if blob is None:
        return ""
    return blob if isinstance(blob, str) else zlib.decompress(blob).decode("utf-8")


class RecordsMixin:
    """The source records a study is merged from: every version of each raw payload kept."""

    conn: Any
    db: Any
    # find_study() and _claim_ids() come from StudyIdsMixin, stored_baseline() from
    # StudiesMixin.
    find_study: Any
    _claim_ids: Any
    _conflicts: Any
    stored_baseline: Any
    # record_join(), owners_of(), studies_conflict(), told_first() and merge_studies_into()
    # come from JoinsMixin.
    record_join: Any
    owners_of: Any
    studies_conflict: Any
    told_first: Any
    merge_studies_into: Any

    # --- source records --------------------------------------------------------------------

    def save_record(self, source: str, source_id: str, payload: str | Packed,
                    study: Study | None, now: str, *, modified: str | None = None,
                    parse_error: str | None = None,
                    conditions: str | None = None) -> SavedRecord:
        """Keep what a source returned, link it to its study (creating one if none holds its
        ids) and refresh the study's merged view. An unparseable record (*study* None) is kept
        with its error and no study, so it can be re-parsed later without the network. When a
        record's content changes, the version it replaces is kept in ``record_versions``.

        *payload* is the record's text, or as a SourceRecord holds it (``record.packed``:
        compressed once, when parsed). Plain statements, no re-reads: a back-fill stores
        thousands of records a minute.

        *conditions*: a new study's conditions once the query storing it has matched it (its
        id). The study's search entry is then written once, not again by that match: FTS5
        rewrites a whole row when one column changes. The match re-derives them from the
        matches either way (excluded, or found by another query too)."""
        packed = payload if isinstance(payload, Packed) else Packed.of(payload)
        digest = packed.digest
        row = self.conn.execute(
            "SELECT id, study_id, content_hash, parsed, fetched FROM source_records"
            " WHERE source = ? AND source_id = ?", (source, source_id)).fetchone()
        saved = SavedRecord(study_id=row[1] if row else None)
        details = json.dumps(study.details) if study else None
        parsed = study.to_json(details) if study else None
        if row is None:
            saved.new_record = True
        else:
            saved.changed = row[2] != digest
            if not saved.changed and row[3] == parsed and (row[1] is not None or study is None):
                self.conn.execute("UPDATE source_records SET fetched = ? WHERE id = ?",
                                  (now, row[0]))
                return saved
            if row[3]:
                saved.previous = Study.from_dict(json.loads(row[3]))
            elif row[1] is not None and study is not None:
                # the version it replaces could not be read: the study as last stored is what
                # this one is compared with (a retraction it carries is still found)
                saved.previous = self.stored_baseline(row[1], study)
        attached = ""  # why the record joins its study, when it is attached now
        if study is not None and saved.study_id is None:
            saved.study_id = self.find_study(study.ids)
            if saved.study_id is None:
                saved.study_id = self._next_study_id()
                self._insert_study(saved.study_id, study, now, details, conditions)
                saved.new_study = True
                attached = "first record"
            else:
                attached = "shared id " + self.owners_of(study.ids).get(saved.study_id, "")
                if not self.conn.execute("SELECT 1 FROM source_records WHERE study_id = ?"
                                         " LIMIT 1", (saved.study_id,)).fetchone():
                    # a study stored before records were kept (schema 1): its row is the
                    # version this record is compared with, so a retraction of what was sent
                    # is found
                    saved.previous = self.stored_baseline(saved.study_id, study)
        values = (saved.study_id, digest, packed.data, parsed, now, now, modified,
                  scrub(parse_error) if parse_error else None)
        if row is None:
            record_id = self.conn.execute(
                "INSERT INTO source_records (study_id, content_hash, payload, parsed, fetched,"
                " updated, modified, parse_error, source, source_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*values, source, source_id)).lastrowid
        else:
            record_id = row[0]
            if saved.changed:  # keep the version this one replaces
                self.conn.execute(
                    "INSERT INTO record_versions (record_id, content_hash, payload, fetched)"
                    " SELECT id, content_hash, payload, fetched FROM source_records"
                    " WHERE id = ?", (record_id,))
            self.conn.execute(
                "UPDATE source_records SET study_id = ?, content_hash = ?, payload = ?,"
                " parsed = ?, fetched = ?, updated = ?, modified = ?, parse_error = ?,"
                " source = ?, source_id = ? WHERE id = ?",
                (*values, source, source_id, record_id))
        if study is not None and saved.study_id is not None:
            if attached:
                self.record_join(saved.study_id, rule=attached, now=now, source=source,
                                 source_id=source_id)
            # a study made from this record just now holds none of its ids yet, and every
            # other holder of one conflicts with them (else find_study had found it): nothing
            # to join
            merged = None if saved.new_study else self._join_holders(
                saved.study_id, study.ids, source=source, source_id=source_id, now=now)
            if merged:
                saved.study_id, saved.new_study = merged, False  # joined an older study
            saved.conflicts = self._claim_ids(saved.study_id, study.ids, source=source,
                                              source_id=source_id, now=now)
            if not saved.new_study or merged:  # a new study's row was written from it
                self._refresh_study(saved.study_id, now, written=(record_id, study))
        return saved

    def _insert_study(self, study_id: int, study: Study, now: str, details: str | None,
                      conditions: str | None) -> None:
        row = {**_study_row(study, now, details), "first_seen": now, "id": study_id,
               "conditions": conditions}
        self.conn.execute(f"INSERT INTO studies ({', '.join(row)})"
                          f" VALUES ({', '.join('?' * len(row))})", tuple(row.values()))

    def _join_holders(self, study_id: int, ids: dict[str, str], *, source: str,
                      source_id: str, now: str) -> int | None:
        """Records sharing an id are one study whichever arrived first: the other studies
        holding one of *ids* (none holding a different unique id than the record or its
        study) are merged with *study_id* into the one told first. Returns the survivor, or
        None when there was nothing to merge."""
        holders = {owner: shared for owner, shared in self.owners_of(ids).items()
                   if owner != study_id and not self._conflicts(owner, ids)
                   and not self.studies_conflict(study_id, owner, UNIQUE_SCHEMES)}
        if not holders:
            return None
        survivor = self.told_first([study_id, *holders])
        for other in [study_id, *holders]:
            if other == survivor:
                continue
            if self.studies_conflict(survivor, other, UNIQUE_SCHEMES):
                continue  # two holders disagree with each other: the id stays a conflict
            shared = holders.get(other) or holders.get(survivor, "")
            self.merge_studies_into(survivor, other, rule=f"shared id {shared}", now=now,
                                    source=source, source_id=source_id)
        return survivor
    def _next_study_id(self) -> int:
        """A number no study ever had: not even one merged away (its number resolves to the
        study it is part of, and its event keys are taken), which SQLite would hand out again
        when it was the highest."""
        return (self.conn.execute(
            "SELECT MAX(COALESCE((SELECT MAX(id) FROM studies), 0), COALESCE((SELECT"
            " MAX(merged_study) FROM study_joins), 0))").fetchone()[0] or 0) + 1

    def _refresh_study(self, study_id: int, now: str, *,
                       written: tuple[int, Study] | None = None) -> None:
        """Rewrite the study's merged view from its records; *written* is a record just
        stored (its id and study), taken as it is rather than read back."""
        skip = written[0] if written else 0
        records = [(record_id, Study.from_dict(json.loads(parsed)))
                   for record_id, parsed in self.conn.execute(
                       "SELECT id, parsed FROM source_records WHERE study_id = ? AND parsed IS"
                       " NOT NULL AND id != ? ORDER BY id", (study_id, skip))]
        if written:
            records = sorted([*records, written], key=lambda pair: pair[0])
        if records:
            row = _study_row(merged_view([study for _, study in records]), now)
            self.conn.execute(f"UPDATE studies SET {', '.join(f'{k} = ?' for k in row)}"
                              " WHERE id = ?", (*row.values(), study_id))

    def records(self, source: str | None = None, *, after_id: int = 0,
                limit: int = -1) -> list[dict[str, Any]]:
        """Kept source records (the current version of each, payload unpacked), in id order:
        a page of *limit* after *after_id*, so a large store is never read at once."""
        where, args = "WHERE id > ?", [after_id]
        if source:
            where += " AND source = ?"
            args.append(source)
        rows = self.db.query(f"SELECT * FROM source_records {where} ORDER BY id LIMIT ?",
                             [*args, limit])
        return [{**row, "payload": unpack(row["payload"])} for row in rows]

    def record_history(self, study_id: int) -> list[RecordVersion]:
        """Every kept version of every record of a study, oldest first, the current last."""
        rows = self.conn.execute(
            "SELECT r.source, r.source_id, v.content_hash, v.fetched, v.payload"
            " FROM record_versions v JOIN source_records r ON r.id = v.record_id"
            " WHERE r.study_id = ? UNION ALL SELECT source, source_id, content_hash, fetched,"
            " payload FROM source_records WHERE study_id = ? ORDER BY source, source_id, fetched",
            (study_id, study_id))
        return [RecordVersion(source, source_id, digest, fetched, unpack(payload))
                for source, source_id, digest, fetched, payload in rows]


class StudiesMixin:
    conn: Any
    db: Any
    refresh_conditions: Any  # from SearchMixin

    # --- the merged view -------------------------------------------------------------------

    def _studies_row(self, study_id: int) -> dict[str, Any]:
        cursor = self.conn.execute("SELECT * FROM studies WHERE id = ?", (study_id,))
        row = cursor.fetchone()
        if row is None:
            raise NotFoundError(f"no study {study_id}")
        return dict(zip([column[0] for column in cursor.description], row, strict=True))

    def get_study(self, study_id: int) -> Study:
        row = self._studies_row(study_id)
        ids: dict[str, str] = {}
        for scheme, value in self.conn.execute(
                "SELECT scheme, value FROM study_ids WHERE study_id = ? ORDER BY rowid",
                (study_id,)):
            ids.setdefault(scheme, value)  # the first of a scheme it claimed
        return _study_from_row(row, ids)

    def judged_view(self, study_id: int, *, details_when: tuple[str, ...]) -> Study:
        """The study as a query's filters and the correction-notice check read it: source,
        kind, publication types, MeSH terms and PMID as ``get_study`` gives them; its details
        only when it has one of the publication types *details_when* (a notice's links), else
        none; the rest left empty. A match reads this, not the whole row (the details are
        most of it)."""
        marks = ", ".join("?" * len(details_when)) or "NULL"
        row = self.conn.execute(
            "SELECT source, kind, publication_types, mesh_terms, CASE WHEN EXISTS (SELECT 1"
            f" FROM json_each(COALESCE(publication_types, '[]')) WHERE value IN ({marks}))"
            " THEN details END, (SELECT value FROM study_ids WHERE study_id = studies.id AND"
            " scheme = 'pmid' ORDER BY rowid LIMIT 1) FROM studies WHERE id = ?",
            (*details_when, study_id)).fetchone()
        if row is None:
            raise NotFoundError(f"no study {study_id}")
        source, kind, types, mesh, details, pmid = row
        return Study(source=source, kind=kind, ids={"pmid": pmid} if pmid else {}, title="",
                     publication_types=json.loads(types or "[]"),
                     mesh_terms=json.loads(mesh or "[]"), details=json.loads(details or "{}"))

    def stored_baseline(self, study_id: int, current: Study) -> Study:
        """The study as last stored, to compare *current* with when no earlier version of its
        record was kept. A column an older schema did not keep (NULL: a skeleton row has no
        details, so no CommentsCorrections) is taken from *current*, i.e. as unchanged: what
        was never kept is no news, only a difference in what was kept counts; except that a
        link to a retraction contradicting the kept publication types (no "Retracted
        Publication") is not taken: those types say the study was not retracted then."""
        row = self._studies_row(study_id)
        stored = self.get_study(study_id)
        for column, value in (("publication_types", current.publication_types),
                              ("details", current.details)):
            if row.get(column) is None:
                setattr(stored, column, value)
        if row.get("details") is None and "Retracted Publication" not in \
                stored.publication_types:
            # except a link to a retraction (PubMed may link it before it adds the type): the
            # types that were kept say the study was not retracted when it was stored
            links = [link for link in stored.details.get("corrections") or []
                     if str(link.get("type", "")) != "RetractionIn"]
            stored.details = {**stored.details, "corrections": links}
        return stored

    def add_match(self, study_id: int, query_id: str, source: str, *, run_id: int, now: str,
                  excluded: str | None, labels: list[str]) -> bool:
        """Record that a query found a study (or refresh the verdict of the query's current
        filters); False if it had already found it."""
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO matches (study_id, query_id, source, first_matched, run_id,"
            " excluded, labels) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (study_id, query_id, source, now, run_id, excluded, json.dumps(labels)))
        if cursor.rowcount != 1:
            self.conn.execute(
                "UPDATE matches SET excluded = ?, labels = ? WHERE study_id = ? AND query_id = ?"
                " AND source = ?", (excluded, json.dumps(labels), study_id, query_id, source))
        self.refresh_conditions(study_id)  # what search and the readable views show
        return cursor.rowcount == 1

    def destinations_told(self, study_id: int) -> list[str]:
        """Destinations that hold (or are owed) the study's new-study event: the only ones a
        later change to it concerns (not one a retired destination set aside: never told)."""
        return [row[0] for row in self.conn.execute(
            "SELECT DISTINCT o.destination FROM outbox o JOIN events e ON e.id = o.event_id"
            " WHERE e.study_id = ? AND e.kind = ? AND o.state NOT IN ('withheld', 'retired',"
            " 'merged')"
            " ORDER BY o.destination", (study_id, NewStudy.KIND))]

    def matches_of(self, study_id: int) -> list[Match]:
        """Every query that found the study, earliest first (filters are re-judged later)."""
        return [Match(q, s, json.loads(labels or "[]")) for q, s, labels in self.conn.execute(
            "SELECT query_id, source, labels FROM matches WHERE study_id = ?"
            " ORDER BY first_matched, query_id", (study_id,))]



def merged_view(records: list[Study]) -> Study:
    """The study as the team sees it: its published version's records first (a preprint
    joined to its article is shown as the article, by the most trusted source), the
    preprint's filling what they lack."""
    published = [record for record in records if record.kind != "preprint"]
    preprints = [record for record in records if record.kind == "preprint"]
    if not published or not preprints:
        return merge_studies(records, PRIORITY)
    # no priority between the two merged views: the published one first, as given
    return merge_studies([merge_studies(published, PRIORITY),
                          merge_studies(preprints, PRIORITY)], ())


def _study_row(study: Study, now: str, details: str | None = None) -> dict[str, Any]:
    return {
        "kind": study.kind, "source": study.source, "title": study.title,
        "abstract": study.abstract, "authors": json.dumps(study.authors),
        "journal": study.journal, "published": study.published, "year": study.year,
        "entry_date": study.entry_date,
        "publication_types": json.dumps(study.publication_types),
        "mesh_terms": json.dumps(study.mesh_terms),
        "linked_ids": json.dumps(study.linked_ids), "url": study.url, "updated": now,
        "details": json.dumps(study.details) if details is None else details,
    }


def _study_from_row(row: dict[str, Any], ids: dict[str, str]) -> Study:
    return Study(
        source=row["source"], kind=row["kind"], ids=ids, title=row["title"],
        abstract=row["abstract"] or "", authors=json.loads(row["authors"] or "[]"),
        journal=row["journal"] or "", published=row["published"] or "", year=row["year"],
        entry_date=row["entry_date"],
        publication_types=json.loads(row["publication_types"] or "[]"),
        mesh_terms=json.loads(row["mesh_terms"] or "[]"),
        linked_ids=json.loads(row["linked_ids"] or "{}"), url=row["url"] or "",
        details=json.loads(row.get("details") or "{}"),
    )
