"""Handing a message to the SMTP server: STARTTLS, implicit TLS or (for a relay on the same
host) plain SMTP, each network step bounded by WATCHER_HTTP_TIMEOUT.

Whatever the server does, a failure is one DeliveryError line naming the destination and the
server; SMTP_PASSWORD never appears in it. A message the server accepted for some recipients
but not all counts as sent (sending it again would repeat it to the others): the refused
addresses are returned, for a warning.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING

from ..errors import DeliveryError
from ..printable import one_line
from ..redact import scrub

if TYPE_CHECKING:
    from .email_settings import EmailSettings


class SmtpServer:
    """The SMTP_* server, as one destination (*name*) uses it."""

    def __init__(self, settings: EmailSettings, name: str, *, timeout: float):
        self.settings = settings
        self.name = name
        self.timeout = timeout

    def submit(self, message: EmailMessage, recipients: list[str]) -> dict:
        """Send *message* to *recipients*; return the ones refused (when some were accepted).
        Raise DeliveryError when nothing was accepted."""
        try:
            connection = self._connect()
        except DeliveryError:
            raise
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(self._line(exc)) from None
        try:
            if self.settings.user:
                connection.login(self.settings.user, self.settings.password or "")
            return connection.send_message(message, to_addrs=recipients)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(self._line(exc)) from None
        finally:
            _close(connection)

    def refused_line(self, refused: dict) -> str:
        """The addresses the server refused (of a message it accepted for others), cleaned."""
        return self.clean("; ".join(f"{address} ({_reply(code, text)})"
                                    for address, (code, text) in refused.items()))

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        timeout = self.timeout
        if settings.tls == "ssl":
            return smtplib.SMTP_SSL(settings.host or "", settings.port, timeout=timeout,
                                    context=ssl.create_default_context())
        connection = smtplib.SMTP(settings.host or "", settings.port, timeout=timeout)
        if settings.tls == "starttls":
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

    @property
    def _server(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _line(self, exc: BaseException) -> str:
        """One line saying what went wrong, for a person who can fix it."""
        server = self._server
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            # The reply is not quoted: a server may echo the credentials back.
            what = (f"the SMTP server {server} refused the login for {self.settings.user}"
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
                    f"{self.timeout:g} s")
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            what = f"the SMTP server {server} closed the connection ({exc or 'no reason given'})"
        elif isinstance(exc, smtplib.SMTPResponseException):
            what = f"the SMTP server {server} answered {_reply(exc.smtp_code, exc.smtp_error)}"
        elif isinstance(exc, ssl.SSLError):
            what = f"TLS with the SMTP server {server} failed ({exc.reason or exc})"
        elif isinstance(exc, socket.timeout | TimeoutError):
            what = (f"the SMTP server {server} did not answer within "
                    f"{self.timeout:g} s")
        elif isinstance(exc, socket.gaierror):
            what = f"the SMTP server {server} could not be found ({exc.strerror or exc})"
        elif isinstance(exc, OSError):
            what = f"could not reach the SMTP server {server} ({exc.strerror or exc})"
        else:
            what = f"the SMTP server {server}: {type(exc).__name__}: {exc}"
        return self.clean(f"{self.name}: {what}")

    def clean(self, text: str) -> str:
        """One line, with the password removed even if a server echoed it."""
        password = self.settings.password
        if password:
            text = text.replace(password, "***")
        return scrub(one_line(text))


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = one_line(text)
    return f"{code} {text[:200]}".strip()


def _close(connection: smtplib.SMTP) -> None:
    """QUIT politely, but never let a failure after the server accepted the message (or while
    giving up) replace what happened."""
    try:
        connection.quit()
    except (OSError, smtplib.SMTPException):
        connection.close()
