"""Email delivery against a real SMTP server (aiosmtpd on 127.0.0.1), with the real smtplib
client: what arrives, how it reads, and that every failure keeps the items pending."""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import threading
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.helpers import QUERIES_YAML, days_ago, today, unprintable
from tests.helpers.delivery import study_item
from tests.helpers.email import Inbox, parts_of, smtp_vars
from watcher.destinations import Part
from watcher.destinations.email import Email
from watcher.destinations.email_sender import EmailSender
from watcher.digest import Digest, DigestItem, Section, SourceReceipt
from watcher.errors import DeliveryError
from watcher.events import NewStudy
from watcher.models import Study
from watcher.render import email as email_render
from watcher.settings import Settings

PASSWORD = "s3cret-smtp-pass-9137"
TEAM = ["ana@example.org", "ben@example.org"]

# Conditions in this YAML order: a study matching several is listed under the first, with
# "also:" naming the rest.
EMAIL_YAML = QUERIES_YAML.replace("defaults:\n", f"""destinations:
  mail:
    kind: email
    to: [{", ".join(TEAM)}]
    subject: Ketamine watch
defaults:
  destinations: [mail]
""")
_start, _end = EMAIL_YAML.index("  - id: everything"), EMAIL_YAML.index("  - id: depression")
_everything = EMAIL_YAML[_start:_end]
EMAIL_YAML = EMAIL_YAML.replace(_everything, "") + _everything


@pytest.fixture
def smtp(unused_port):
    """Start an aiosmtpd server on a free port: ``smtp(**controller_kwargs) -> Inbox``."""
    running = []

    def start(inbox: Inbox | None = None, **kwargs) -> Inbox:
        inbox = inbox or Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=unused_port, **kwargs)
        controller.start()
        running.append(controller)
        return inbox

    yield start
    for controller in running:
        controller.stop()


