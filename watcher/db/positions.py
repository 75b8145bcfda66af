"""Where each (query, source) stands, what was quarantined on the way, and the run log.

A position moves forward only in the transaction that stores what was fetched. A record that
keeps failing (listed by a search but never returned, or unparseable) is quarantined with its
reason instead of holding its query's position back for ever.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..redact import scrub
from .report_rows import HeldRecord, Outage, PollWindow, PositionRow


@dataclass
class Position:
    window_end: str | None
    terms_hash: str | None
    last_success: str | None
    last_error: str | None
    last_error_at: str | None
    cursor: str | None = None  # opaque, source-defined (ETag, Last-Modified, seen ids ...)
    #: The end of the last corrections window searched for it (a two-phase source's), and when.
    corrections_end: str | None = None
    corrections_at: str | None = None


class PositionsMixin:
    conn: Any
    db: Any
    transaction: Any  # from StoreBase

    # --- positions -------------------------------------------------------------------------

    def position(self, query_id: str, source: str) -> Position:
        row = self.conn.execute(
            "SELECT window_end, terms_hash, last_success, last_error, last_error_at, cursor,"
            " corrections_end, corrections_at FROM positions WHERE query_id = ? AND source = ?",
            (query_id, source)).fetchone()
        return Position(*row) if row else Position(None, None, None, None, None)

    def advance(self, query_id: str, source: str, *, window_end: str | None, terms_hash: str,
                now: str, cursor: str | None = None) -> None:
        self.db["positions"].upsert({
            "query_id": query_id, "source": source, "window_end": window_end,
            "terms_hash": terms_hash, "cursor": cursor, "last_success": now,
            "last_attempt": now, "last_error": None, "last_error_at": None,
        }, pk=("query_id", "source"))

    def advance_corrections(self, query_id: str, source: str, *, end: str, now: str) -> None:
        """The query's stored records have had their revisions through *end* looked at: the
        next corrections search for it starts there (minus the overlap)."""
        self.db["positions"].upsert({
            "query_id": query_id, "source": source, "corrections_end": end,
            "corrections_at": now,
        }, pk=("query_id", "source"))

    def record_failure(self, query_id: str, source: str, *, error: str, now: str) -> None:
        """Note the error for `watcher status`; the window is deliberately left where it was."""
        self.db["positions"].upsert({
            "query_id": query_id, "source": source, "last_attempt": now,
            "last_error": scrub(error), "last_error_at": now,
        }, pk=("query_id", "source"))

    def positions(self) -> list[PositionRow]:
        """Every (query, source) polled at least once, in query and source order."""
        return [PositionRow(*row) for row in self.conn.execute(
            "SELECT query_id, source, window_end, last_success, last_attempt, last_error,"
            " last_error_at, corrections_end, corrections_at FROM positions"
            " ORDER BY query_id, source")]

    def outages(self) -> list[Outage]:
        """Every (query, source) failing now (its last poll failed: a success clears the
        error), with its last success, saved window end and first failure since that success:
        what a digest's receipt says about a source that is down, over however many runs."""
        return [Outage(*row) for row in self.conn.execute(
            "SELECT p.query_id, p.source, p.last_success, p.window_end,"
            " (SELECT MIN(l.finished) FROM polls l WHERE l.query_id = p.query_id AND"
            "  l.source = p.source AND l.error IS NOT NULL AND"
            "  l.finished > COALESCE(p.last_success, ''))"
            " FROM positions p WHERE p.last_error IS NOT NULL ORDER BY p.query_id, p.source")]

    # --- quarantine --------------------------------------------------------------------------

    def note_missing(self, source: str, source_id: str, query_id: str, *, reason: str,
                     now: str) -> int:
        """Count another run in which a listed record could not be had; returns the count."""
        self.conn.execute(
            "INSERT INTO quarantine (source, source_id, query_id, kind, reason, attempts,"
            " first_seen, last_seen, state) VALUES (?, ?, ?, 'missing', ?, 1, ?, ?, 'watching')"
            " ON CONFLICT (source, source_id, query_id) DO UPDATE SET attempts = attempts + 1,"
            " reason = excluded.reason, last_seen = excluded.last_seen,"
            " state = CASE WHEN state = 'released' THEN 'watching' ELSE state END,"
            " attempts = CASE WHEN state = 'released' THEN 1 ELSE attempts + 1 END",
            (source, source_id, query_id, scrub(reason), now, now))
        return self.conn.execute(
            "SELECT attempts FROM quarantine WHERE source = ? AND source_id = ? AND"
            " query_id = ?", (source, source_id, query_id)).fetchone()[0]

    def quarantine(self, source: str, source_id: str, query_id: str, *, kind: str,
                   reason: str, now: str) -> None:
        """Set a record aside with its reason: its query's position may move on."""
        self.conn.execute(
            "INSERT INTO quarantine (source, source_id, query_id, kind, reason, attempts,"
            " first_seen, last_seen, state) VALUES (?, ?, ?, ?, ?, 1, ?, ?, 'quarantined')"
            " ON CONFLICT (source, source_id, query_id) DO UPDATE SET kind = excluded.kind,"
            " reason = excluded.reason, last_seen = excluded.last_seen, state = 'quarantined'",
            (source, source_id, query_id, kind, scrub(reason), now, now))

    def release(self, source: str, source_ids: list[str], *,
                query_id: str | None = None) -> None:
        """Records that arrived after all leave the quarantine (of *query_id* only, if given:
        another query that held one must still match it when it next polls)."""
        only = " AND query_id = ?" if query_id else ""
        for value in source_ids:
            self.conn.execute("UPDATE quarantine SET state = 'released' WHERE source = ? AND"
                              f" source_id = ? AND state != 'released'{only}",
                              (source, value, *([query_id] if query_id else [])))

    def quarantined(self, *, source: str | None = None, query_id: str | None = None,
                    states: tuple[str, ...] = ("quarantined",)) -> list[dict[str, Any]]:
        where = [f"state IN ({','.join('?' * len(states))})"]
        args: list[Any] = list(states)
        if source:
            where.append("source = ?")
            args.append(source)
        if query_id:
            where.append("query_id = ?")
            args.append(query_id)
        return list(self.db.query(
            f"SELECT * FROM quarantine WHERE {' AND '.join(where)} ORDER BY id", args))

    def held_records(self, states: tuple[str, ...] = ("watching", "quarantined"), *,
                     source: str | None = None, query_id: str | None = None
                     ) -> list[HeldRecord]:
        """Records set aside (or still awaited) for their queries (of *source* and
        *query_id*, when given), oldest first: what `watcher status` lists under each (query,
        source), what a poll asks for again and what a receipt counts."""
        where, args = [f"state IN ({','.join('?' * len(states))})"], list(states)
        for column, value in (("source", source), ("query_id", query_id)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        return [HeldRecord(*row) for row in self.conn.execute(
            "SELECT query_id, source, source_id, state, reason, first_seen, last_seen, attempts"
            f" FROM quarantine WHERE {' AND '.join(where)} ORDER BY id", args)]

    # --- runs and poll receipts -------------------------------------------------------------

    def start_run(self, command: str, now: str) -> int:
        with self.transaction():
            return self.db["runs"].insert(
                {"command": command, "started": now, "status": "running"}).last_pk

    def finish_run(self, run_id: int, *, status: str, now: str, summary: dict[str, Any]) -> None:
        with self.transaction():
            self.db["runs"].update(run_id, {"finished": now, "status": status,
                                            "summary": scrub(json.dumps(summary))})

    def log_poll(self, *, run_id: int, query_id: str, source: str, window_start: str | None,
                 window_end: str | None, seen: int, new: int, warnings: list[str],
                 error: str | None, now: str, count: int | None = None,
                 translation: str | None = None, terms_hash: str | None = None) -> int:
        return self.db["polls"].insert({
            "run_id": run_id, "query_id": query_id, "source": source,
            "window_start": window_start, "window_end": window_end, "seen": seen, "new": new,
            "warnings": json.dumps([scrub(w) for w in warnings]),
            "error": scrub(error) if error else None, "finished": now,
            "count": count, "translation": scrub(translation) if translation else translation,
            "terms_hash": terms_hash,
        }).last_pk

    def search_history(self, query_id: str, source: str, *, limit: int) -> list[dict[str, Any]]:
        """The last *limit* successful polls of (query, source) that recorded a search count,
        newest first: what the query-health checks read. ``found`` is how many records the
        query found for the first time in that poll (its matches from the poll's run): each
        record counts once, however many overlapping windows list it again."""
        # Counted per poll listed (by the index on matches' query, source and run), not over
        # every match the query ever had: the check's cost stays flat as history grows.
        return list(self.db.query(
            "SELECT p.id, p.count, p.translation, p.terms_hash, p.finished,"
            " (SELECT COUNT(*) FROM matches m WHERE m.query_id = p.query_id"
            "  AND m.source = p.source AND m.run_id = p.run_id) AS found FROM polls p"
            " WHERE p.query_id = ? AND p.source = ? AND p.error IS NULL AND p.count IS NOT NULL"
            " ORDER BY p.id DESC LIMIT ?", [query_id, source, limit]))

    def polls_after(self, poll_id: int) -> list[dict[str, Any]]:
        """Poll receipts logged after *poll_id*: what a destination's next receipt covers."""
        return list(self.db.query("SELECT * FROM polls WHERE id > ? ORDER BY id", [poll_id]))

    def last_windows(self) -> dict[tuple[str, str], PollWindow]:
        """(query, source) -> the window its last successful poll covered."""
        rows = self.conn.execute(
            "SELECT query_id, source, window_start, window_end FROM polls WHERE id IN"
            " (SELECT MAX(id) FROM polls WHERE error IS NULL AND window_start IS NOT NULL"
            " GROUP BY query_id, source)")
        return {(query, source): PollWindow(start, end) for query, source, start, end in rows}

    def last_poll_id(self) -> int:
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM polls").fetchone()[0]

    def first_failed_poll(self, query_id: str, source: str) -> str | None:
        """When the first failed poll of (query, source) finished: how long one that never
        succeeded has been failing."""
        return self.conn.execute(
            "SELECT MIN(finished) FROM polls WHERE query_id = ? AND source = ? AND error IS NOT"
            " NULL", (query_id, source)).fetchone()[0]

    def last_run_not_sending(self, command: str, destination: str) -> str | None:
        """When the last run of *command* that completed without sending to *destination*
        finished (a scheduled digest with nothing to send: only its run records it)."""
        for finished, summary in self.conn.execute(
                "SELECT finished, summary FROM runs WHERE command = ? AND status = 'ok' AND"
                " finished IS NOT NULL ORDER BY id DESC", (command,)):
            try:
                sent_to = json.loads(summary or "{}").get("sent") or {}
            except (ValueError, AttributeError):
                continue
            if destination not in sent_to:
                return finished
        return None
