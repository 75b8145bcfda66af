"""Slack through an incoming webhook: several plain messages per digest (a webhook cannot
thread), to the one channel the webhook URL (SLACK_WEBHOOK_URL) is tied to."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from slack_sdk.errors import SlackClientError

from ..errors import DeliveryError
from ..render import slack as render
from .base import Context, DestinationOptions, DestinationSpec, Part, needs
from .slack_client import (
    SlackError,
    SlackSettings,
    error_code,
    explain,
    pace,
    parts,
    posted,
    unreachable,
    webhook_client,
)

if TYPE_CHECKING:
    from ..digest import Digest


class SlackWebhook(DestinationOptions):
    kind: Literal["slack_webhook"]
    QUIET_HEARTBEAT: ClassVar[bool] = True  # a quiet scheduled digest says so


class SlackWebhookSender:
    """Posts through an incoming webhook: the top message with what fits, then follow-ups."""

    def __init__(self, destination: SlackWebhook, settings: SlackSettings, *, timeout: float,
                 interval: float | None = None):
        self.name = destination.name
        self.interval = settings.interval if interval is None else interval
        self.client = webhook_client(settings.webhook_url or "", timeout=timeout)
        self._pace_key = f"webhook {hash(settings.webhook_url)}"

    def prepare(self, digest: Digest) -> list[Part]:
        return parts(digest, threaded=False)

    def send(self, part: Part) -> str | None:
        pace(self._pace_key, self.interval)
        try:
            response = self.client.send(text=part.body["text"], blocks=part.body["blocks"],
                                        unfurl_links=False, unfurl_media=False)
        except (SlackClientError, OSError) as exc:
            raise DeliveryError(unreachable(self.name, exc)) from None
        finally:
            posted(self._pace_key)
        if response.status_code != 200 or (response.body or "").strip() != "ok":
            code = error_code(response.body) if response.body else f"HTTP_{response.status_code}"
            raise SlackError(explain(self.name, None, code), code)
        return None


def _sender(destination: SlackWebhook, settings: SlackSettings, context: Context
            ) -> SlackWebhookSender:
    return SlackWebhookSender(destination, settings, timeout=context.timeout)


def _preview(digest: Digest, destination: SlackWebhook) -> str:
    return render.preview(digest, threaded=False)


SPEC = DestinationSpec("slack_webhook", SlackWebhook, _sender, settings=SlackSettings,
                       missing=needs("SLACK_WEBHOOK_URL", lambda s: s.webhook_url),
                       preview=_preview)