def visible_text(html: str) -> str:
    """What a reader sees: the HTML's text with entities decoded, scripts and styles aside."""

    class Text(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.skip = 0

        def handle_starttag(self, tag, attrs):
            self.skip += tag in ("style", "script", "title")

        def handle_endtag(self, tag):
            self.skip -= tag in ("style", "script", "title")

        def handle_data(self, data):
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


# --- a digest arrives once, well formed, and is recorded ---------------------------------------

def test_a_digest_arrives_once_as_text_and_html_to_every_recipient_and_is_recorded(
        env, corpus_server, smtp, unused_port, tmp_path):
    env.write_queries(EMAIL_YAML)
    inbox = smtp()
    mail = smtp_vars(unused_port)
    assert env.cli("poll", **mail).exit_code == 0

    preview = tmp_path / "preview.html"
    shown = env.cli("digest", "mail", "--preview", str(preview), **mail)
    assert shown.exit_code == 0, shown.stderr
    assert preview.read_text().startswith("<!DOCTYPE html>") and "Depression" in preview.read_text()
    assert inbox.envelopes == [] and env.store().pending_counts() == {"mail": 19}, \
        "a preview sends and marks nothing"

    result = env.cli("digest", **mail)
    assert result.exit_code == 0, result.stderr
    assert len(inbox.envelopes) == 1
    assert sorted(inbox.envelopes[0].rcpt_tos) == TEAM
    message = inbox.messages()[0]
    assert message["From"] == "Ketamine watch <watcher@lab.example.org>"
    assert sorted(a.addr_spec for a in message["To"].addresses) == TEAM
    subject = message["Subject"]
    assert subject.startswith("Ketamine watch: 19 new studies · ")
    end = today()
    assert subject.endswith(f"{end.day} {end:%b %Y}")  # the range ends today
    assert f"{days_ago(30).day}" in subject.split(" · ")[-1]  # from the look-back window
    assert abs((parsedate_to_datetime(message["Date"]).date() - end).days) <= 1
    message_id = message["Message-ID"]
    assert message_id.startswith("<") and message_id.endswith("@lab.example.org>")

    plain, html = parts_of(message)
    assert plain.count("https://pubmed.ncbi.nlm.nih.gov/") == 19
    for body in (plain.lower(), visible_text(html).lower()):
        positions = [body.index(name)
                     # (the two depression papers are told in full under Anxiety, whose test
                     # query searches ketamine[tiab], named first in their titles; each count
                     # counts every study that matched)
                     for name in ("depression (2)", "anxiety (2)",
                                  "everything in the corpus (19)")]
        assert positions == sorted(positions), "grouped by condition in YAML order"
        assert re.search(r"also: [a-z; ]*everything in the corpus", body), "its other conditions"
        assert "receipt" in body and "pubmed" in body.split("receipt")[-1]
    assert html.count('href="https://pubmed.ncbi.nlm.nih.gov/') == 19
    assert 'style="' in html and "<link" not in html, "CSS inlined, nothing external"

    store = env.store()
    assert store.pending_counts() == {}
    recorded = store.conn.execute("SELECT external_id, items FROM messages").fetchall()
    assert recorded == [(message_id, 19)]


def test_an_empty_week_still_sends_the_heartbeat(env, corpus_server, smtp, unused_port):
    env.write_queries(EMAIL_YAML)
    inbox = smtp()
    mail = smtp_vars(unused_port)
    assert env.cli("run", "--once", **mail).exit_code == 0
    assert env.cli("run", "--once", **mail).exit_code == 0
    assert len(inbox.envelopes) == 2
    quiet = inbox.messages()[1]
    assert quiet["Subject"].startswith("Ketamine watch: Nothing new · ")
    plain, html = parts_of(quiet)
    assert "No new studies matched any saved query." in plain
    assert "Receipt" in visible_text(html) and "3 queries polled" in visible_text(html)


# --- untrusted text ----------------------------------------------------------------------------

HOSTILE = [
    "<!channel> wins",
    "@here read this",
    "<script>alert(1)</script>",
    "Fish & Chips <b>",
    "ketamine " * 600,  # about 5,000 characters
    "كيتامين للاكتئاب المقاوم للعلاج",
    "Ketamine 💊 for depression 🧠",
    "Line one\r\nBcc: victim@example.org\r\n\r\n<h1>body</h1>",
    "Ask <@U024BE7LH> about it",
]


def hostile_digest() -> Digest:
    items = []
    for n, title in enumerate(HOSTILE, start=1):
        study = Study("pubmed", "publication", {"pmid": str(1000 + n)}, title,
                      authors=["O'Brien <x@y>", "B"], journal="J & <i>J</i>",
                      published="2026 Oct 1")
        items.append(DigestItem(NewStudy.of(n), study, ["Depression"], [], n))
    sneaky = Study("clinicaltrials", "trial", {}, "A registry entry", url="javascript:alert(1)")
    items.append(DigestItem(NewStudy.of(99), sneaky, ["Depression"], [], 99))
    return Digest("mail", "2026-10-31T08:00:00+00:00", "2026-10-24T08:00:00+00:00",
                  [Section("Depression", items)],
                  [SourceReceipt("pubmed", "PubMed", "2026-10-24", "2026-10-31", 3, 40, 10)])


def test_hostile_titles_are_escaped_readable_and_never_reach_a_header(smtp, unused_port):
    inbox = smtp()
    destination = Email(kind="email", to=TEAM, subject="Watch\r\nBcc: evil@example.org",
                              name="mail")
    settings = Settings.from_env(smtp_vars(unused_port))
    sender = EmailSender(destination, settings.destination("email"), timeout=settings.http_timeout)
    [part] = sender.prepare(hostile_digest())
    message_id = sender.send(part)

    assert sorted(inbox.envelopes[0].rcpt_tos) == TEAM, "no recipient smuggled in"
    message = inbox.messages()[0]
    assert message["Message-ID"] == message_id
    assert message["Bcc"] is None and message.get_all("Subject") == [message["Subject"]]
    assert message["Subject"].startswith("Watch Bcc: evil@example.org: 10 new studies · ")
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]

    plain, html = parts_of(message)
    assert "<script" not in html.lower() and "<b>" not in html and "<h1>" not in html
    assert "<!channel>" not in html and "<@U024BE7LH>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "javascript:" not in html, "a source's URL is a link only when it is http(s)"
    seen = visible_text(html)
    for title in ("<!channel> wins", "@here read this", "<script>alert(1)</script>",
                  "Fish & Chips <b>", "كيتامين للاكتئاب المقاوم للعلاج",
                  "Ketamine 💊 for depression 🧠", "Ask <@U024BE7LH> about it",
                  "Line one Bcc: victim@example.org <h1>body</h1>", "J & <i>J</i>",
                  "A registry entry"):
        assert title in seen, title
        assert title in plain, title
    assert 'dir="auto"' in html  # right-to-left titles lay out on their own
    long_title = next(line for line in plain.splitlines() if line.startswith("* ketamine"))
    assert "…" in plain and len(seen) < 5000, "the 5,000-character title is cut"
    assert len(long_title) <= email_render.WIDTH
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/1005/"' in html, "and still linked"


