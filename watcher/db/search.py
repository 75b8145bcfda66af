"""Full-text search over the kept studies, and the readable views Datasette shows.

The index is SQLite FTS5 in sqlite-utils' layout (``studies_fts``, external content on
``studies``, kept current by its ``studies_ai/ad/au`` triggers), so it changes in the same
transaction as the study row: a revised record, a correction or a new match is searchable as
soon as it is stored. Datasette recognises that layout and offers its search box as is.

A study's conditions are the queries that found it (filters not excluding it), kept in the
``studies.conditions`` column by the store whenever a match is written (see add_match).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ..errors import UsageError

#: What the index covers: a word in any of these finds the study.
FTS_COLUMNS = ["title", "abstract", "authors", "journal", "conditions"]

#: The date a study is listed under (newest first, --since): the date its source first listed
#: it, else the day watcher first stored it.
STUDY_DATE = "COALESCE(s.entry_date, substr(s.first_seen, 1, 10))"

_VIEWS = {
    # one row per study: ids, conditions and authors as text, no JSON where a reader looks
    "studies_readable": f"""
SELECT s.id, s.kind, s.source, s.title, {STUDY_DATE} AS listed, s.published, s.year,
  (SELECT group_concat(value, ', ') FROM json_each(COALESCE(s.authors, '[]'))) AS authors,
  s.journal, s.conditions,
  (SELECT group_concat(i.scheme || ':' || i.value, ' ') FROM study_ids i
   WHERE i.study_id = s.id) AS ids,
  (SELECT group_concat(value, ', ')
   FROM json_each(COALESCE(s.publication_types, '[]'))) AS publication_types,
  s.url, s.abstract, s.first_seen, s.updated
FROM studies s""",
    # one row per event: when, what, about which study, and where it went
    "events_readable": """
SELECT e.id, e.created, e.kind, COALESCE(e.query_id, s.conditions) AS conditions,
  e.study_id, s.title AS study_title,
  COALESCE(json_extract(e.details, '$.label'), json_extract(e.details, '$.message'))
    AS what,
  (SELECT group_concat(value, '; ') FROM json_each(e.details, '$.changes')) AS changes,
  (SELECT group_concat(o.destination || ' ' || o.state
     || COALESCE(' ' || o.sent_at, ''), '; ') FROM outbox o WHERE o.event_id = e.id)
    AS delivered,
  s.url AS study_url
FROM events e LEFT JOIN studies s ON s.id = e.study_id""",
    # one row per kept source record, without its compressed payload
    "records_readable": """
SELECT r.id, r.source, r.source_id, r.study_id, s.title AS study_title, r.fetched,
  r.updated, r.modified, r.parse_error,
  (SELECT count(*) FROM record_versions v WHERE v.record_id = r.id) AS earlier_versions
