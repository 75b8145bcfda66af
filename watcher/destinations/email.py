"""Email: one message (plain text and HTML) per digest to the addresses in ``to``, through the
SMTP_* server (its settings: email_settings.py). The sender and its renderer (jinja2,
css-inline) load only when email is used.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import model_validator

from .base import Context, DestinationOptions, DestinationSpec, Sender, needs
from .email_settings import EmailSettings

if TYPE_CHECKING:
    from ..digest import Digest

ADDRESS = re.compile(r"[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+")


class Email(DestinationOptions):
    kind: Literal["email"]
    to: list[str] | None = None

    SENDS_EMPTY: ClassVar[bool] = True  # the weekly email is also proof of life

    @model_validator(mode="after")
    def _has_addresses(self) -> Email:
        if not self.to:
            raise ValueError("an email destination needs 'to' (a list of addresses)")
        for address in self.to:
            if not ADDRESS.fullmatch(address):
                raise ValueError(f"{address!r} is not an email address")
        return self


def _sender(destination: Email, settings: EmailSettings, context: Context) -> Sender:
    from .email_sender import EmailSender  # jinja2 and css-inline load only when email is used

    return EmailSender(destination, settings, timeout=context.timeout)


def _preview(digest: Digest, destination: Email) -> str:
    from ..render.email import preview

    return preview(digest, destination)


SPEC = DestinationSpec("email", Email, _sender, settings=EmailSettings, missing=needs(
    "SMTP_HOST and WATCHER_EMAIL_FROM", lambda s: s.host, lambda s: s.sender), preview=_preview)
