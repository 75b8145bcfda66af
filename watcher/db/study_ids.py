"""The ids that link a study across sources (PMID, PMCID, DOI, NCT, ISRCTN), and the conflicts
met when an id another study owns is claimed again: kept there, recorded, never dropped."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from ..models import normalize_id
from ..versions import is_preprint_doi
from .report_rows import IdConflict

#: The name its lines have always carried (serve's JSON logs show it).
log = logging.getLogger("watcher.db.studies")

#: Schemes that identify one study only: a record holding a different value of one of these is
#: a different study, even when it shares a DOI (errata and their articles do: a journal DOI
#: is not one of these). A study has one preprint: two preprints (PPR ids or preprint DOIs)
#: claiming one PMID are a conflict, logged and never merged silently.
UNIQUE_SCHEMES = ("pmid", "nct", "ppr", "preprint_doi")


def canonical_ids(ids: dict[str, str]) -> dict[str, str]:
    """*ids* normalised, a preprint server's DOI given as a plain ``doi`` (by a source that
    does not tell them apart) under ``preprint_doi``: one preprint, one id, whoever wrote it."""
    found: dict[str, str] = {}
    for scheme, raw in ids.items():
        value = normalize_id(scheme, raw)
        if scheme == "doi" and is_preprint_doi(value):
            scheme = "preprint_doi"
        if value:
            found.setdefault(scheme, value)
    return found


class StudyIdsMixin:
    conn: Any
    db: Any

    def find_study(self, ids: dict[str, str]) -> int | None:
        """The stored study these ids belong to. A study sharing one id (a DOI, say) but
        holding a different id of a unique scheme (another PMID) is a different study."""
        ids = canonical_ids(ids)
        for scheme, value in ids.items():
            row = self.conn.execute(
                "SELECT study_id FROM study_ids WHERE scheme = ? AND value = ?",
                (scheme, normalize_id(scheme, value)),
            ).fetchone()
            if row and not self._conflicts(row[0], ids):
                return row[0]
        return None

    def _ids_of(self, study_id: int) -> dict[str, set[str]]:
        stored: dict[str, set[str]] = {}
        for scheme, value in self.conn.execute(
                "SELECT scheme, value FROM study_ids WHERE study_id = ?", (study_id,)):
            stored.setdefault(scheme, set()).add(value)
        return stored

    def _conflicts(self, study_id: int, ids: dict[str, str]) -> bool:
        ids = canonical_ids(ids)
        stored = self._ids_of(study_id)
        return any(scheme in stored and normalize_id(scheme, value) not in stored[scheme]
                   for scheme, value in ids.items() if scheme in UNIQUE_SCHEMES)

    def known_ids(self, scheme: str, values: Iterable[str]) -> set[str]:
        return self._found_among(
            "SELECT value FROM study_ids WHERE scheme = ? AND value IN ({marks})", (scheme,),
            [normalize_id(scheme, v) for v in values])

    def fetched_since(self, source: str, source_ids: Iterable[str], moment: str) -> set[str]:
        """Those of *source_ids* whose *source* record was fetched at or after *moment* (an ISO
        date or stamp): a copy a later corrections search still covers (see watcher.poll_run)."""
        return self._found_among(
            "SELECT source_id FROM source_records WHERE source = ? AND fetched >= ? AND"
            " source_id IN ({marks})", (source, moment), list(source_ids))

    def _found_among(self, sql: str, args: tuple[str, ...], values: list[str]) -> set[str]:
        """The first column of *sql* (its ``IN ({marks})`` filled) over *values*, asked 500
        at a time (SQLite's limit on a statement's parameters)."""
        found: set[str] = set()
        for start in range(0, len(values), 500):
            chunk = values[start:start + 500]
            found.update(row[0] for row in self.conn.execute(
                sql.format(marks=",".join("?" * len(chunk))), (*args, *chunk)))
        return found

    def _claim_ids(self, study_id: int, ids: dict[str, str], *, source: str, source_id: str,
                   now: str) -> list[str]:
        """Attach *ids* to the study; an id owned by another study is a logged conflict."""
        conflicts = []
        for scheme, raw in canonical_ids(ids).items():
            value = normalize_id(scheme, raw)
            if self.conn.execute("INSERT OR IGNORE INTO study_ids (scheme, value, study_id)"
                                 " VALUES (?, ?, ?)", (scheme, value, study_id)).rowcount:
                continue  # nobody held it (one statement for what is nearly always so)
            row = self.conn.execute("SELECT study_id FROM study_ids WHERE scheme = ? AND"
                                    " value = ?", (scheme, value)).fetchone()
            if row[0] != study_id:
                conflicts.append(f"{scheme}:{value}")
                self.conn.execute(
                    "INSERT OR IGNORE INTO id_conflicts (scheme, value, owner_study,"
                    " claimed_by_study, source, source_id, detected) VALUES (?,?,?,?,?,?,?)",
                    (scheme, value, row[0], study_id, source, source_id, now))
                log.info("%s %s: %s:%s already belongs to study %s; kept there", source,
                         source_id, scheme, value, row[0])
        return conflicts

    def id_conflicts(self) -> list[IdConflict]:
        """Every id a second study claimed, in the order they were met."""
        return [IdConflict(*row) for row in self.conn.execute(
            "SELECT scheme, value, owner_study, claimed_by_study, source, source_id, detected"
            " FROM id_conflicts ORDER BY id")]