FROM source_records r LEFT JOIN studies s ON s.id = r.study_id""",
}


def add_search(db: sqlite_utils.Database) -> None:
    """Migration 7: the conditions column (filled from the matches already kept), the FTS5
    index populated from every stored study with its triggers, and the readable views. What
    is already there is kept as it is (a database whose version was set back by hand)."""
    if "conditions" not in db["studies"].columns_dict:
        db["studies"].add_column("conditions", str)
    db.execute(f"UPDATE studies SET conditions = ({_CONDITIONS_OF.format(study='studies.id')})")
    db["studies"].enable_fts(FTS_COLUMNS, create_triggers=True, tokenize="porter", replace=True)
    db.execute("CREATE INDEX IF NOT EXISTS idx_studies_listed ON studies"
               f" ({STUDY_DATE.replace('s.', '')} DESC, id DESC)")  # newest first, unsorted
    for name, sql in _VIEWS.items():
        db.create_view(name, sql.strip(), replace=True)


_CONDITIONS_OF = ("SELECT group_concat(query_id, ', ') FROM (SELECT DISTINCT query_id FROM"
                  " matches WHERE study_id = {study} AND excluded IS NULL ORDER BY query_id)")


@dataclass(frozen=True)
class SearchHit:
    """One study found, as `watcher search` shows it."""

    study_id: int
    kind: str
    title: str
    date: str
    authors: list[str]
    journal: str
    conditions: list[str]
    ids: dict[str, str]
    url: str
    snippet: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.study_id, "kind": self.kind, "title": self.title,
                "date": self.date, "authors": self.authors, "journal": self.journal,
                "conditions": self.conditions, "ids": self.ids, "url": self.url,
                "snippet": self.snippet}


_TOKEN = re.compile(r'"[^"]*"|[^\s"]+')
_OPERATORS = {"AND", "OR", "NOT"}
_PREFIX = re.compile(r"^(\w+)\*$")
#: 'title:word' (any FTS column): that column only, as FTS5 reads it.
_COLUMN = re.compile(rf"^({'|'.join(FTS_COLUMNS)}):(.+)$", re.IGNORECASE)


def fts_query(text: str) -> str:
    """What a user typed as an FTS5 query that SQLite accepts: each word and "quoted phrase"
    kept as a phrase (so 'treatment-resistant' and 'ketamine's' are words, not syntax),
    upper-case AND / OR / NOT kept as operators, 'word*' kept as a prefix, 'title:word' (any
    of FTS_COLUMNS) looks in that column only; a stray quote is dropped. The result may still
    be rejected (an operator alone): see plain_query."""
    parts = []
    for token in _TOKEN.findall(text.replace('"', ' " ') if text.count('"') % 2 else text):
        if token == '"':
            continue
        column = ""
        if found := _COLUMN.match(token):
            column, token = found.group(1).lower() + " : ", found.group(2)
        if token in _OPERATORS and not column:
            parts.append(token)
        elif prefix := _PREFIX.match(token):
            parts.append(f'{column}"{prefix.group(1)}"*')
        elif token.strip('"'):
            parts.append(column + '"' + token.strip('"').replace('"', '""') + '"')
    return " ".join(parts)


def plain_query(text: str) -> str:
    """Every word as a phrase, operators included: the fallback when fts_query is rejected."""
    words = [w for w in re.split(r'[\s"]+', text) if w]
    return " ".join('"' + w + '"' for w in words)


class SearchMixin:
    conn: Any

    def refresh_conditions(self, study_id: int) -> None:
        """Re-derive a study's conditions from its matches (its FTS row follows by trigger:
        not rewritten when they are unchanged, as for a query finding the study again)."""
        conditions = _CONDITIONS_OF.format(study="?1")
        self.conn.execute(f"UPDATE studies SET conditions = ({conditions}) WHERE id = ?1 AND"
                          f" conditions IS NOT ({conditions})", (study_id,))

    def search(self, text: str, *, conditions: list[str] | None = None,
               since: str | None = None, limit: int = 50) -> list[SearchHit]:
        """Studies matching *text*, newest first (see STUDY_DATE); only those a query in
        *conditions* found, listed on or after *since*, when given. A query SQLite's FTS syntax
        rejects even after fts_query is retried word by word; what still fails is a UsageError
        in one line."""
        where, args = ["1"], []
        if conditions:
            marks = ",".join("?" * len(conditions))
            where.append(f"EXISTS (SELECT 1 FROM matches m WHERE m.study_id = s.id AND"
                         f" m.excluded IS NULL AND m.query_id IN ({marks}))")
            args.extend(conditions)
        if since:
            where.append(f"{STUDY_DATE} >= ?")
            args.append(since)
        # The newest matches first, by the date index: the FTS rowids are gathered once and
        # the index is walked until *limit* are found, so a word in every study costs no sort
        # of them all; the columns and snippet are read for those only.
        sql = (f"SELECT s.id FROM studies s WHERE +s.id IN (SELECT rowid FROM studies_fts WHERE"
               f" studies_fts MATCH ?) AND {' AND '.join(where)}"
               f" ORDER BY {STUDY_DATE} DESC, s.id DESC LIMIT ?")
        tried = []
        for query in dict.fromkeys((fts_query(text), plain_query(text))):
            if not query:
                continue
            try:
                ids = [row[0] for row in self.conn.execute(sql, (query, *args, limit))]
            except sqlite3.OperationalError as exc:
                tried.append(str(exc))
                continue
            return [self._hit(study_id, query) for study_id in ids]
        reason = f" ({tried[-1]})" if tried else ""
        raise UsageError(f"cannot search for {text!r}{reason}: give words to search for")

    def _hit(self, study_id: int, query: str) -> SearchHit:
        kind, title, date, authors, journal, conditions, url = self.conn.execute(
            f"SELECT s.kind, s.title, {STUDY_DATE}, s.authors, s.journal, s.conditions, s.url"
            " FROM studies s WHERE s.id = ?", (study_id,)).fetchone()
        snippet = self.conn.execute(
            "SELECT snippet(studies_fts, 1, '[', ']', '…', 16) FROM studies_fts"
            " WHERE studies_fts MATCH ? AND rowid = ?", (query, study_id)).fetchone()
        ids = dict(self.conn.execute("SELECT scheme, value FROM study_ids WHERE study_id = ?"
                                     " ORDER BY rowid", (study_id,)).fetchall())
        return SearchHit(study_id, kind or "", title or "", date or "",
                         json.loads(authors or "[]"), journal or "",
                         [c for c in (conditions or "").split(", ") if c], ids, url or "",
                         snippet[0] if snippet and snippet[0] else "")
