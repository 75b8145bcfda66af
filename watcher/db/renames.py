"""Renamed destinations: an old name's outbox rows, digests, messages, routes and runs move to
its new name (``renamed_from`` in the YAML), so nothing is told twice or lost."""

from __future__ import annotations

import json
import logging
from typing import Any

from .schema import OPEN_STATES

#: The name its lines have always carried (serve's JSON logs show it).
log = logging.getLogger("watcher.db.outbox")


class RenamesMixin:
    conn: Any
    transaction: Any  # from StoreBase

    def adopt_renames(self, renames: dict[str, str]) -> dict[str, int]:
        """Move everything each old destination name holds to its new name (old -> new): its
        outbox rows, digests and messages, routes and the runs its schedule is read from, in
        one transaction, before anything is polled or sent. An event both names hold is kept
        once: as sent if the old name was sent it (the new name's copy would repeat it), else
        as the new name has it. Idempotent: an old name that holds nothing is left alone.
        Returns, per old name that held something, how many items were still open."""
        moved: dict[str, int] = {}
        if not renames:
            return moved  # nothing to write: a read-only store is fine
        with self.transaction():
            for old, new in renames.items():
                if old == new or not self._holds(old):
                    continue
                moved[old] = self._adopt(old, new)
                log.info("destination %s renamed to %s: its history and %d open item(s) moved",
                         old, new, moved[old])
        return moved

    def _holds(self, name: str) -> bool:
        return any(self.conn.execute(sql, (name,)).fetchone() for sql in (
            "SELECT 1 FROM outbox WHERE destination = ? LIMIT 1",
            "SELECT 1 FROM digests WHERE destination = ? LIMIT 1",
            "SELECT 1 FROM routes WHERE destination = ? LIMIT 1",
            "SELECT 1 FROM runs WHERE command = 'serve ' || ? LIMIT 1"))

    def _adopt(self, old: str, new: str) -> int:
        execute = self.conn.execute
        execute("DELETE FROM outbox WHERE destination = ? AND state != 'sent' AND event_id IN"
                " (SELECT event_id FROM outbox WHERE destination = ? AND state = 'sent')",
                (new, old))
        execute("DELETE FROM outbox WHERE destination = ? AND event_id IN"
                " (SELECT event_id FROM outbox WHERE destination = ?)", (old, new))
        open_items = execute(
            f"SELECT COUNT(*) FROM outbox WHERE destination = ? AND state IN"
            f" ({','.join('?' * len(OPEN_STATES))})", (old, *OPEN_STATES)).fetchone()[0]
        for table in ("outbox", "digests", "messages"):
            execute(f"UPDATE {table} SET destination = ? WHERE destination = ?", (new, old))
        execute("INSERT INTO routes (destination, query_id, first_seen, first_run) SELECT ?,"
                " query_id, first_seen, first_run FROM routes WHERE destination = ? ON CONFLICT"
                " (destination, query_id) DO UPDATE SET first_seen = MIN(first_seen,"
                " excluded.first_seen), first_run = MIN(first_run, excluded.first_run)",
                (new, old))
        execute("DELETE FROM routes WHERE destination = ?", (old,))
        # `serve` reads a destination's last scheduled firing from its runs ('serve NAME', and
        # whom each run sent to): they follow the name, or a missed digest would be re-sent.
        for run_id, command, summary in execute(
                "SELECT id, command, summary FROM runs WHERE command = ? OR summary LIKE ?",
                (f"serve {old}", f'%"{old}"%')).fetchall():
            try:
                data = json.loads(summary or "{}")
            except ValueError:
                data = {}
            sent = data.get("sent") if isinstance(data, dict) else None
            if isinstance(sent, dict) and old in sent:
                sent.setdefault(new, sent.pop(old))
                summary = json.dumps(data)
            execute("UPDATE runs SET command = ?, summary = ? WHERE id = ?",
                    (f"serve {new}" if command == f"serve {old}" else command, summary, run_id))
        return open_items
