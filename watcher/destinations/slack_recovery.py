"""After a killed process: which messages of an interrupted digest Slack already holds.

Each bot message carries the digest id and its outbox ids in its metadata (EVENT_TYPE), so
the channel's history tells what was posted; the core marks it sent instead of posting it
twice. The history is read from the interrupted digest's start, however long ago, in the
channel whose id Slack answered when the digest (or an earlier one) was posted; only when none
was recorded is the name looked up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import DeliveryError
from .base import Found
from .slack_client import CHANNEL_ID, SlackError, explain

if TYPE_CHECKING:
    from ..db.report_rows import InterruptedItem

log = logging.getLogger("watcher.destinations.slack")

#: The metadata event type our messages carry.
EVENT_TYPE = "watcher_digest"
#: Recovery reads the channel's history from this many seconds before the interrupted digest
#: started (its start is taken before anything is posted; this covers clocks that disagree).
RECOVERY_MARGIN = 3600.0
#: Longest that recovery may spend reading Slack (every page, and the waits 429s ask for)
#: before it gives up for this run: the items stay 'sending' and the destination reports it.
RECOVERY_DEADLINE = 600.0
PAGE_SIZE = 200
#: What Slack answers for a channel the bot can no longer see at all.
OUT_OF_REACH = ("channel_not_found", "not_in_channel")
#: conversations.list allows up to 999 a page (Slack may answer fewer, even none, and a cursor).
LIST_PAGE_SIZE = 999


class History:
    """Searches a destination's channel history through *call* (a BotClient's)."""

    def __init__(self, call: Callable[..., Any], name: str, names: frozenset[str],
                 channel: str):
        self.call = call
        self.name = name
        # the names its messages may carry: a digest interrupted before a rename
        # (renamed_from) was posted under the old name, and is this destination's all the same
        self.names = names
        self.channel = channel

    def recover(self, interrupted: list[InterruptedItem]) -> list[Found]:
        """Messages of interrupted digests that Slack already holds, found by their metadata
        in the channel's history since each digest started (and in their threads). Each row
        of *interrupted* is an item: its outbox ``id``, ``digest_id``, the digest's
        ``started`` and the ``channel_id`` its messages went to (None: unknown, the configured
        name is looked up). Without the history scope it warns once and finds nothing (the
        items are re-sent); so it does for a channel the bot cannot see any more when the
        channel configured now is another one (moved, or deleted and made again: the items go
        there). Any other failure raises, and the items stay 'sending'."""
        wanted: dict[int, set[int]] = {}
        started: dict[int, str | None] = {}
        channels: dict[int, str | None] = {}
        for row in interrupted:
            if row.digest_id is not None:
                digest_id = int(row.digest_id)
                wanted.setdefault(digest_id, set()).add(int(row.id))
                started[digest_id] = row.started
                channels[digest_id] = row.channel_id or channels.get(digest_id)
        if not wanted:
            return []
        deadline = time.monotonic() + RECOVERY_DEADLINE
        found: list[Found] = []
        try:
            by_channel: dict[str, list[int]] = {}
            looked_up = None
            for digest_id in sorted(wanted):
                channel = channels[digest_id]
                if channel is None:
                    looked_up = looked_up or self._channel_id(deadline)
                    channel = looked_up
                by_channel.setdefault(channel, []).append(digest_id)
            for channel, digests in by_channel.items():
                try:
                    found += self._search(channel, {d: wanted[d] for d in digests}, started,
                                          deadline)
                except SlackError as exc:
                    if exc.code not in OUT_OF_REACH or self._posts_to(channel, deadline):
                        raise
                    # gone (or the bot removed from it), and the channel configured now is
                    # another one: what it holds is out of reach, and posted to no more
                    log.warning("%s: cannot read channel %s, where interrupted digest(s) %s "
                                "went (%s); their items not on record go to %s", self.name,
                                channel, ", ".join(map(str, digests)), exc.code, self.channel)
        except SlackError as exc:
            if exc.code != "missing_scope":
                raise
            log.warning("%s: cannot read %s's history to check an interrupted digest "
                        "(missing_scope: add channels:history, groups:history and "
                        "channels:read); its items will be sent again", self.name, self.channel)
            return []
        return found

    def _search(self, channel: str, wanted: dict[int, set[int]],
                started: dict[int, str | None], deadline: float) -> list[Found]:
        """Our messages for *wanted* digests in *channel*'s history since the earliest of them
        started (all of it, page by page), and in their threads."""
        since = [_epoch(started.get(d)) for d in wanted]
        known = [when for when in since if when is not None]
        extra: dict[str, Any] = {}
        if len(known) == len(since):  # an unreadable start: the whole history is read
            extra["oldest"] = f"{max(0.0, min(known) - RECOVERY_MARGIN):.6f}"
        found: list[Found] = []
        for message in self._pages("conversations_history", deadline, channel=channel,
                                   include_all_metadata=True, **extra):
            hit = _ours(message, wanted, started, self.names, channel)
            if hit is None:
                continue
            found.append(hit)
            if message.get("reply_count") or message.get("thread_ts"):
                for reply in self._pages("conversations_replies", deadline, channel=channel,
                                         ts=message["ts"], include_all_metadata=True):
                    if reply.get("ts") != message["ts"]:
                        hit = _ours(reply, wanted, started, self.names, channel)
                        if hit is not None:
                            found.append(hit)
        return found

    def _posts_to(self, channel: str, deadline: float) -> bool:
        """Whether the channel configured now is *channel* (or cannot be told apart from it:
        its name is not found either). Only asked when *channel* cannot be read."""
        try:
            return self._channel_id(deadline) == channel
        except SlackError:
            return True

    def _channel_id(self, deadline: float) -> str:
        """conversations.history needs the channel's id; the YAML may give its name, looked up
        through every page of conversations.list (a workspace may have thousands)."""
        if CHANNEL_ID.fullmatch(self.channel):
            return self.channel
        name = self.channel.lstrip("#")
        for channel in self._pages("conversations_list", deadline, key="channels",
                                   limit=LIST_PAGE_SIZE, types="public_channel,private_channel",
                                   exclude_archived=True):
            if channel.get("name") == name:
                return str(channel["id"])
        raise SlackError(explain(self.name, self.channel, "channel_not_found"),
                         "channel_not_found")

    def _pages(self, method: str, deadline: float, *, key: str = "messages",
               limit: int = PAGE_SIZE, **kwargs: Any) -> Iterator[Any]:
        """Every item of a cursor-paged method, page by page, until Slack gives no cursor
        (a page may be short, even empty, before the end). Past *deadline*, or on a cursor
        that comes back again, it gives up with an error rather than read forever; and on a
        page saying ``has_more`` without a cursor, rather than take part of it for all."""
        cursor = None
        seen: set[str] = set()
        pages = 0
        while True:
            if time.monotonic() > deadline:
                raise DeliveryError(
                    f"{self.name}: gave up reading Slack's {method.replace('_', '.')} after "
                    f"{pages} page(s) in {RECOVERY_DEADLINE:g} s"
                    + (f"; set 'channel' in the YAML to {self.channel}'s ID (C0...)"
                       if method == "conversations_list" else ""))
            response = self.call(method, limit=limit, cursor=cursor, **kwargs)
            pages += 1
            yield from response.get(key) or []
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor and response.get("has_more"):  # the rest unread: proves nothing
                raise DeliveryError(f"{self.name}: Slack's {method.replace('_', '.')} said more "
                                    "follows but gave no page cursor; cannot check an "
                                    "interrupted digest")
            if not cursor:
                return
            if cursor in seen:
                raise DeliveryError(f"{self.name}: Slack's {method.replace('_', '.')} gave the "
                                    "same page cursor twice; cannot check an interrupted digest")
            seen.add(cursor)


def _epoch(started: str | None) -> float | None:
    """A digest's start (ISO 8601) as seconds since the epoch, or None when unreadable."""
    try:
        when = datetime.fromisoformat(str(started))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _ours(message: dict[str, Any], wanted: dict[int, set[int]],
          started: dict[int, str | None], names: frozenset[str], channel: str) -> Found | None:
    """The message, found in *channel*, when it is one of ours for a wanted digest, posted
    under one of the destination's *names* (its own, or one it was renamed from).
    Digest ids restart at 1 in every database, so a message must also carry the same start
    time as our digest (messages posted before watcher tagged it are judged by their ids)."""
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != EVENT_TYPE:
        return None
    payload = metadata.get("event_payload") or {}
    try:
        digest_id = int(payload.get("digest_id"))
        part = int(payload.get("part", 0))
        ids = [int(i) for i in payload.get("outbox_ids") or []]
    except (TypeError, ValueError):
        return None
    if digest_id not in wanted or (payload.get("destination") is not None
                                   and payload.get("destination") not in names):
        return None
    if not set(ids) <= wanted[digest_id]:  # another install's digest with the same number
        return None
    tagged = payload.get("started")
    if tagged is not None and started.get(digest_id) is not None \
            and tagged != started[digest_id]:
        return None
    return Found(digest_id, part, ids, str(message.get("ts") or ""), channel)
