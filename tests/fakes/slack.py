"""A local Slack on 127.0.0.1 for tests: the Web API methods watcher uses and an incoming
webhook, answering as Slack does.

slack_sdk talks to it unchanged through ``WebClient(base_url=server.url)`` and
``WebhookClient(server.webhook_url)``. It checks the bearer token, enforces Block Kit's limits
(50 blocks, 3,000 characters per section text, 150 per header and on one line, about 12,000
characters of text per message, no message without text), answers 429 with Retry-After when a
channel gets more than one message per ``interval``, keeps every accepted message with its
metadata for conversations.history / conversations.replies (paged by cursor, history from
``oldest`` on, stamped by a clock a test may set back), lists any number of channels by cursor
(at most ``page_cap`` a page, as Slack caps ``limit``), answers ``ok: false`` errors on command,
and can SIGKILL a process right after answering its Nth chat.postMessage.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from watcher.fakes.base import LocalServer

TOKEN = "xoxb-test-0000-watcher-token"
WEBHOOK_PATH = "/services/T0TEST/B0TEST/webhooksecret0000"
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_TEXT = 12_000


@dataclass
class Posted:
    """One accepted message."""

    channel: str  # channel id, or "webhook"
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    payload: dict[str, Any]  # everything the client sent
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    replies: list[str] = field(default_factory=list)


class SlackServer(LocalServer):
    """Start with ``with SlackServer() as slack:``; SLACK_API_URL=slack.url,
    SLACK_BOT_TOKEN=slack.token, SLACK_WEBHOOK_URL=slack.webhook_url."""


    def __init__(self, *, token: str = TOKEN, interval: float | None = 1.0,
                 retry_after: int = 1):
        self.token = token
        self.interval = interval  # least seconds between two posts to a channel (None: off)
        self.retry_after = retry_after
        self.scopes = {"chat:write", "channels:history", "groups:history", "channels:read",
                       "groups:read"}
        self.channels: dict[str, str] = {}  # name -> id
        self.messages: list[Posted] = []  # accepted, in order
        self.rejected: list[tuple[str, dict[str, Any]]] = []  # (error, payload)
        self.throttled = 0
        self.calls: Counter[str] = Counter()  # Web API method -> how many times it was called
        self.errors: deque[tuple[str, str]] = deque()  # (method, error) answered next
        self.quirks: deque[tuple[str, str]] = deque()  # (method, quirk) for the next call
        self.slow_seconds = 1.0  # how late a "slow" answer comes
        self.kill_after: tuple[int, int] | None = None  # (pid, Nth postMessage)
        self.clock: Callable[[], float] = time.time  # what a message's ts is stamped from
        self.page_cap = 999  # most items a paged method answers, whatever limit asks
        self._posts_answered = 0
        self._deleted = 0
        self._last_post: dict[str, float] = {}
        self._ts = 0.0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- commands ---------------------------------------------------------------------------

    def fail_next(self, error: str, method: str = "chat.postMessage", times: int = 1) -> None:
        """The next *times* calls of *method* answer ``ok: false`` with *error* (the webhook's
        method is "webhook": it answers the error as its text body)."""
        for _ in range(times):
            self.errors.append((method, error))

    def quirk_next(self, quirk: str, method: str = "chat.postMessage", times: int = 1) -> None:
        """Misbehave on the next *times* calls of *method* ("webhook" for the webhook):
        ``http_500`` answers 500 and keeps nothing; ``slow`` accepts the message but answers
        only after ``slow_seconds``; ``no_ts`` accepts it and answers ``ok: true`` without a
        ts; ``text:BODY`` (webhook) accepts it and answers 200 with BODY instead of ``ok``;
        ``no_cursor`` (a paged method) answers ``has_more: true`` without a next cursor."""
        for _ in range(times):
            self.quirks.append((method, quirk))

    def _quirk(self, method: str) -> str | None:
        if self.quirks and self.quirks[0][0] == method:
            return self.quirks.popleft()[1]
        return None

    def channel_id(self, name: str) -> str:
        name = name.lstrip("#")
        with self._lock:
            return self._channel(name)

    def delete_channel(self, name: str) -> str:
        """Delete a channel (its id is never given again): Slack then answers
        channel_not_found for it, and a post to its name makes a new channel. Returns its id."""
        with self._lock:
            self._deleted += 1
            return self.channels.pop(name.lstrip("#"))

    def add_channels(self, count: int, prefix: str = "other") -> None:
        """Create *count* more channels (a large workspace), listed before any made later."""
        with self._lock:
            for _ in range(count):
                self._channel(f"{prefix}-{len(self.channels):05d}")

    def _channel(self, name: str) -> str:
        if name in self.channels.values():
            return name
        return self.channels.setdefault(name, f"C{len(self.channels) + self._deleted + 1:08d}")

    def top_level(self, channel: str | None = None) -> list[Posted]:
        return [m for m in self.messages if m.thread_ts is None and m.channel != "webhook"
                and (channel is None or m.channel == self.channel_id(channel))]

    def replies(self, ts: str) -> list[Posted]:
        return [m for m in self.messages if m.thread_ts == ts]

    def webhook_posts(self) -> list[Posted]:
        return [m for m in self.messages if m.channel == "webhook"]

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + "/api/"

    @property
    def webhook_url(self) -> str:
        return self.base + WEBHOOK_PATH


    # -- protocol ---------------------------------------------------------------------------

    def handle(self, path: str, auth: str, params: dict[str, Any]
               ) -> tuple[int, dict[str, str], bytes]:
        if path == WEBHOOK_PATH:
            return self._webhook(params)
        if path.startswith("/services/"):
            return _text(404, "no_service")
        method = path.removeprefix("/api/")
        with self._lock:
            self.calls[method] += 1
            if auth != f"Bearer {self.token}":
                return _error("not_authed" if not auth else "invalid_auth")
            if self.errors and self.errors[0][0] == method:
                error = self.errors.popleft()[1]
                self.rejected.append((error, params))
                return _error(error)
            if method == "chat.postMessage":
                quirk = self._quirk(method)
                if quirk == "http_500":
                    return _text(500, "internal error")
                status, headers, body = self._post(params)
                if quirk == "no_ts" and status == 200:
                    answer = json.loads(body)
                    answer.pop("ts", None)
                    body = json.dumps(answer).encode()
                if quirk == "slow":
                    headers = {**headers, "X-Fake-Delay": str(self.slow_seconds)}
                return status, headers, body
            paged = {"conversations.history": self._history,
                     "conversations.replies": self._replies, "conversations.list": self._list}
            if method in paged:
                quirk = self._quirk(method)
                status, headers, body = paged[method](params)
                answer = json.loads(body)
                if quirk == "no_cursor" and answer.get("ok"):
                    answer.update(has_more=True, response_metadata={"next_cursor": ""})
                    body = json.dumps(answer).encode()
                return status, headers, body
        return _error("unknown_method")

    def _throttled(self, channel: str) -> bool:
        now = time.monotonic()
        last = self._last_post.get(channel)
        if self.interval and last is not None and now - last < self.interval:
            self.throttled += 1
            return True
        self._last_post[channel] = now
        return False

    def _next_ts(self) -> str:
        self._ts = max(self._ts + 0.000001, self.clock())
        return f"{self._ts:.6f}"

    def _post(self, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if not params.get("channel"):
            return _error("channel_not_found")
        channel = self._channel(str(params["channel"]).lstrip("#"))
        problem = check_message(params)
        if problem:
            self.rejected.append((problem, params))
            return _error(problem)
        if self._throttled(channel):
            return (429, {"Retry-After": str(self.retry_after), "Content-Type":
                          "application/json"}, b'{"ok": false, "error": "ratelimited"}')
        thread_ts = params.get("thread_ts")
        if thread_ts and not any(m.ts == thread_ts and m.channel == channel
                                 for m in self.messages):
            return _error("thread_not_found")
        metadata = params.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        posted = Posted(channel, self._next_ts(), params.get("text") or "",
                        _blocks(params), params, thread_ts, metadata)
        self.messages.append(posted)
        for parent in self.messages:
            if thread_ts and parent.ts == thread_ts:
                parent.replies.append(posted.ts)
        self._posts_answered += 1
        return 200, {"Content-Type": "application/json"}, json.dumps({
            "ok": True, "channel": channel, "ts": posted.ts,
            "message": {"text": posted.text, "ts": posted.ts}}).encode()

    def before_answer(self, path: str) -> None:
        """Called once a post is kept, before its answer is written: the kill switch fires
        here, so the killed client never saw Slack's answer to the Nth post."""
        if path != "/api/chat.postMessage" or not self.kill_after:
            return
        pid, nth = self.kill_after
        if self._posts_answered >= nth:
            self.kill_after = None
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _visible(self, message: Posted, params: dict[str, Any]) -> dict[str, Any]:
        shown: dict[str, Any] = {"type": "message", "ts": message.ts, "text": message.text,
                                 "blocks": message.blocks, "bot_id": "B0TEST"}
        if message.thread_ts:
            shown["thread_ts"] = message.thread_ts
        elif message.replies:
            shown.update(thread_ts=message.ts, reply_count=len(message.replies))
        if message.metadata and str(params.get("include_all_metadata")).lower() in ("1",
                                                                                      "true"):
            shown["metadata"] = message.metadata
        return shown

    def _needs(self, *scopes: str) -> tuple[int, dict[str, str], bytes] | None:
        if not set(scopes) & self.scopes:
            return _error("missing_scope", needed=",".join(scopes),
                          provided=",".join(sorted(self.scopes)))
        return None

    def _page(self, items: list[Any], params: dict[str, Any], key: str
              ) -> tuple[int, dict[str, str], bytes]:
        start = int(params.get("cursor") or 0)
        limit = min(int(params.get("limit") or 100), self.page_cap)
        page = items[start:start + limit]
        more = start + limit < len(items)
        return 200, {"Content-Type": "application/json"}, json.dumps({
            "ok": True, key: page, "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""}}).encode()

    def _history(self, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        refused = self._needs("channels:history", "groups:history")
        if refused:
            return refused
        channel = str(params.get("channel") or "")
        if channel not in self.channels.values():
            return _error("channel_not_found")
        oldest = float(params.get("oldest") or 0)
        found = [self._visible(m, params) for m in reversed(self.messages)
                 if m.channel == channel and m.thread_ts is None and float(m.ts) > oldest]
        return self._page(found, params, "messages")

    def _replies(self, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        refused = self._needs("channels:history", "groups:history")
        if refused:
            return refused
        channel, ts = str(params.get("channel") or ""), str(params.get("ts") or "")
        parent = [m for m in self.messages if m.channel == channel and m.ts == ts]
        if not parent:
            return _error("thread_not_found")
        found = [self._visible(m, params) for m in parent + self.replies(ts)]
        return self._page(found, params, "messages")

    def _list(self, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        refused = self._needs("channels:read", "groups:read")
        if refused:
            return refused
        found = [{"id": cid, "name": name, "is_channel": True}
                 for name, cid in self.channels.items()]
        return self._page(found, params, "channels")

    def _webhook(self, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            quirk = self._quirk("webhook")
            if quirk == "http_500":
                return _text(500, "internal error")
            if self.errors and self.errors[0][0] == "webhook":
                error = self.errors.popleft()[1]
                self.rejected.append((error, params))
                return _text(404 if error == "channel_not_found" else 400, error)
            problem = check_message(params)
            if problem:
                self.rejected.append((problem, params))
                return _text(400, problem)
            if self._throttled("webhook"):
                return 429, {"Retry-After": str(self.retry_after)}, b"rate_limited"
            self.messages.append(Posted("webhook", self._next_ts(), params.get("text") or "",
                                        _blocks(params), params))
        if quirk and quirk.startswith("text:"):
            return _text(200, quirk.removeprefix("text:"))
        return _text(200, "ok")


def _blocks(params: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = params.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


def check_message(params: dict[str, Any]) -> str | None:
    """Slack's error code for a message it would refuse, or None."""
    try:
        blocks = _blocks(params)
    except ValueError:
        return "invalid_blocks"
    text = params.get("text") or ""
    if not str(text).strip() and not blocks:
        return "no_text"
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    total = len(str(text))
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            value = block.get("text") or {}
            if value.get("type") != "plain_text" or not value.get("text") \
                    or len(value["text"]) > MAX_HEADER or "\n" in value["text"]:
                return "invalid_blocks"
            total += len(value["text"])
        elif kind == "section":
            value = block.get("text") or {}
            if value.get("type") not in ("mrkdwn", "plain_text") or not value.get("text") \
                    or len(value["text"]) > MAX_SECTION:
                return "invalid_blocks"
            total += len(value["text"])
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > 10:
                return "invalid_blocks"
            for element in elements:
                if not element.get("text") or len(element["text"]) > MAX_SECTION:
                    return "invalid_blocks"
                total += len(element["text"])
        elif kind != "divider":
            return "invalid_blocks"
    if total > MAX_TEXT:
        return "msg_too_long"
    return None


def _error(error: str, **extra: str) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps(
        {"ok": False, "error": error, **extra}).encode()


def _text(status: int, body: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "text/plain"}, body.encode()


class _Handler(BaseHTTPRequestHandler):
    app: SlackServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        url = urlsplit(self.path)
        self._answer(url.path, {k: v[-1] for k, v in parse_qs(url.query).items()})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode("utf-8")
        url = urlsplit(self.path)
        params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if (self.headers.get("Content-Type") or "").startswith("application/json"):
            try:
                params.update(json.loads(body or "{}"))
            except ValueError:
                self._send(*_text(400, "invalid_payload"))
                return
        else:
            params.update({k: v[-1] for k, v in parse_qs(body).items()})
        self._answer(url.path, params)

    def _answer(self, path: str, params: dict[str, Any]) -> None:
        status, headers, body = self.app.handle(path, self.headers.get("Authorization", ""),
                                                params)
        delay = float(headers.pop("X-Fake-Delay", 0) or 0)
        if delay:  # a "slow" answer: the message is kept, the client waits
            time.sleep(delay)
        # The kill switch fires once the message is kept but before its answer is written:
        # killed then, the client can never have recorded it (after the answer, a loaded
        # machine let it record the message, or even finish the digest, before the signal).
        self.app.before_answer(path)
        self._send(status, headers, body)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


SlackServer.handler = _Handler  # the server answers through this handler
