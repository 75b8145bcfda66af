"""Email test helpers: an aiosmtpd inbox, the environment that points watcher at it, and the
two parts of a received digest."""

from __future__ import annotations

import email
from email import policy


class Inbox:
    """An aiosmtpd handler that keeps what it accepts and can refuse recipients."""

    def __init__(self, refuse: set[str] | None = None):
        self.refuse = refuse or set()
        self.envelopes = []
        self.tls: list[bool] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse or "*" in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.tls.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 Message accepted for delivery"

    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(e.original_content or e.content, policy=policy.default)
                for e in self.envelopes]


def smtp_vars(port: int, **extra: str) -> dict[str, str]:
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_TLS": "none",
            "WATCHER_EMAIL_FROM": "Ketamine watch <watcher@lab.example.org>", **extra}


def parts_of(message) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()
