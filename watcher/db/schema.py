"""Schema migrations, in order. ``PRAGMA user_version`` is how many have run.

A migration only ever adds: a database written by an older watcher is upgraded in place, in one
transaction, the first time a newer watcher opens it. A database whose version is newer than
this list is refused (see connection.py), never used as is.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

import sqlite_utils

from ..events import NewStudy
from ..versions import is_preprint_doi
from .search import add_search

#: Stamped into ``meta`` so that a foreign SQLite file is never mistaken for a watcher database.
APPLICATION = "watcher"

#: Outbox states still owed to their destination (see db.outbox).
OPEN_STATES = ("pending", "sending")


def _migration_1(db: sqlite_utils.Database) -> None:
    """The walking skeleton: studies, their ids, matches, positions, a per-study outbox."""
    db["studies"].create({
        "id": int, "kind": str, "source": str, "title": str, "abstract": str, "authors": str,
        "journal": str, "published": str, "year": int, "entry_date": str,
        "publication_types": str, "mesh_terms": str, "linked_ids": str, "url": str,
        "first_seen": str, "updated": str,
    }, pk="id", not_null={"title", "first_seen"})
    db["study_ids"].create({"scheme": str, "value": str, "study_id": int},
                           pk=("scheme", "value"), foreign_keys=[("study_id", "studies", "id")])
    db["study_ids"].create_index(["study_id"])
    db["matches"].create({
        "study_id": int, "query_id": str, "source": str, "first_matched": str, "run_id": int,
        "excluded": str, "labels": str,
    }, pk=("study_id", "query_id", "source"), foreign_keys=[("study_id", "studies", "id")])
    db["positions"].create({
        "query_id": str, "source": str, "terms_hash": str, "window_end": str,
        "last_success": str, "last_attempt": str, "last_error": str, "last_error_at": str,
    }, pk=("query_id", "source"))
    db["outbox"].create({
        "id": int, "destination": str, "study_id": int, "queued_at": str, "sent_at": str,
        "digest_id": int,
    }, pk="id", foreign_keys=[("study_id", "studies", "id")])
    db["outbox"].create_index(["destination", "study_id"], unique=True)
    db["outbox"].create_index(["destination", "sent_at"])
    db["runs"].create({
        "id": int, "command": str, "started": str, "finished": str, "status": str,
        "summary": str,
    }, pk="id")
    db["polls"].create({
        "id": int, "run_id": int, "query_id": str, "source": str, "window_start": str,
        "window_end": str, "seen": int, "new": int, "warnings": str, "error": str,
        "finished": str,
    }, pk="id")
    db["polls"].create_index(["finished"])
    db["digests"].create({
        "id": int, "destination": str, "sent_at": str, "items": int, "through_poll": int,
        "receipt": str,
    }, pk="id")
    db["digests"].create_index(["destination"])


def _migration_2(db: sqlite_utils.Database) -> None:
    """Events and an outbox of events; kept source records; quarantine; id conflicts.

    The old outbox held (destination, study): each row becomes a 'new' event for its study,
    queued (or already sent) to the same destination, so nothing is lost or re-sent. The
    skeleton also queued every study to the terminal as a copy of its destinations' (which
    `serve` never printed): an unsent copy of a study another destination holds is withheld,
    or the first `run --once` would print the whole backlog under "Other".
    """
    conn = db.conn
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["meta"].insert({"key": "application", "value": APPLICATION})

    db["source_records"].create({
        "id": int, "source": str, "source_id": str, "study_id": int, "content_hash": str,
        "payload": bytes, "parsed": str, "fetched": str, "updated": str, "modified": str,
        "parse_error": str,
    }, pk="id", foreign_keys=[("study_id", "studies", "id")])
    db["source_records"].create_index(["source", "source_id"], unique=True)
    db["source_records"].create_index(["study_id"])
    db["record_versions"].create({
        "id": int, "record_id": int, "content_hash": str, "payload": bytes, "fetched": str,
    }, pk="id", foreign_keys=[("record_id", "source_records", "id")])
    db["record_versions"].create_index(["record_id"])

    db["id_conflicts"].create({
        "id": int, "scheme": str, "value": str, "owner_study": int, "claimed_by_study": int,
        "source": str, "source_id": str, "detected": str,
    }, pk="id")
    db["id_conflicts"].create_index(["scheme", "value", "claimed_by_study"], unique=True)

    db["quarantine"].create({
        "id": int, "source": str, "source_id": str, "query_id": str, "kind": str,
        "reason": str, "attempts": int, "first_seen": str, "last_seen": str, "state": str,
    }, pk="id")
    db["quarantine"].create_index(["source", "source_id", "query_id"], unique=True)
    db["quarantine"].create_index(["state"])

    db["events"].create({
        "id": int, "key": str, "kind": str, "study_id": int, "query_id": str,
        "details": str, "created": str,
    }, pk="id", not_null={"key", "kind", "created"})
    db["events"].create_index(["key"], unique=True)
    db["events"].create_index(["study_id"])

    db["messages"].create({
        "id": int, "digest_id": int, "destination": str, "part": int, "external_id": str,
        "items": int, "sent_at": str,
    }, pk="id")
    db["messages"].create_index(["digest_id"])

    db["events_outbox"].create({
        "id": int, "destination": str, "event_id": int, "state": str, "attempts": int,
        "last_error": str, "queued_at": str, "sent_at": str, "digest_id": int,
        "message_id": int,
    }, pk="id", foreign_keys=[("event_id", "events", "id")], not_null={"state"},
        defaults={"attempts": 0})
    elsewhere = {row[0] for row in conn.execute(
        "SELECT study_id FROM outbox WHERE destination != 'terminal'")}
    for old in conn.execute(
            "SELECT destination, study_id, queued_at, sent_at, digest_id FROM outbox ORDER BY id"
    ).fetchall():
        destination, study_id, queued_at, sent_at, digest_id = old
        key = NewStudy.key_for(study_id)
        conn.execute("INSERT OR IGNORE INTO events (key, kind, study_id, details, created)"
                     " VALUES (?, ?, ?, ?, ?)", (key, NewStudy.KIND, study_id, json.dumps({}),
                                                 queued_at))
        event_id = conn.execute("SELECT id FROM events WHERE key = ?", (key,)).fetchone()[0]
        state, note = ("sent" if sent_at else "pending"), None
        if state == "pending" and destination == "terminal" and study_id in elsewhere:
            state, note = "withheld", "the skeleton's terminal copy of another destination's item"
        conn.execute(
            "INSERT INTO events_outbox (destination, event_id, state, attempts, queued_at,"
            " sent_at, digest_id, last_error) VALUES (?, ?, ?, 0, ?, ?, ?, ?)",
            (destination, event_id, state, queued_at, sent_at, digest_id, note))
    db["outbox"].drop()
    conn.execute("ALTER TABLE events_outbox RENAME TO outbox")
    conn.execute("CREATE UNIQUE INDEX idx_outbox_destination_event ON outbox"
                 " (destination, event_id)")
    conn.execute("CREATE INDEX idx_outbox_destination_state ON outbox (destination, state)")

    db["positions"].add_column("cursor", str)
    db["studies"].add_column("details", str)
    db["digests"].add_column("state", str)
    db["digests"].add_column("started", str)
    db["digests"].add_column("parts", int)
    conn.execute("UPDATE digests SET state = 'sent', started = sent_at")


def _migration_3(db: sqlite_utils.Database) -> None:
    """The worker lease: which `watcher serve` runs the schedules, and until when."""
    db["leases"].create({
        "name": str, "holder": str, "host": str, "pid": int, "since": str, "renewed": str,
        "expires": str,
    }, pk="name", not_null={"holder", "expires"})


def _migration_4(db: sqlite_utils.Database) -> None:
    """Query health: each poll's search count, the source's reading of the terms
    (QueryTranslation) and the hash of the terms sent, so a query that falls silent, or that
    PubMed starts reading differently while its terms are unchanged, can be told. Older polls
    have none of these (NULL): the checks only read polls that have them."""
    db["polls"].add_column("count", int)
    db["polls"].add_column("translation", str)
    db["polls"].add_column("terms_hash", str)
    db["polls"].create_index(["query_id", "source", "id"])


def _migration_5(db: sqlite_utils.Database) -> None:
    """Where each message went: the channel as configured and the id Slack answered with, so
    recovering an interrupted digest reads that channel's history without looking its name up
    among every channel of the workspace. Older messages have neither (NULL): recovery then
    looks the name up, as before."""
    db["messages"].add_column("channel", str)
    db["messages"].add_column("channel_id", str)
    db["messages"].create_index(["destination", "channel"])


def _migration_6(db: sqlite_utils.Database) -> None:
    """Routes: when each destination was first seen on each query's routes, so a destination
    added (or renamed without ``renamed_from``) is told what its queries find from then on,
    never the older studies a poll's overlap finds again. An older database's routes are taken
    from its outbox (the run that first saw them is unknown: 0). Its items do not say which
    query sent them, and a study two queries found is in the destinations of both: a
    destination was on a query's routes from its first item of the query's studies found after
    the last one (not excluded) it lacks; one that lacks the query's latest studies was not."""
    conn = db.conn
    db["routes"].create({"destination": str, "query_id": str, "first_seen": str,
                         "first_run": int}, pk=("destination", "query_id"),
                        not_null={"first_seen", "first_run"}, defaults={"first_run": 0})
    conn.execute("CREATE TEMP TABLE found_by AS SELECT study_id, query_id, MIN(first_matched)"
                 " AS found FROM matches GROUP BY study_id, query_id HAVING"
                 " SUM(excluded IS NULL) > 0")
    conn.execute("CREATE INDEX temp.found_by_query ON found_by (query_id, study_id)")
    conn.execute("CREATE TEMP TABLE held AS SELECT o.destination, e.study_id,"
                 " MIN(o.queued_at) AS queued_at FROM outbox o JOIN events e ON e.id ="
                 " o.event_id WHERE e.kind = ? AND o.queued_at IS NOT NULL GROUP BY"
                 " o.destination, e.study_id", (NewStudy.KIND,))
    conn.execute("CREATE UNIQUE INDEX temp.held_key ON held (destination, study_id)")
    conn.execute("CREATE INDEX temp.held_study ON held (study_id)")
    conn.execute(
        "INSERT INTO routes (destination, query_id, first_seen)"
        " WITH pairs AS (SELECT DISTINCT h.destination, f.query_id FROM held h JOIN found_by f"
        " ON f.study_id = h.study_id),"
        " missed AS (SELECT p.destination, p.query_id, MAX(f.found) AS last FROM pairs p JOIN"
        " found_by f ON f.query_id = p.query_id WHERE NOT EXISTS (SELECT 1 FROM held h WHERE"
        " h.destination = p.destination AND h.study_id = f.study_id) GROUP BY p.destination,"
        " p.query_id)"
        " SELECT p.destination, p.query_id, MIN(h.queued_at) FROM pairs p JOIN found_by f ON"
        " f.query_id = p.query_id JOIN held h ON h.destination = p.destination AND"
        " h.study_id = f.study_id LEFT JOIN missed x ON x.destination = p.destination AND"
        " x.query_id = p.query_id WHERE x.last IS NULL OR f.found > x.last"
        " GROUP BY p.destination, p.query_id")
    conn.execute("DROP TABLE temp.found_by")
    conn.execute("DROP TABLE temp.held")


