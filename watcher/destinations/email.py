"""Email destination: one multipart/alternative message (plain text and HTML) per digest, sent
with smtplib over STARTTLS, implicit TLS or (for a relay on the same host) plain SMTP.

Whatever the server does, a failure is one DeliveryError line naming the destination and the
server, and the items stay pending; SMTP_PASSWORD never appears in it. Every network step is
bounded by WATCHER_HTTP_TIMEOUT. A message the server accepted for some recipients but not all
counts as sent (sending it again would repeat it to the others); the refused addresses are
logged as a warning.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, make_msgid
from typing import TYPE_CHECKING

from ..digest import Digest
from ..errors import DeliveryError
from ..redact import scrub
from ..render import email as email_render
from ..runtime import utc_now

if TYPE_CHECKING:
    from ..config import Destination
    from ..settings import Settings
    from . import Part

log = logging.getLogger(__name__)


def build_message(rendering: email_render.EmailRendering, *, sender: str,
                  recipients: list[str]) -> EmailMessage:
    """The MIME message: From, To, Subject (one line), Date, Message-ID, then the plain-text
    part and the HTML alternative, both UTF-8."""
    message = EmailMessage(policy=SMTP)
    message["From"] = email_render.one_line(sender)
    message["To"] = ", ".join(email_render.one_line(r) for r in recipients)
    message["Subject"] = email_render.one_line(rendering.subject)
    message["Date"] = format_datetime(utc_now())
    message["Message-ID"] = make_msgid("watcher", domain=_domain(sender))
    message["Auto-Submitted"] = "auto-generated"  # no vacation replies to a bot
    message.set_content(rendering.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendering.html, subtype="html", charset="utf-8")
    return message


class EmailSender:
    """Sends a destination's digest as one message to every address in its ``to`` list."""

    def __init__(self, destination: Destination, settings: Settings):
        self.destination = destination
        self.settings = settings
        self.name = destination.name or "email"

    def prepare(self, digest: Digest) -> list[Part]:
        from . import Part

        rendering = email_render.render(digest, self.destination)
        message = build_message(rendering, sender=self.settings.email_from or "",
                                recipients=list(self.destination.to or []))
        return [Part([i for item in digest.items for i in item.outbox_ids], message, rendering.text,
                     {"subject": rendering.subject, "message_id": message["Message-ID"]})]

    def send(self, part: Part) -> str | None:
        """Deliver the message; return its Message-ID, which the core records."""
        message: EmailMessage = part.body
        try:
            connection = self._connect()
        except DeliveryError:
            raise
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(self._line(exc)) from None
        try:
            refused = self._submit(connection, message)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(self._line(exc)) from None
        finally:
            _close(connection)
        if refused:
            log.warning("%s: sent, but the SMTP server refused %s", self.name,
                        self._clean("; ".join(f"{address} ({_reply(code, text)})"
                                              for address, (code, text) in refused.items())))
        return str(message["Message-ID"])

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        timeout = settings.http_timeout
        if settings.smtp_tls == "ssl":
            return smtplib.SMTP_SSL(settings.smtp_host or "", settings.smtp_port, timeout=timeout,
                                    context=ssl.create_default_context())
        connection = smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=timeout)
        if settings.smtp_tls == "starttls":
            try:
                connection.ehlo()
                if not connection.has_extn("starttls"):
                    raise DeliveryError(
                        f"{self.name}: the SMTP server {self._server} does not offer STARTTLS"
                        " (set SMTP_TLS=ssl for a port that starts with TLS, or SMTP_TLS=none"
                        " for a local relay)")
                connection.starttls(context=ssl.create_default_context())
                connection.ehlo()
            except BaseException:
                _close(connection)
                raise
        return connection

    def _submit(self, connection: smtplib.SMTP, message: EmailMessage) -> dict:
        settings = self.settings
        if settings.smtp_user:
            connection.login(settings.smtp_user, settings.smtp_password or "")
        return connection.send_message(message, to_addrs=list(self.destination.to or []))

    @property
    def _server(self) -> str:
        return f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    def _line(self, exc: BaseException) -> str:
        """One line saying what went wrong, for a person who can fix it."""
        server = self._server
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            # The reply is not quoted: a server may echo the credentials back.
            what = (f"the SMTP server {server} refused the login for {self.settings.smtp_user}"
                    f" ({exc.smtp_code}; check SMTP_USER and SMTP_PASSWORD)")
        elif isinstance(exc, smtplib.SMTPRecipientsRefused):
            refused = "; ".join(f"{address} ({_reply(code, text)})"
                                for address, (code, text) in exc.recipients.items())
            what = f"the SMTP server {server} refused every recipient: {refused}"
        elif isinstance(exc, smtplib.SMTPSenderRefused):
            what = (f"the SMTP server {server} refused the sender {exc.sender}"
                    f" ({_reply(exc.smtp_code, exc.smtp_error)}; check WATCHER_EMAIL_FROM)")
        elif isinstance(exc, smtplib.SMTPDataError):
            what = (f"the SMTP server {server} refused the message"
                    f" ({_reply(exc.smtp_code, exc.smtp_error)})")
        elif isinstance(exc, smtplib.SMTPNotSupportedError):
            what = f"the SMTP server {server}: {exc}"
        elif isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(
                exc.__context__, socket.timeout | TimeoutError):
            # smtplib reports a reply that never came as a hang-up: say what happened
            what = (f"the SMTP server {server} did not answer within "
                    f"{self.settings.http_timeout:g} s")
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            what = f"the SMTP server {server} closed the connection ({exc or 'no reason given'})"
        elif isinstance(exc, smtplib.SMTPResponseException):
            what = f"the SMTP server {server} answered {_reply(exc.smtp_code, exc.smtp_error)}"
        elif isinstance(exc, ssl.SSLError):
            what = f"TLS with the SMTP server {server} failed ({exc.reason or exc})"
        elif isinstance(exc, socket.timeout | TimeoutError):
            what = (f"the SMTP server {server} did not answer within "
                    f"{self.settings.http_timeout:g} s")
        elif isinstance(exc, socket.gaierror):
            what = f"the SMTP server {server} could not be found ({exc.strerror or exc})"
        elif isinstance(exc, OSError):
            what = f"could not reach the SMTP server {server} ({exc.strerror or exc})"
        else:
            what = f"the SMTP server {server}: {type(exc).__name__}: {exc}"
        return self._clean(f"{self.name}: {what}")

    def _clean(self, text: str) -> str:
        """One line, with the password removed even if a server echoed it."""
        password = self.settings.smtp_password
        if password:
            text = text.replace(password, "***")
        return scrub(email_render.one_line(text))


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = email_render.one_line(text)
    return f"{code} {text[:200]}".strip()


def _domain(address: str) -> str:
    """The domain of the From address, for the Message-ID (no DNS look-up of our own name)."""
    parsed = getaddresses([address])
    addr = parsed[0][1] if parsed else ""
    return addr.rpartition("@")[2] or "watcher.invalid"


def _close(connection: smtplib.SMTP) -> None:
    """QUIT politely, but never let a failure after the server accepted the message (or while
    giving up) replace what happened."""
    try:
        connection.quit()
    except (OSError, smtplib.SMTPException):
        connection.close()
