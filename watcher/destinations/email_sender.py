"""The email sender: one multipart/alternative message (plain text and HTML) per digest, to
every address of the destination's ``to``, handed to the SMTP server (smtp.py).

Loaded only when an email destination sends or previews (jinja2 and css-inline come with it).
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, make_msgid
from typing import TYPE_CHECKING, Protocol

from ..clock import utc_now
from ..printable import one_line
from ..render import email as email_render
from .base import Part
from .smtp import SmtpServer

if TYPE_CHECKING:
    from ..digest import Digest
    from .email_settings import EmailSettings

log = logging.getLogger("watcher.destinations.email")


class Addressed(Protocol):
    """What the sender reads of an email destination's options (email.Email)."""

    name: str
    to: list[str] | None
    subject: str | None


def build_message(rendering: email_render.EmailRendering, *, sender: str,
                  recipients: list[str]) -> EmailMessage:
    """The MIME message: From, To, Subject (one line), Date, Message-ID, then the plain-text
    part and the HTML alternative, both UTF-8."""
    message = EmailMessage(policy=SMTP)
    message["From"] = one_line(sender)
    message["To"] = ", ".join(one_line(r) for r in recipients)
    message["Subject"] = one_line(rendering.subject)
    message["Date"] = format_datetime(utc_now())
    message["Message-ID"] = make_msgid("watcher", domain=_domain(sender))
    message["Auto-Submitted"] = "auto-generated"  # no vacation replies to a bot
    message.set_content(rendering.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendering.html, subtype="html", charset="utf-8")
    return message


class EmailSender:
    """Sends a destination's digest as one message to every address in its ``to`` list."""

    def __init__(self, destination: Addressed, settings: EmailSettings, *, timeout: float):
        self.destination = destination
        self.settings = settings
        self.name = destination.name or "email"
        self.server = SmtpServer(settings, self.name, timeout=timeout)

    def prepare(self, digest: Digest) -> list[Part]:
        rendering = email_render.render(digest, self.destination)
        message = build_message(rendering, sender=self.settings.sender or "",
                                recipients=list(self.destination.to or []))
        return [Part([i for item in digest.items for i in item.outbox_ids], message, rendering.text,
                     {"subject": rendering.subject, "message_id": message["Message-ID"]})]

    def send(self, part: Part) -> str | None:
        """Deliver the message; return its Message-ID, which the core records."""
        message: EmailMessage = part.body
        refused = self.server.submit(message, list(self.destination.to or []))
        if refused:
            log.warning("%s: sent, but the SMTP server refused %s", self.name,
                        self.server.refused_line(refused))
        return str(message["Message-ID"])


def _domain(address: str) -> str:
    """The domain of the From address, for the Message-ID (no DNS look-up of our own name)."""
    parsed = getaddresses([address])
    addr = parsed[0][1] if parsed else ""
    return addr.rpartition("@")[2] or "watcher.invalid"
