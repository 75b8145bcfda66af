"""Destination registry: the one place a new destination kind is plugged in.

A sender takes a rendered-ready Digest and either delivers it or raises DeliveryError; only after
it returns is the digest marked sent.
"""

from __future__ import annotations

from typing import Protocol, TextIO

from ..config import Destination
from ..digest import Digest
from ..settings import Settings
from .terminal import TerminalSender

TERMINAL = Destination(kind="terminal", name="terminal")


class Sender(Protocol):
    def send(self, digest: Digest) -> None: ...


class Disabled(Exception):
    """The destination cannot send in this environment; its items stay pending."""


def build_sender(destination: Destination, settings: Settings, stream: TextIO) -> Sender:
    """Return a sender for *destination*, or raise Disabled saying what is missing."""
    if destination.kind == "terminal":
        return TerminalSender(stream)
    needs = {
        "slack": ("SLACK_BOT_TOKEN", settings.slack_bot_token),
        "slack_webhook": ("SLACK_WEBHOOK_URL", settings.slack_webhook_url),
        "email": ("SMTP_HOST and WATCHER_EMAIL_FROM",
                  settings.smtp_host and settings.email_from),
    }[destination.kind]
    if not needs[1]:
        raise Disabled(f"{needs[0]} not set")
    raise Disabled(f"{destination.kind} delivery is not available in this version yet")