def _migration_7(db: sqlite_utils.Database) -> None:
    """Full-text search (FTS5 over titles, abstracts, authors, journals and conditions, kept
    current by triggers) and the readable views Datasette shows: see search.py. An older
    database gains both, populated from what it holds, the first time it is opened."""
    add_search(db)


def _migration_8(db: sqlite_utils.Database) -> None:
    """A digest's text as it was sent (the archive shows it); older digests have none."""
    if "rendered" not in db["digests"].columns_dict:
        db["digests"].add_column("rendered", str)


def _migration_9(db: sqlite_utils.Database) -> None:
    """One study across sources: why each record belongs to its study (``study_joins``: the
    record, or the link or merged study, its rule and when; see joins.py). Records an older
    watcher attached are listed with the rule that attached them unknown and no time; a
    preprint server's DOI it kept as a plain ``doi`` becomes the study's ``preprint_doi``."""
    if "study_joins" in db.table_names():  # a database whose version was set back by hand
        return
    db["study_joins"].create({
        "id": int, "study_id": int, "source": str, "source_id": str, "merged_study": int,
        "rule": str, "basis": str, "joined": str,
    }, pk="id", not_null={"study_id", "rule"})
    db["study_joins"].create_index(["study_id"])
    db["study_joins"].create_index(["merged_study"])
    db.execute("INSERT INTO study_joins (study_id, source, source_id, rule, basis)"
               " SELECT study_id, source, source_id, 'kept before joins were recorded', ''"
               " FROM source_records WHERE study_id IS NOT NULL ORDER BY id")
    # A preprint server's DOI kept as a plain doi is the preprint's id from now on.
    for value, study_id in db.execute("SELECT value, study_id FROM study_ids WHERE"
                                      " scheme = 'doi'").fetchall():
        if is_preprint_doi(value):
            db.execute("UPDATE OR IGNORE study_ids SET scheme = 'preprint_doi' WHERE"
                       " scheme = 'doi' AND value = ? AND study_id = ?", [value, study_id])


