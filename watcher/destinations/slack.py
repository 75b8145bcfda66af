"""Slack with a bot token: one top-level message per digest, its items in that message's
thread, in the channel the YAML names.

Posts are paced and ``ok: false`` is an error (slack_client: the part is not accepted, so its
items stay pending). Each message carries the digest id and its outbox ids in its metadata, so
after a crash :meth:`SlackSender.recover` finds in the channel's history what was already
posted (slack_recovery), and the core marks it sent instead of posting it twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import model_validator

from ..errors import DeliveryError
from ..render import slack as render
from .base import Context, DestinationOptions, DestinationSpec, Found, Part, RecoversSent, needs
from .slack_client import CHANNEL_ID, BotClient, SlackSettings, parts
from .slack_recovery import EVENT_TYPE, History

if TYPE_CHECKING:
    from ..db.report_rows import InterruptedItem
    from ..digest import Digest


class Slack(DestinationOptions):
    kind: Literal["slack"]
    QUIET_HEARTBEAT: ClassVar[bool] = True  # a quiet scheduled digest says so
    #: '#name' or the channel's id (C0...): the bot must be a member.
    channel: str | None = None

    @model_validator(mode="after")
    def _has_channel(self) -> Slack:
        if not self.channel:
            raise ValueError("a slack destination needs 'channel' (for example '#ketamine-watch')")
        return self


class SlackSender(RecoversSent):
    """Posts with a bot token: one top-level message per digest, its items as thread replies."""

    def __init__(self, destination: Slack, settings: SlackSettings, *, timeout: float,
                 interval: float | None = None):
        self.name = destination.name
        self.channel = destination.channel or ""
        self.api = BotClient(
            self.name, self.channel, token=settings.bot_token, api_url=settings.api_url,
            timeout=timeout, interval=settings.interval if interval is None else interval)
        self.history = History(self.api.call, self.name,
                               frozenset({destination.name, *destination.renamed_from}),
                               self.channel)
        self._thread_ts: str | None = None

    def prepare(self, digest: Digest) -> list[Part]:
        return parts(digest, threaded=True)

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
        response = self.api.call("chat_postMessage", **kwargs)
        ts = str(response.get("ts") or "")
        channel_id = response.get("channel")
        if isinstance(channel_id, str) and CHANNEL_ID.fullmatch(channel_id):
            part.meta["channel_id"] = channel_id  # recorded with the message, for recovery
        if not reply:
            self._thread_ts = ts
        return ts or None

    def recover(self, interrupted: list[InterruptedItem]) -> list[Found]:
        return self.history.recover(interrupted)


def _sender(destination: Slack, settings: SlackSettings, context: Context) -> SlackSender:
    return SlackSender(destination, settings, timeout=context.timeout)


def _preview(digest: Digest, destination: Slack) -> str:
    return render.preview(digest, threaded=True)


SPEC = DestinationSpec("slack", Slack, _sender, settings=SlackSettings,
                       missing=needs("SLACK_BOT_TOKEN", lambda s: s.bot_token), preview=_preview)