def test_a_conclusion_holding_terminal_escapes_is_shown_in_both_parts_and_never_acts(
        smtp, unused_port):
    """The conclusion is quoted from the abstract, as a source wrote it (a registry's JSON may
    hold ESC; PubMed's XML an 8-bit CSI, U+009B): the plain-text part is read in terminals
    (mutt, less), so it gets the words without one control character, and so does the HTML."""
    inbox = smtp()
    abstract = ("BACKGROUND: Ketamine.\r\nCONCLUSIONS: Ketamine\x1b[2J\x1b]0;pwned\x07 was"
                "\tsafe\x08 and \x9b31mwell tolerated.\r\n")
    study = Study("pubmed", "publication", {"pmid": "1001"}, "A trial", abstract=abstract)
    digest = Digest("mail", "2026-10-31T08:00:00+00:00", None, [Section("Depression", [
        DigestItem(NewStudy.of(1), study, ["Depression"], [], 1)])], [])
    settings = Settings.from_env(smtp_vars(unused_port))
    sender = EmailSender(Email(kind="email", to=TEAM, name="mail"), settings.destination("email"),
                         timeout=settings.http_timeout)
    [part] = sender.prepare(digest)
    sender.send(part)
    plain, html = parts_of(inbox.messages()[0])
    shown = "Ketamine was safe and well tolerated."
    assert "Conclusion: " + shown in " ".join(plain.split())
    assert shown in " ".join(visible_text(html).split())
    assert unprintable(plain.replace("\r\n", "\n") + html.replace("\r\n", "\n")) == []


def test_the_subject_prefix_and_a_failed_source_are_one_line():
    digest = Digest("mail", "2026-10-31T08:00:00+00:00", None, [],
                    [SourceReceipt("pubmed", "PubMed", polls=3, failed=3, last_error="HTTP 503")])
    subject = email_render.subject_line(digest, "Weekly\nwatch\x00")
    assert subject == ("Weekly watch: PubMed could not be polled for any of 3 queries"
                       " · Nothing new · 31 Oct 2026")


# --- a source that failed shows in the subject -------------------------------------------------

def test_a_source_that_could_not_be_polled_is_in_the_subject(env, smtp, unused_port):
    env.write_queries(EMAIL_YAML)
    inbox = smtp()
    dead = f"http://127.0.0.1:{unused_port + 1 if unused_port < 65535 else 1}/eutils/"
    result = env.cli("run", "--once", **smtp_vars(unused_port), WATCHER_EUTILS_URL=dead)
    assert result.exit_code == 1  # the polls failed...
    [message] = inbox.messages()  # ...and the team is told, even with nothing new
    assert "PubMed could not be polled for any of 3 queries since " in message["Subject"]
    plain, html = parts_of(message)
    assert "PubMed could not be polled" in plain and "PubMed could not be polled" in html


# --- failures keep the items pending, in one line, without the password ------------------------

def reject(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=False, handled=False)


def accept(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=True)


