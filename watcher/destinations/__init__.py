"""Destination registry: the one place a new destination kind is plugged in.

A sender turns a Digest into one or more message parts (each naming the outbox items it
carries) and sends them one at a time; the core records each accepted part before sending the
next, so a failure part-way leaves only the unsent rest pending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from ..digest import Digest
from ..render import slack as slack_render
from ..settings import Settings
from .slack import SlackSender, SlackWebhookSender
from .terminal import TerminalSender

if TYPE_CHECKING:
    from ..config import Destination


@dataclass
class Part:
    """One message of a digest: the outbox items it carries and what is sent."""

    outbox_ids: list[int]
    body: Any
    text: str = ""  # plain-text rendering (the fallback, and what a preview shows)
    meta: dict[str, Any] = field(default_factory=dict)


class Sender(Protocol):
    def prepare(self, digest: Digest) -> list[Part]:
        """Render the digest into the parts it is sent as (pure: nothing leaves yet)."""

    def send(self, part: Part) -> str | None:
        """Deliver one part; return its id at the destination (Slack ts, Message-ID) or None.
        Raise DeliveryError when the destination did not accept it."""


class Disabled(Exception):
    """The destination cannot send in this environment; its items stay pending."""


@dataclass(frozen=True)
class DestinationSpec:
    kind: str
    #: What the environment lacks for this kind to send (None when it can).
    missing: Callable[[Settings], str | None]
    factory: Callable[[Destination, Settings, TextIO], Sender] | None = None
    #: What `watcher digest DEST --preview FILE` writes: the rendering, nothing sent.
    preview: Callable[[Digest, Destination], str] | None = None


def _needs(what: str, *values: Callable[[Settings], Any]) -> Callable[[Settings], str | None]:
    return lambda settings: None if all(v(settings) for v in values) else f"{what} not set"


def _email_sender(destination: Destination, settings: Settings, stream: TextIO) -> Sender:
    from .email import EmailSender  # jinja2 and css-inline load only when email is used

    return EmailSender(destination, settings)


def _email_preview(digest: Digest, destination: Destination) -> str:
    from ..render.email import preview

    return preview(digest, destination)


#: YAML destination kind -> spec.
KINDS: dict[str, DestinationSpec] = {
    "terminal": DestinationSpec("terminal", lambda settings: None,
                                lambda destination, settings, stream: TerminalSender(stream)),
    "slack": DestinationSpec(
        "slack", _needs("SLACK_BOT_TOKEN", lambda s: s.slack_bot_token),
        lambda destination, settings, stream: SlackSender(destination, settings),
        lambda digest, destination: slack_render.preview(digest, threaded=True)),
    "slack_webhook": DestinationSpec(
        "slack_webhook", _needs("SLACK_WEBHOOK_URL", lambda s: s.slack_webhook_url),
        lambda destination, settings, stream: SlackWebhookSender(destination, settings),
        lambda digest, destination: slack_render.preview(digest, threaded=False)),
    "email": DestinationSpec("email", _needs(
        "SMTP_HOST and WATCHER_EMAIL_FROM", lambda s: s.smtp_host, lambda s: s.email_from),
        _email_sender, _email_preview),
}


def build_sender(destination: Destination, settings: Settings, stream: TextIO) -> Sender:
    """Return a sender for *destination*, or raise Disabled saying what is missing."""
    spec = KINDS[destination.kind]
    missing = spec.missing(settings)
    if missing:
        raise Disabled(missing)
    if spec.factory is None:
        raise Disabled(f"{destination.kind} delivery is not available in this version yet")
    return spec.factory(destination, settings, stream)
