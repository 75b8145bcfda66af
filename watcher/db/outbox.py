"""Events and the outbox of events: what each destination has been told, and what it has not.

An event has a stable key, so the same fact found again is stored once. The outbox holds one
row per (destination, event) with a state:

    pending  -> sending  (a digest carrying it has started)
    sending  -> sent     (the message that carried it was accepted; its id is recorded)
    sending  -> pending  (the digest failed part-way: only the unsent rest goes back)
    pending  -> withheld (the query's filters now exclude it)
    pending  -> retired  (its destination was removed on purpose: ``retired:`` in the YAML)
    sending  -> retired_sending (likewise, but an interrupted digest was sending it: it may
                         be in the destination already, so it counts as told, never as owed)
    pending  -> merged   (its study was merged into one the destination already holds or is
                         owed: set aside, never sent; see joins.py)

A row still 'sending' when a process died is offered again by the next digest, which the
destination may first check against what it already holds (a Slack digest id, say).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from ..events import Event, from_row
from ..redact import scrub
from .report_rows import Delivery, InterruptedItem, SentMessage
from .rows import PendingItem
from .schema import OPEN_STATES

log = logging.getLogger(__name__)


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


class OutboxMixin:
    conn: Any
    db: Any

    # transaction() comes from StoreBase; get_study() and matches_of() from StudiesMixin.
    transaction: Any
    get_study: Any
    matches_of: Any

    # --- events ----------------------------------------------------------------------------

    def add_event(self, event: Event, now: str) -> tuple[int, bool]:
        """Store *event* unless one with its key exists; (event id, whether it is new)."""
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO events (key, kind, study_id, query_id, details, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (event.key, event.kind, event.study_id, event.query_id,
             json.dumps(event.details, sort_keys=True), now))
        if cursor.rowcount == 1:  # new: its id is the row just inserted
            return cursor.lastrowid, True
        event_id = self.conn.execute("SELECT id FROM events WHERE key = ?",
                                     (event.key,)).fetchone()[0]
        return event_id, False

    def events_of(self, study_id: int) -> list[Event]:
        return [from_row(row) for row in self.db.query(
            "SELECT * FROM events WHERE study_id = ? ORDER BY id", [study_id])]

    def deliveries_of(self, event_id: int) -> list[Delivery]:
        """Where an event went: one row per destination with its state and when it was sent."""
        return [Delivery(*row) for row in self.conn.execute(
            "SELECT destination, state, sent_at, last_error FROM outbox WHERE event_id = ?"
            " ORDER BY destination", (event_id,))]

    def queue(self, destination: str, event_id: int, now: str) -> bool:
        """Queue an event for a destination unless it was ever queued there before."""
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO outbox (destination, event_id, state, attempts, queued_at)"
            " VALUES (?, ?, 'pending', 0, ?)", (destination, event_id, now))
        return cursor.rowcount == 1


    # --- what a destination has not been told yet -------------------------------------------

    def pending(self, destination: str, *, withheld: bool = False) -> list[PendingItem]:
        """Open items for *destination* (pending, or left 'sending' by a dead process), oldest
        first, with their events, studies and matches; with *withheld*, also the items filters
        held back, to be judged again (a filter undone makes them owed again)."""
        states = (*OPEN_STATES, "withheld") if withheld else OPEN_STATES
        rows = self.conn.execute(
            "SELECT o.id, o.queued_at, o.attempts, e.id, e.key, e.kind, e.study_id, e.query_id,"
            " e.details, e.created, o.state FROM outbox o JOIN events e ON e.id = o.event_id"
            f" WHERE o.destination = ? AND o.state IN ({','.join('?' * len(states))})"
            " ORDER BY o.id", (destination, *states)).fetchall()
        items = []
        studies: dict[int, Any] = {}
        for (outbox_id, queued_at, attempts, event_id, key, kind, study_id, query_id, details,
             created, state) in rows:
            event = from_row({"key": key, "kind": kind, "study_id": study_id,
                              "query_id": query_id, "details": details, "created": created,
                              "id": event_id})
            study = None
            if study_id is not None:
                if study_id not in studies:
                    studies[study_id] = (self.get_study(study_id), self.matches_of(study_id))
                study = studies[study_id][0]
            matches = studies[study_id][1] if study_id is not None else []
            items.append(PendingItem(outbox_id, event, study, matches, queued_at, attempts,
                                     state))
        return items

    def interrupted(self, destination: str) -> list[InterruptedItem]:
        """Items a dead process left 'sending', with the digest that carried them, when it
        started, the channel id its recorded messages went to and the channel as configured
        then (None if none was recorded): the destination may already hold them."""
        latest = ("(SELECT m.{} FROM messages m WHERE m.digest_id = o.digest_id AND"
                  " m.channel_id IS NOT NULL ORDER BY m.id DESC LIMIT 1)")
        return [InterruptedItem(*row) for row in self.conn.execute(
            f"SELECT o.id, o.digest_id, d.started, {latest.format('channel_id')} AS channel_id,"
            f" {latest.format('channel')} AS channel FROM outbox o LEFT JOIN digests d"
            " ON d.id = o.digest_id WHERE o.destination = ? AND o.state = 'sending'"
            " ORDER BY o.id", (destination,))]

    def channel_id(self, destination: str, channel: str) -> str | None:
        """The id the destination answered with for the latest message it took in *channel*
        (as configured), or None: what a channel name resolves to without asking."""
        row = self.conn.execute(
            "SELECT channel_id FROM messages WHERE destination = ? AND channel = ? AND"
            " channel_id IS NOT NULL ORDER BY id DESC LIMIT 1", (destination, channel)
        ).fetchone()
        return row[0] if row else None

    def stuck(self, destination: str, error: str) -> int:
        """The check of an interrupted digest could not run: its items stay 'sending' (they
        may be in the channel already) but carry the error, so health and status report a
        destination that cannot send. Returns how many items wait."""
        return self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE destination = ?"
            " AND state = 'sending'", (scrub(error), destination)).rowcount

    def pending_counts(self) -> dict[str, int]:
        return dict(self.conn.execute(
            "SELECT destination, COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')"
            " GROUP BY destination"))

    def retire(self, destinations: Iterable[str], now: str) -> dict[str, int]:
        """Set aside what destinations removed on purpose still owe: never sent, no longer
        counted as pending, kept with when and why. An item an interrupted digest was sending
        may already be there: it is kept apart ('retired_sending') so that it is never called
        unsent and a correction of its study is still told. Idempotent. Returns, per
        destination that still held open items, how many were set aside."""
        retired: dict[str, int] = {}
        for name in destinations:
            count = sum(self.conn.execute(
                "UPDATE outbox SET state = ?, last_error = ? WHERE destination = ?"
                " AND state = ?", (state, f"destination retired in the YAML ({now}){why}",
                                   name, was)).rowcount
                for was, state, why in (
                    ("pending", "retired", ""),
                    ("sending", "retired_sending", " while an interrupted digest was sending"
                     " it: it may have been posted")))
            # Added back later under this name, it starts afresh: from the new route's time,
            # not handed the studies a poll's overlap finds again.
            self.conn.execute("DELETE FROM routes WHERE destination = ?", (name,))
            if count:
                retired[name] = count
                log.info("destination %s retired: %d open item(s) set aside, never sent",
                         name, count)
        return retired

    def retired_counts(self, *, maybe_sent: bool = False) -> dict[str, int]:
        """Items set aside per retired destination (see retire); with *maybe_sent*, only
        those an interrupted digest was sending."""
        states = ("'retired_sending'",) if maybe_sent else ("'retired'", "'retired_sending'")
        return dict(self.conn.execute(
            f"SELECT destination, COUNT(*) FROM outbox WHERE state IN ({', '.join(states)})"
            " GROUP BY destination"))

    def withhold(self, outbox_ids: Iterable[int], reason: str) -> None:
        """Keep items that the query's filters now exclude out of every digest, with why."""
        for chunk in _chunks(list(outbox_ids)):
            marks = ",".join("?" * len(chunk))
            self.conn.execute(f"UPDATE outbox SET state = 'withheld', last_error = ?"
                              f" WHERE state IN ('pending', 'sending') AND id IN ({marks})",
                              (scrub(reason), *chunk))

    def outbox_states(self, destination: str) -> dict[str, int]:
        return dict(self.conn.execute(
            "SELECT state, COUNT(*) FROM outbox WHERE destination = ? GROUP BY state",
            (destination,)))

    def last_delivery_error(self, destination: str) -> str | None:
        """The error of the destination's last failed attempt that still holds items back:
        items put back to pending, or items left 'sending' that could not be checked (an
        interrupted digest whose channel could not be read), those first: they block every
        later digest. A digest being sent has cleared its items' errors."""
        row = self.conn.execute(
            "SELECT last_error FROM outbox WHERE destination = ? AND last_error IS NOT NULL AND"
            " attempts > 0 AND state IN ('pending', 'sending') ORDER BY state = 'sending' DESC,"
            " id DESC LIMIT 1", (destination,)).fetchone()
        return row[0] if row else None


