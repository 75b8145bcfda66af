"""One study across every source: why each record belongs to its study, and the merge of two
studies found to be one (a record carrying ids of both, or a preprint<->published link).

Every record attached to a study, every id a link claims and every merge is a row of
``study_joins`` (migration 9) with its rule ("first record", "shared id pmid:123", "Europe PMC
link (CrossRef Pre-print loader)", "title and first author: ...") and when. A merge keeps the
study told first (else the older one): the other's records, ids, matches and events move to
it and its row is deleted; its id resolves to the survivor through its merge row. What was
told is kept: a destination that holds (or is owed) the survivor's new-study item never gets
the merged-away study's as well (that item is set aside, state ``merged``); an item only the
merged-away study owed stays owed, and shows the survivor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from ..events import NewStudy
from ..models import normalize_id
from .report_rows import StudyJoin
from .study_ids import canonical_ids

log = logging.getLogger("watcher.db.studies")

#: New-study states that may have reached their destination (corrections.TOLD's).
_TOLD = ("sent", "sending", "retired_sending")
#: Which of a destination's duplicate new-study items is kept: told first, then owed.
_KEEP_ORDER = {"sent": 0, "retired_sending": 1, "sending": 2, "pending": 3, "withheld": 4}


class JoinsMixin:
    conn: Any
    db: Any
    # from StudyIdsMixin / RecordsMixin / SearchMixin
    _ids_of: Any
    _claim_ids: Any
    _refresh_study: Any
    refresh_conditions: Any

    # --- the record of joins -----------------------------------------------------------------

    def record_join(self, study_id: int, *, rule: str, now: str, source: str = "",
                    source_id: str = "", merged_study: int | None = None,
                    basis: str = "") -> None:
        """Say why a record (or a claimed id, or a merged study) belongs to *study_id*."""
        self.conn.execute(
            "INSERT INTO study_joins (study_id, source, source_id, merged_study, rule, basis,"
            " joined) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (study_id, source, source_id, merged_study, rule, basis, now))

    def joins_of(self, study_id: int) -> list[StudyJoin]:
        """Every join of the study (those of studies merged into it too), oldest first."""
        return [StudyJoin(*row) for row in self.conn.execute(
            "SELECT study_id, source, source_id, merged_study, rule, basis, joined"
            " FROM study_joins WHERE study_id = ? ORDER BY id", (study_id,))]

    def survivor_of(self, study_id: int) -> int:
        """The study *study_id* is now part of: itself, or the study it was merged into."""
        seen = {study_id}
        while True:
            row = self.conn.execute("SELECT study_id FROM study_joins WHERE merged_study = ?"
                                    " ORDER BY id DESC LIMIT 1", (study_id,)).fetchone()
            if row is None or row[0] in seen:
                return study_id
            study_id = row[0]
            seen.add(study_id)

    def study_exists(self, study_id: int) -> bool:
        return self.conn.execute("SELECT 1 FROM studies WHERE id = ?",
                                 (study_id,)).fetchone() is not None

    def claim_id(self, study_id: int, scheme: str, value: str, *, source: str,
                 source_id: str, now: str) -> list[str]:
        """One more id for the study (a link names it): a record carrying it later attaches
        there. Returns the conflicts (the id held by another study), as save_record does."""
        return self._claim_ids(study_id, {scheme: value}, source=source, source_id=source_id,
                               now=now)

    def all_ids(self, study_id: int) -> list[tuple[str, str]]:
        """Every id the study carries, (scheme, value) in the order it claimed them (a study
        can hold two of a scheme: the DOIs of an article and its erratum's notice...)."""
        return [(scheme, value) for scheme, value in self.conn.execute(
            "SELECT scheme, value FROM study_ids WHERE study_id = ? ORDER BY rowid",
            (study_id,))]

    def demote_id(self, scheme: str, value: str) -> None:
        """Show this id after the study's other ids of its scheme (a preprint's own PMID once
        it is one study with its article: the article's is the one its items link to)."""
        row = self.conn.execute("SELECT study_id FROM study_ids WHERE scheme = ? AND value = ?",
                                (scheme, value)).fetchone()
        if row is not None:
            self.conn.execute("DELETE FROM study_ids WHERE scheme = ? AND value = ?",
                              (scheme, value))
            self.conn.execute("INSERT INTO study_ids (scheme, value, study_id) VALUES (?, ?, ?)",
                              (scheme, value, row[0]))

    # --- who holds an id ---------------------------------------------------------------------

    def owner_of(self, scheme: str, value: str) -> int | None:
        """The study holding this one id, or None."""
        canonical = canonical_ids({scheme: value})
        if not canonical:
            return None
        ((scheme, value),) = canonical.items()
        row = self.conn.execute("SELECT study_id FROM study_ids WHERE scheme = ? AND value = ?",
                                (scheme, value)).fetchone()
        return row[0] if row else None

    def owners_of(self, ids: dict[str, str]) -> dict[int, str]:
        """Study -> the first of *ids* ("scheme:value") it holds, in the order of *ids*."""
        owners: dict[int, str] = {}
        for scheme, value in canonical_ids(ids).items():
            owner = self.owner_of(scheme, value)
            if owner is not None:
                owners.setdefault(owner, f"{scheme}:{value}")
        return owners

    def studies_conflict(self, a: int, b: int, unique: Iterable[str]) -> str | None:
        """'scheme: x / y' when the two studies hold different ids of a unique scheme (two
        PMIDs, two preprints): two studies, never merged. None when they may be one."""
        ids_a, ids_b = self._ids_of(a), self._ids_of(b)
        for scheme in unique:
            if ids_a.get(scheme) and ids_b.get(scheme) and ids_a[scheme] != ids_b[scheme]:
                return (f"{scheme}: {', '.join(sorted(ids_a[scheme]))} / "
                        f"{', '.join(sorted(ids_b[scheme]))}")
        return None

    def told_first(self, study_ids: Iterable[int]) -> int:
        """Of *study_ids*, the one whose new-study item reached a destination first, else the
        oldest (lowest id): the one a merge keeps."""
        candidates = sorted(set(study_ids))
        marks = ",".join("?" * len(candidates))
        row = self.conn.execute(
            "SELECT e.study_id FROM outbox o JOIN events e ON e.id = o.event_id WHERE e.kind = ?"
            f" AND o.state IN ({','.join('?' * len(_TOLD))}) AND e.study_id IN ({marks})"
            " ORDER BY COALESCE(o.sent_at, o.queued_at), o.id LIMIT 1",
            (NewStudy.KIND, *_TOLD, *candidates)).fetchone()
        return row[0] if row else candidates[0]

    def log_link_conflict(self, owner: int, claimer: int, scheme: str, value: str, *,
                          source: str, source_id: str, now: str) -> None:
        """An id (or a link naming it) that would join two studies holding different
        unique ids: recorded in id_conflicts, both studies kept."""
        self.conn.execute(
            "INSERT OR IGNORE INTO id_conflicts (scheme, value, owner_study, claimed_by_study,"
            " source, source_id, detected) VALUES (?,?,?,?,?,?,?)",
            (scheme, normalize_id(scheme, value), owner, claimer, source, source_id, now))

    # --- the merge ---------------------------------------------------------------------------

    def merge_studies_into(self, survivor: int, gone: int, *, rule: str, now: str,
                           source: str = "", source_id: str = "", basis: str = "") -> None:
        """Make *gone* part of *survivor*: its records, ids, matches, events and joins move,
        its row is deleted (its id resolves through the merge's join row), and each
        destination keeps one new-study item of the two (see the module's docstring)."""
        if survivor == gone:
            return
        for table in ("source_records", "study_ids", "events"):
            self.conn.execute(f"UPDATE {table} SET study_id = ? WHERE study_id = ?",
                              (survivor, gone))
        self.conn.execute(
            "INSERT OR IGNORE INTO matches (study_id, query_id, source, first_matched, run_id,"
            " excluded, labels) SELECT ?, query_id, source, first_matched, run_id, excluded,"
            " labels FROM matches WHERE study_id = ?", (survivor, gone))
        self.conn.execute(
            "UPDATE matches SET first_matched = (SELECT MIN(g.first_matched) FROM matches g"
            " WHERE g.query_id = matches.query_id AND g.source = matches.source AND"
            " g.study_id IN (?, ?)) WHERE study_id = ?", (survivor, gone, survivor))
        self.conn.execute("DELETE FROM matches WHERE study_id = ?", (gone,))
        self.conn.execute("UPDATE study_joins SET study_id = ? WHERE study_id = ?",
                          (survivor, gone))
        first_seen = self.conn.execute("SELECT MIN(first_seen) FROM studies WHERE id IN (?, ?)",
                                       (survivor, gone)).fetchone()[0]
        self.conn.execute("DELETE FROM studies WHERE id = ?", (gone,))
        self.conn.execute("UPDATE studies SET first_seen = ? WHERE id = ?", (first_seen, survivor))
        self._set_aside_copies(survivor, gone, now)
        self.record_join(survivor, rule=rule, now=now, source=source, source_id=source_id,
                         merged_study=gone, basis=basis)
        self._refresh_study(survivor, now)
        self.refresh_conditions(survivor)
        log.info("study %s merged into study %s (%s)", gone, survivor, rule)

    def _set_aside_copies(self, survivor: int, gone: int, now: str) -> None:
        """After the events moved: per destination one new-study item of the study (the one
        told, else the survivor's own, else the first queued); the others still owed are set
        aside, never sent. Another event the merged-away study made that the survivor made
        too (its retraction, say) is likewise told once."""
        rows = self.conn.execute(
            "SELECT o.id, o.destination, o.state, e.key FROM outbox o JOIN events e ON"
            " e.id = o.event_id WHERE e.study_id = ? AND e.kind = ? AND o.state IN"
            " ('sent', 'retired_sending', 'sending', 'pending', 'withheld') ORDER BY o.id",
            (survivor, NewStudy.KIND)).fetchall()
        by_destination: dict[str, list[tuple[int, str, str]]] = {}
        for outbox_id, destination, state, key in rows:
            by_destination.setdefault(destination, []).append((outbox_id, state, key))
        own = NewStudy.key_for(survivor)
        aside: list[int] = []
        for items in by_destination.values():
            items.sort(key=lambda item: (_KEEP_ORDER[item[1]], item[2] != own, item[0]))
            aside += [outbox_id for outbox_id, state, _ in items[1:]
                      if state in ("pending", "withheld")]
        for key, event_id in self.conn.execute(
                "SELECT key, id FROM events WHERE study_id = ? AND kind != ?",
                (survivor, NewStudy.KIND)).fetchall():
            parts = key.split(":")
            if len(parts) < 2 or parts[1] != str(gone):
                continue
            twin = self.conn.execute("SELECT id FROM events WHERE key = ?", (":".join(
                [parts[0], str(survivor), *parts[2:]]),)).fetchone()
            if twin is None:
                continue
            aside += [row[0] for row in self.conn.execute(
                "SELECT o.id FROM outbox o WHERE o.event_id = ? AND o.state IN ('pending',"
                " 'withheld') AND EXISTS (SELECT 1 FROM outbox t WHERE t.event_id = ? AND"
                " t.destination = o.destination AND t.state NOT IN ('retired', 'merged'))",
                (event_id, twin[0]))]
        for outbox_id in aside:
            self.conn.execute(
                "UPDATE outbox SET state = 'merged', last_error = ? WHERE id = ?",
                (f"study {gone} merged into study {survivor} ({now}): the destination holds"
                 " or is owed the study already", outbox_id))