@pytest.mark.parametrize("case", ["dead server", "refused login", "refused recipient"])
def test_a_failed_send_is_one_line_keeps_items_pending_and_never_shows_the_password(
        env, corpus_server, smtp, unused_port, case):
    env.write_queries(EMAIL_YAML)
    expected = {
        "dead server": f"could not reach the SMTP server 127.0.0.1:{unused_port}",
        "refused login": f"the SMTP server 127.0.0.1:{unused_port} refused the login for "
                         "watcher-bot (535; check SMTP_USER and SMTP_PASSWORD)",
        "refused recipient": f"the SMTP server 127.0.0.1:{unused_port} refused every "
                             "recipient: ana@example.org (550 5.1.1 No such user here)",
    }[case]
    if case == "refused login":
        inbox = smtp(authenticator=reject, auth_require_tls=False)
    elif case == "refused recipient":
        inbox = smtp(Inbox(refuse={"*"}), authenticator=accept, auth_require_tls=False)
    else:
        inbox = Inbox()
    result = env.cli("run", "--once", **smtp_vars(unused_port), SMTP_USER="watcher-bot",
                     SMTP_PASSWORD=PASSWORD)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "mail" in line]
    assert len(lines) == 1 and lines[0].startswith("error: mail: "), result.stderr
    assert expected in lines[0] and "(19 item(s) kept pending)" in lines[0]
    assert inbox.envelopes == []
    store = env.store()
    assert store.pending_counts() == {"mail": 19}
    status = env.cli("status", SMTP_PASSWORD=PASSWORD)
    assert expected in status.stdout
    for text in (result.stdout, result.stderr, status.stdout, status.stderr):
        assert PASSWORD not in text
    for path in env.db.parent.iterdir():
        assert PASSWORD.encode() not in path.read_bytes(), path.name


def test_a_message_accepted_for_some_recipients_counts_as_sent_and_warns(
        env, corpus_server, smtp, unused_port):
    env.write_queries(EMAIL_YAML)
    inbox = smtp(Inbox(refuse={"ben@example.org"}))
    result = env.cli("run", "--once", **smtp_vars(unused_port))
    assert result.exit_code == 0, result.stderr
    assert inbox.envelopes[0].rcpt_tos == ["ana@example.org"]
    assert "mail: sent, but the SMTP server refused ben@example.org (550" in result.stderr
    assert env.store().pending_counts() == {}, "resending would repeat it to the others"


# --- TLS ---------------------------------------------------------------------------------------

@pytest.fixture
def certificate(tmp_path, monkeypatch):
    """A self-signed certificate for 127.0.0.1 that the client trusts (via SSL_CERT_FILE, as an
    operator would for a private CA): returns the server's SSL context."""
    if not shutil.which("openssl"):
        pytest.skip("the openssl command is needed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return context


def test_starttls_upgrades_before_logging_in(smtp, unused_port, certificate):
    logins = []

    def accept(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password, session.ssl is not None))
        return AuthResult(success=True)

    inbox = smtp(tls_context=certificate, require_starttls=True, authenticator=accept)
    settings = Settings.from_env(smtp_vars(unused_port, SMTP_TLS="starttls",
                                           SMTP_USER="watcher-bot", SMTP_PASSWORD=PASSWORD))
    sender = EmailSender(Email(kind="email", to=TEAM, name="mail"), settings.destination("email"),
                         timeout=settings.http_timeout)
    sender.send(sender.prepare(hostile_digest())[0])
    assert inbox.tls == [True]
    assert logins == [(b"watcher-bot", PASSWORD.encode(), True)], "the password only over TLS"


def test_implicit_tls_and_a_certificate_that_is_not_trusted(smtp, unused_port, certificate,
                                                            monkeypatch):
    inbox = smtp(ssl_context=certificate)
    settings = Settings.from_env(smtp_vars(unused_port, SMTP_TLS="ssl"))
    sender = EmailSender(Email(kind="email", to=TEAM, name="mail"), settings.destination("email"),
                         timeout=settings.http_timeout)
    part: Part = sender.prepare(hostile_digest())[0]
    sender.send(part)
    assert inbox.tls == [True]

    monkeypatch.delenv("SSL_CERT_FILE")  # the certificate is verified, not merely present
    with pytest.raises(DeliveryError) as refused:
        sender.send(part)
    assert str(refused.value).startswith(
        f"mail: TLS with the SMTP server 127.0.0.1:{unused_port} failed (CERTIFICATE_VERIFY")
    assert len(inbox.envelopes) == 1