def _migration_10(db: sqlite_utils.Database) -> None:
    """Look-ups after a poll (watcher.lookups, db/lookups.py): when each id of a study was last
    asked of each upstream (Crossref, bioRxiv, Europe PMC), and each upstream's last success
    and last failure."""
    db["lookup_items"].create({"upstream": str, "item": str, "study_id": int, "checked": str},
                              pk=("upstream", "item"), if_not_exists=True)
    db["lookup_items"].create_index(["study_id"], if_not_exists=True)
    db["lookup_status"].create({"upstream": str, "last_success": str, "last_attempt": str,
                                "last_error": str, "last_error_at": str, "checked": int},
                               pk="upstream", if_not_exists=True)


def _migration_11(db: sqlite_utils.Database) -> None:
    """Indexes so a run's cost does not grow with the history kept: closing a digest finds its
    outbox items by digest (it scanned the whole outbox, twice per digest), a study's deliveries
    by event, a query's health check counts the studies each of its recent polls found by run,
    and the look-ups read only the head of a schedule of ids instead of every id ever
    stored."""
    db["outbox"].create_index(["digest_id", "state"], if_not_exists=True)
    db["outbox"].create_index(["event_id"], if_not_exists=True)
    db["matches"].create_index(["query_id", "source", "run_id"], if_not_exists=True)
    # The look-ups' schedule (db/lookups.py): the earliest-asked first, and how far the ids
    # stored have been put on it (none yet: every stored id is, at the next look-up).
    db["lookup_items"].create_index(["upstream", "checked"], if_not_exists=True)
    db["lookup_enrolled"].create({"upstream": str, "through": int}, pk="upstream",
                                 if_not_exists=True)