class DigestsMixin:
    """A digest being sent, the messages that carried it, and what a schedule reads back."""

    conn: Any
    db: Any
    transaction: Any  # from StoreBase; pending_counts() from OutboxMixin
    pending_counts: Any


    # --- digests and the messages that carry them --------------------------------------------

    def begin_digest(self, destination: str, outbox_ids: list[int], *, now: str,
                     through_poll: int, receipt: str, rendered: str = "") -> int:
        """Record that a digest is being sent and mark its items 'sending', before anything
        leaves: a crash from here on leaves a trace the next run can check. *rendered* is the
        digest as read (its text rendering), kept so the archive shows it as it was sent."""
        with self.transaction():
            digest_id = self.db["digests"].insert({
                "destination": destination, "started": now, "sent_at": None,
                "items": len(outbox_ids), "through_poll": through_poll, "receipt": receipt,
                "state": "sending", "parts": 0, "rendered": rendered or None}).last_pk
            for chunk in _chunks(outbox_ids):
                marks = ",".join("?" * len(chunk))
                self.conn.execute(
                    f"UPDATE outbox SET state = 'sending', digest_id = ?, last_error = NULL"
                    f" WHERE id IN ({marks})"
                    f" AND state IN ('pending', 'sending', 'withheld')", (digest_id, *chunk))
        return digest_id

    def record_message(self, digest_id: int, destination: str, *, part: int,
                       outbox_ids: list[int], external_id: str | None, now: str,
                       channel: str | None = None, channel_id: str | None = None) -> int:
        """One message of a digest was accepted: its items are sent, whatever happens next.
        *channel* is where it was addressed (as configured), *channel_id* the id the
        destination answered with (Slack's channel id)."""
        with self.transaction():
            message_id = self.db["messages"].insert({
                "digest_id": digest_id, "destination": destination, "part": part,
                "external_id": external_id, "items": len(outbox_ids), "sent_at": now,
                "channel": channel, "channel_id": channel_id}).last_pk
            for chunk in _chunks(outbox_ids):
                marks = ",".join("?" * len(chunk))
                self.conn.execute(
                    f"UPDATE outbox SET state = 'sent', sent_at = ?, message_id = ?,"
                    f" digest_id = ?, last_error = NULL WHERE id IN ({marks})"
                    f" AND state IN ('pending', 'sending')", (now, message_id, digest_id, *chunk))
            self.conn.execute("UPDATE digests SET parts = parts + 1, sent_at = COALESCE(sent_at,"
                              " ?) WHERE id = ?", (now, digest_id))
        return message_id

    def finish_digest(self, digest_id: int, *, now: str, error: str | None = None,
                      uncertain: list[int] | None = None) -> str:
        """Close a digest: items not carried by an accepted message go back to pending with
        the error, except *uncertain* ones (their message may have arrived: they stay
        'sending', with the error, so the next digest checks first); returns the digest's final
        state (sent, partial or failed)."""
        keep = list(uncertain or [])
        with self.transaction():
            for chunk in _chunks(keep):
                self.conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE digest_id"
                    f" = ? AND state = 'sending' AND id IN ({','.join('?' * len(chunk))})",
                    (scrub(error or "its message may not have arrived"), digest_id, *chunk))
            spare = f" AND id NOT IN ({','.join('?' * len(keep))})" if keep else ""
            left = self.conn.execute(
                "UPDATE outbox SET state = 'pending', attempts = attempts + 1, last_error = ?"
                f" WHERE digest_id = ? AND state = 'sending'{spare}",
                (scrub(error or "digest ended before this item was sent"), digest_id, *keep)
            ).rowcount + len(keep)
            parts = self.conn.execute("SELECT parts FROM digests WHERE id = ?",
                                      (digest_id,)).fetchone()[0]
            state = "sent" if not left and not error else ("partial" if parts else "failed")
            self.conn.execute("UPDATE digests SET state = ?, sent_at = CASE WHEN ? = 'failed'"
                              " THEN NULL ELSE COALESCE(sent_at, ?) END WHERE id = ?",
                              (state, state, now, digest_id))
        return state

    def messages_of(self, digest_id: int) -> list[SentMessage]:
        """The accepted messages of a digest, in part order."""
        return [SentMessage(*row) for row in self.conn.execute(
            "SELECT id, digest_id, destination, part, external_id, items, sent_at, channel,"
            " channel_id FROM messages WHERE digest_id = ? ORDER BY part", (digest_id,))]

    def last_digest(self, destination: str) -> tuple[str | None, int]:
        """(when, last poll id covered) of the destination's previous digest that reached it."""
        row = self.conn.execute(
            "SELECT sent_at, through_poll FROM digests WHERE destination = ? AND sent_at IS NOT"
            " NULL ORDER BY id DESC LIMIT 1", (destination,)).fetchone()
        return (row[0], row[1] or 0) if row else (None, 0)

    def left_partial(self, destination: str) -> bool:
        """Whether *destination*'s latest digest was only partly sent and items still wait."""
        row = self.conn.execute("SELECT state FROM digests WHERE destination = ? ORDER BY id"
                                " DESC LIMIT 1", (destination,)).fetchone()
        return bool(row and row[0] == "partial" and self.pending_counts().get(destination, 0))