def test_starttls_asked_of_a_server_without_it_is_a_clear_error(smtp, unused_port):
    smtp()
    settings = Settings.from_env(smtp_vars(unused_port, SMTP_TLS="starttls",
                                           SMTP_USER="u", SMTP_PASSWORD=PASSWORD))
    sender = EmailSender(Email(kind="email", to=TEAM, name="mail"), settings.destination("email"),
                         timeout=settings.http_timeout)
    with pytest.raises(DeliveryError, match=r"^mail: the SMTP server 127\.0\.0\.1:\d+ does not "
                                            r"offer STARTTLS \(set SMTP_TLS=ssl"):
        sender.send(sender.prepare(hostile_digest())[0])


class ScriptedSMTP:
    """A one-connection SMTP server on 127.0.0.1 that behaves as told: ``silent`` never says a
    word; ``drop_after_data`` accepts the message (250) and hangs up without answering QUIT."""

    def __init__(self, mode: str):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[bytes] = []
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        if self.mode == "silent":
            conn.recv(1)  # holds the connection open and says nothing
            return
        reader = conn.makefile("rb")
        conn.sendall(b"220 flaky.example ESMTP\r\n")
        while line := reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250 flaky.example\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                body = b""
                while (chunk := reader.readline()) not in (b".\r\n", b""):
                    body += chunk
                self.accepted.append(body)
                conn.sendall(b"250 2.0.0 queued\r\n")
                conn.close()  # gone before QUIT
                return
            else:
                conn.sendall(b"250 OK\r\n")

    def close(self) -> None:
        self.sock.close()


def simple_digest() -> Digest:
    return Digest("mail", "2026-10-31T08:00:00+00:00", None,
                  [Section("Depression", [study_item(1, "A study", ["Depression"])])],
                  [SourceReceipt("pubmed", "PubMed", polls=1, seen=1, new=1)])


@pytest.mark.hostile
def test_an_smtp_server_that_never_answers_is_reported_as_a_timeout():
    """A server that accepts the connection and then says nothing: the send gives up within
    WATCHER_HTTP_TIMEOUT and says the server did not answer (not that it hung up)."""
    server = ScriptedSMTP("silent")
    try:
        settings = Settings.from_env(smtp_vars(server.port, WATCHER_HTTP_TIMEOUT="0.3"))
        sender = EmailSender(Email(kind="email", to=["a@example.org"], name="mail"),
                             settings.destination("email"), timeout=settings.http_timeout)
        with pytest.raises(DeliveryError) as failed:
            sender.send(sender.prepare(simple_digest())[0])
    finally:
        server.close()
    assert str(failed.value) == (f"mail: the SMTP server 127.0.0.1:{server.port} did not answer"
                                 " within 0.3 s")


@pytest.mark.hostile
def test_a_server_that_hangs_up_after_accepting_the_message_counts_it_sent_once():
    server = ScriptedSMTP("drop_after_data")
    try:
        settings = Settings.from_env(smtp_vars(server.port))
        sender = EmailSender(Email(kind="email", to=["a@example.org"], name="mail"),
                             settings.destination("email"), timeout=settings.http_timeout)
        message_id = sender.send(sender.prepare(simple_digest())[0])
    finally:
        server.close()
    assert message_id and len(server.accepted) == 1 and server.connections == 1


@pytest.mark.hostile
def test_fifty_recipients_and_a_non_ascii_sender_name_arrive_as_one_message(unused_port):
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=unused_port)
    controller.start()
    try:
        team = [f"member{n:02d}@example.org" for n in range(50)]
        settings = Settings.from_env(smtp_vars(
            unused_port, WATCHER_EMAIL_FROM="Veille kétamine — équipe <watcher@lab.example.org>"))
        sender = EmailSender(Email(kind="email", to=team, name="mail",
                                         subject="Veille\r\nBcc: evil@example.org"),
                             settings.destination("email"), timeout=settings.http_timeout)
        sender.send(sender.prepare(simple_digest())[0])
    finally:
        controller.stop()
    [envelope] = inbox.envelopes
    assert sorted(envelope.rcpt_tos) == team, "one message, every recipient, nobody else"
    [message] = inbox.messages()
    assert message["From"].addresses[0].display_name == "Veille kétamine — équipe"
    assert message["Bcc"] is None and message["Subject"].startswith("Veille Bcc: evil")
    plain, _ = parts_of(message)
    assert "A study" in plain
