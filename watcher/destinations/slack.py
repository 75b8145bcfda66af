"""Slack senders: a bot token (one top-level message per digest, the items in its thread) and
an incoming webhook (several plain messages: a webhook cannot thread).

Both go through slack_sdk, paced to about one message per second per channel, with a 429
retried after its Retry-After. ``ok: false`` is an error: the part is not accepted, so its
items stay pending. Error lines name the destination and Slack's error code, never the token or
the webhook URL. Each bot message carries the digest id and its outbox ids in its metadata, so
after a crash :meth:`SlackSender.recover` can find in the channel's history what was already
posted, and the core marks it sent instead of posting it twice. It reads the history from the
interrupted digest's start, however long ago, in the channel whose id Slack answered when the
digest (or an earlier one) was posted; only when none was recorded is the name looked up.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from ..digest import Digest
from ..errors import DeliveryError
from ..render import slack as render

if TYPE_CHECKING:
    from ..config import Destination
    from ..settings import Settings
    from . import Part

log = logging.getLogger(__name__)

EVENT_TYPE = "watcher_digest"
RATE_LIMIT_RETRIES = 5
#: Longest Retry-After waited for; a longer (or unreadable) one fails the part, which stays
#: pending, rather than putting the run and every later destination to sleep.
MAX_RETRY_AFTER = 60.0
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

#: Slack error code -> what the operator should do (the items stay pending either way).
ADVICE = {
    "channel_not_found": "the channel {channel} was not found: check 'channel' in the YAML",
    "not_in_channel": "the bot is not a member of {channel}: invite it (/invite @your-bot)",
    "is_archived": "the channel {channel} is archived",
    "invalid_auth": "SLACK_BOT_TOKEN was refused: check the token",
    "not_authed": "no SLACK_BOT_TOKEN was accepted: check the token",
    "token_revoked": "SLACK_BOT_TOKEN was revoked: install the app again",
    "account_inactive": "the bot's account is inactive: check the Slack app",
    "invalid_blocks": "Slack rejected the message layout",
    "msg_too_long": "Slack said the message is too long",
    "no_text": "Slack said the message has no text",
    "ratelimited": "Slack kept rate-limiting the channel",
    "missing_scope": "the token lacks a scope: give the app chat:write",
    "invalid_payload": "Slack could not read the message",
    "action_prohibited": "the workspace does not allow this webhook to post",
    "no_service": "the webhook URL is no longer valid: check SLACK_WEBHOOK_URL",
}

#: What differs for an incoming webhook, which is tied to one channel by its URL.
WEBHOOK_ADVICE = {
    "channel_not_found": "the webhook's channel no longer exists: create a new webhook and "
                         "set SLACK_WEBHOOK_URL",
    "channel_is_archived": "the webhook's channel is archived",
    "invalid_token": "the webhook URL was refused: check SLACK_WEBHOOK_URL",
}

def _retry_after(response: Any) -> float | None:
    """Seconds a 429 asks to wait (1 when it does not say), or None when unreadable."""
    for name, values in (response.headers or {}).items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) else values
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return seconds if 0 <= seconds < float("inf") else None
    return 1.0


class _RateLimitRetry(RateLimitErrorRetryHandler):
    """Retries a 429 after its Retry-After, but only a short wait that can be read."""

    def _can_retry(self, *, state: Any, request: Any, response: Any = None,
                   error: Exception | None = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response)
        return wait is not None and wait <= MAX_RETRY_AFTER

    def prepare_for_next_attempt(self, *, state: Any, request: Any, response: Any = None,
                                 error: Exception | None = None) -> None:
        state.next_attempt_requested = True
        time.sleep(_retry_after(response) or 1.0)
        state.increment_current_attempt()


class _Silent(logging.Filter):
    """slack_sdk logs each failed request as an ERROR of its own (a second, unattributed line
    beside the sender's) and, at debug level, the URL it calls, which for a webhook is the
    secret: the sender reports every failure itself, so nothing of the SDK's is shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


_sdk_log = logging.getLogger(__name__ + ".sdk")
_sdk_log.addFilter(_Silent())

_pace_lock = threading.Lock()
_last_post: dict[str, float] = {}


def _pace(key: str, interval: float) -> None:
    """Wait until *interval* seconds have passed since the last post to the same channel
    answered (any sender in this process)."""
    with _pace_lock:
        wait = _last_post.get(key, -interval) + interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)


def _posted(key: str) -> None:
    with _pace_lock:
        _last_post[key] = time.monotonic()


class SlackError(DeliveryError):
    """Slack answered ``ok: false`` (or a webhook error): *code* is Slack's error code."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def _code(value: object) -> str:
    """Slack's error code as a short safe word (an error body is not trusted)."""
    found = re.match(r"[A-Za-z0-9_.:-]{1,60}", str(value or "").strip())
    return found.group(0) if found else "unknown_error"


def explain(destination: str, channel: str | None, code: str) -> str:
    """One line naming the destination, what Slack said and what to do (*channel* None: an
    incoming webhook)."""
    advice = (WEBHOOK_ADVICE.get(code) if channel is None else None) or ADVICE.get(
        code, "Slack refused the message").format(channel=channel or "the webhook's channel")
    return f"{destination}: {advice} ({code})"