def _migration_12(db: sqlite_utils.Database) -> None:
    """Corrections on a schedule of their own (watcher.poll_run): for each (query, source), the
    end of the last corrections (modification-date) window searched for it and when. An older
    watcher searched corrections with every poll, over the poll's own window: its PubMed
    positions (the one source with a corrections search) start from their window's end and
    last success, so the first search after the upgrade covers the revisions since."""
    if "corrections_end" in db["positions"].columns_dict:  # its version set back by hand
        return
    db["positions"].add_column("corrections_end", str)
    db["positions"].add_column("corrections_at", str)
    db.execute("UPDATE positions SET corrections_end = window_end, corrections_at ="
               " last_success WHERE source = 'pubmed' AND window_end IS NOT NULL")


#: Ordered schema migrations; the database's ``PRAGMA user_version`` is how many have run.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migration_1, _migration_2,
                                                             _migration_3, _migration_4,
                                                             _migration_5, _migration_6,
                                                             _migration_7, _migration_8,
                                                             _migration_9, _migration_10,
                                                             _migration_11, _migration_12]

#: Tables a watcher database has once migrated: how a foreign SQLite file is recognised.
CORE_TABLES = {"studies", "study_ids", "matches", "positions", "outbox", "runs", "polls",
               "digests"}


def foreign_reason(conn: sqlite3.Connection) -> str | None:
    """Why the SQLite database on *conn* is not watcher's, or None if it is (or is empty).

    Read-only, so it can run before anything is written. A watcher database has the ``meta``
    row written by migration 2, or (version 1, from before ``meta``) every core table.
    """
    tables = sorted(name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if not tables:
        return None if version == 0 else f"it has no tables but is marked version {version}"
    application = None
    if "meta" in tables:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'application'").fetchone()
            application = row[0] if row else None
        except sqlite3.OperationalError:  # another program's meta table, other columns
            pass
    elif set(tables) >= CORE_TABLES:
        application = APPLICATION
    if application == APPLICATION:
        return None
    shown = ", ".join(tables[:8]) + (f" and {len(tables) - 8} more" if len(tables) > 8 else "")
    return f"it has tables: {shown}"
