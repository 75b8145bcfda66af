"""What the email kind reads from the environment: the SMTP server (SMTP_*) and the From
address. Its own module, so the kind (email.py), the message (email_sender.py) and the SMTP
hand-off (smtp.py) share it without importing each other, or jinja2 before email is used."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..variables import EnvSettings, Variable

TLS_MODES = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class EmailSettings(EnvSettings):
    host: str | None = None
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: str = "starttls"
    sender: str | None = None  # the From address

    variables = {
        "host": Variable.text("SMTP_HOST"),
        "port": Variable.port("SMTP_PORT", 587),
        "user": Variable.text("SMTP_USER"),
        "password": Variable.text("SMTP_PASSWORD", secret=True),
        "tls": Variable.choice("SMTP_TLS", TLS_MODES, "starttls"),
        "sender": Variable.text("WATCHER_EMAIL_FROM"),
    }

    def without_secrets(self) -> EmailSettings:
        """No server at all (not only no password): the demo can never send an email."""
        return replace(super().without_secrets(), host=None, user=None)