def _unreachable(destination: str, exc: Exception) -> str:
    reason = " ".join(str(getattr(exc, "reason", None) or exc or type(exc).__name__).split())
    return f"{destination}: Slack could not be reached ({reason[:120]})"


def _parts(digest: Digest, *, threaded: bool) -> list[Part]:
    from . import Part

    return [Part(list(m.outbox_ids), m.payload(), render.readable(m), {"reply": m.reply})
            for m in render.render(digest, threaded=threaded)]


class SlackSender:
    """Posts with a bot token: one top-level message per digest, its items as thread replies."""

    def __init__(self, destination: Destination, settings: Settings, *,
                 interval: float | None = None):
        self.name = destination.name
        # the names its messages may carry: a digest interrupted before a rename (renamed_from)
        # was posted under the old name, and is this destination's all the same
        self.names = frozenset({destination.name, *destination.renamed_from})
        self.channel = destination.channel or ""
        self.interval = settings.slack_interval if interval is None else interval
        base_url = settings.slack_api_url.rstrip("/") + "/"
        self.client = WebClient(
            token=settings.slack_bot_token, base_url=base_url, timeout=settings.http_timeout,
            logger=_sdk_log,
            retry_handlers=[_RateLimitRetry(max_retry_count=RATE_LIMIT_RETRIES)])
        self._pace_key = f"{base_url} {self.channel}"
        self._thread_ts: str | None = None

    def prepare(self, digest: Digest) -> list[Part]:
        return _parts(digest, threaded=True)

    def send(self, part: Part) -> str | None:
        reply = bool(part.meta.get("reply"))
        if reply and not self._thread_ts:
            raise DeliveryError(f"{self.name}: no top-level message to reply under")
        kwargs: dict[str, Any] = {
            "channel": self.channel, "text": part.body["text"], "blocks": part.body["blocks"],
            "unfurl_links": False, "unfurl_media": False, "parse": "none"}
        if reply:
            kwargs["thread_ts"] = self._thread_ts
        if part.meta.get("digest_id") is not None:
            kwargs["metadata"] = {"event_type": EVENT_TYPE, "event_payload": {
                "digest_id": part.meta["digest_id"], "part": part.meta.get("part", 0),
                "outbox_ids": list(part.outbox_ids), "destination": self.name,
                "started": part.meta.get("started")}}
        response = self._call("chat_postMessage", **kwargs)
        ts = str(response.get("ts") or "")
        channel_id = response.get("channel")
        if isinstance(channel_id, str) and _CHANNEL_ID.fullmatch(channel_id):
            part.meta["channel_id"] = channel_id  # recorded with the message, for recovery
        if not reply:
            self._thread_ts = ts
        return ts or None

    def _call(self, method: str, **kwargs: Any) -> Any:
        paced = method == "chat_postMessage"
        if paced:
            _pace(self._pace_key, self.interval)
        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            code = _code(exc.response.get("error"))
            raise SlackError(explain(self.name, self.channel, code), code) from None
        except (SlackClientError, OSError) as exc:
            # A post whose answer timed out may have been kept: the core then asks recover().
            uncertain = paced and ("timed out" in str(exc).lower()
                                   or isinstance(exc, TimeoutError))
            raise DeliveryError(_unreachable(self.name, exc), uncertain=uncertain) from None
        finally:
            if paced:
                _posted(self._pace_key)

    # --- after a crash -------------------------------------------------------------------

    def recover(self, interrupted: list[dict[str, Any]]) -> list[Found]:
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
            if row.get("digest_id") is not None:
                digest_id = int(row["digest_id"])
                wanted.setdefault(digest_id, set()).add(int(row["id"]))
                started[digest_id] = row.get("started")
                channels[digest_id] = row.get("channel_id") or channels.get(digest_id)
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
        if _CHANNEL_ID.fullmatch(self.channel):
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
            response = self._call(method, limit=limit, cursor=cursor, **kwargs)
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


class Found(NamedTuple):
    """A message of an interrupted digest that Slack holds."""

    digest_id: int
    part: int
    outbox_ids: list[int]
    ts: str
    channel_id: str


_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{6,}")


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


class SlackWebhookSender:
    """Posts through an incoming webhook: the top message with what fits, then follow-ups."""

    def __init__(self, destination: Destination, settings: Settings, *,
                 interval: float | None = None):
        self.name = destination.name
        self.interval = settings.slack_interval if interval is None else interval
        self.client = WebhookClient(
            settings.slack_webhook_url or "", timeout=settings.http_timeout,  # type: ignore[arg-type]
            logger=_sdk_log,
            retry_handlers=[_RateLimitRetry(max_retry_count=RATE_LIMIT_RETRIES)])
        self._pace_key = f"webhook {hash(settings.slack_webhook_url)}"

    def prepare(self, digest: Digest) -> list[Part]:
        return _parts(digest, threaded=False)

    def send(self, part: Part) -> str | None:
        _pace(self._pace_key, self.interval)
        try:
            response = self.client.send(text=part.body["text"], blocks=part.body["blocks"],
                                        unfurl_links=False, unfurl_media=False)
        except (SlackClientError, OSError) as exc:
            raise DeliveryError(_unreachable(self.name, exc)) from None
        finally:
            _posted(self._pace_key)
        if response.status_code != 200 or (response.body or "").strip() != "ok":
            code = _code(response.body) if response.body else f"HTTP_{response.status_code}"
            raise SlackError(explain(self.name, None, code), code)
        return None
