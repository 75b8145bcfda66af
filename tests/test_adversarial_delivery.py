"""A hostile user, a flaky Slack and a flaky SMTP server against the delivery: pathological
content stays inside Slack's limits and readable, a second watcher install posting to the same
channel never makes this one's items count as sent, a silent server is a bounded and honest
error, and a preview never sends or marks anything."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.test_email import Inbox, parts_of, smtp_vars
from tests.test_slack import (
    TEAM,
    _many,
    assert_inert,
    conditions_yaml,
    item_ids,
    queue_studies,
    slack_vars,
    texts,
    write,
)
from watcher import pipeline
from watcher.config import Destination
from watcher.db import Store
from watcher.destinations import Part
from watcher.destinations.email import EmailSender
from watcher.destinations.slack import SlackSender
from watcher.digest import Digest, DigestItem, Section, SourceReceipt
from watcher.errors import DeliveryError
from watcher.fakes.slack import SlackServer, check_message
from watcher.models import Event, Study
from watcher.render import slack as slack_render
from watcher.settings import Settings


@pytest.fixture
def slack():
    with SlackServer(interval=0.05) as running:
        yield running


def study_item(n: int, title: str, conditions: list[str], **extra) -> DigestItem:
    study = Study("pubmed", "publication", {"pmid": str(2000 + n)}, title, **extra)
    return DigestItem(Event(f"new:{n}", "new", n), study, conditions, [], n)


# --- Block Kit limits with pathological content ----------------------------------------------

def test_a_top_message_with_49_long_conditions_held_back_and_long_errors_fits_slack():
    """49 conditions with long names all held back by max_items, and three sources whose last
    error is an upstream HTML body: the top message must still be one Slack accepts, or the
    digest fails on every run and nobody ever hears that the sources are down."""
    names = [f"Condition {k:02d} " + "with a long descriptive heading " * 6 for k in range(49)]
    error = "HTTP 503: " + "<html><body>Service Unavailable</body></html> " * 8  # as capped
    receipts = [SourceReceipt(source, label, "2026-10-01", "2026-10-31", polls=49, failed=49,
                              last_error=error)
                for source, label in (("pubmed", "PubMed"), ("clinicaltrials", "ClinicalTrials"),
                                      ("europepmc", "Europe PMC"))]
    digest = Digest("team", "2026-10-31T08:00:00+00:00", "2026-10-24T08:00:00+00:00", [],
                    receipts, overflow={name: 3 for name in names})
    messages = slack_render.render(digest, threaded=True)
    for message in messages:
        assert check_message(message.payload()) is None, "Slack would refuse this message"
    assert "could not be polled" in messages[0].text


def test_one_condition_with_500_huge_titles_is_accepted_and_lists_every_item(tmp_path, slack):
    cfg = write(tmp_path, conditions_yaml(1, TEAM.replace("    channel:",
                                                          "    max_items: 500\n    channel:")))
    store = Store(tmp_path / "w.db")
    studies = [(Study("pubmed", "publication", {"pmid": str(700000 + n)},
                      f"T{n:03d} " + "é💊" * 1500,
                      abstract="CONCLUSIONS: " + "ü" * 299 + "é more words after the cut"),
                ["q0"]) for n in range(500)]
    queue_studies(store, studies)
    settings = Settings.from_env({"WATCHER_DB": str(tmp_path / "w.db"), **slack_vars(slack)})
    outcome = pipeline.deliver(cfg, store, settings)[0]
    assert outcome.sent, outcome.error
    assert slack.rejected == []
    for message in slack.messages:
        assert_inert(message)
    ids = item_ids(slack)
    assert len(ids) == len(set(ids)) == 500 and store.pending_counts() == {}


# --- mrkdwn injection through every field a source or the YAML controls ----------------------

def test_every_untrusted_field_is_inert_in_slack():
    hostile = "<!channel> *bold* <https://evil.example|click> \u202eevil"
    notice = DigestItem(Event("health:q0", "query_health", None, {"message": hostile}), None,
                        [], [], 90)
    item = study_item(1, hostile, [hostile, "<!here> other"], authors=[hostile],
                      journal=hostile, published=hostile,
                      abstract=f"CONCLUSIONS: {hostile}")
    item.labels.append("<!everyone>`x`")
    trial = Study("clinicaltrials", "trial", {"nct": "<!here>"}, "A trial",
                  url="https://x.example/a b|c>d<!channel>")
    trial_item = DigestItem(Event("changed:2", "trial_changed", 2,
                                  {"changes": [hostile, "status <!here>"]}), trial, [hostile],
                            [], 2)
    digest = Digest("team", "2026-10-31T08:00:00+00:00", None,
                    [Section(hostile, [item, trial_item])],
                    [SourceReceipt("pubmed", "PubMed", polls=2, failed=1, last_error=hostile,
                                   warnings=[hostile], quarantined=[hostile])],
                    notices=[notice], overflow={hostile: 2})
    for message in slack_render.render(digest, threaded=True):
        payload = message.payload()
        posted = type("Posted", (), {"text": payload["text"], "blocks": payload["blocks"],
                                     "payload": {**payload, "unfurl_links": False,
                                                 "unfurl_media": False}})
        assert_inert(posted)
        for text in texts(posted):
            assert "\u202e" not in text
    link = next(t for m in slack_render.render(digest, threaded=True)
                for t in texts(type("P", (), m.payload())) if "x.example" in t)
    assert "<https://x.example/a%20b%7Cc%3Ed%3C!channel%3E|A trial>" in link


@pytest.mark.parametrize("title", ["", "   ", "\u200b\u200b", "\u2060\ufeff", "\u202e\u200d"])
def test_a_title_with_nothing_visible_is_shown_as_untitled(title):
    """A link whose label is only zero-width characters is invisible in Slack: the study would
    be listed but nobody could see or click it."""
    shown = slack_render.item_mrkdwn(study_item(1, title, ["Depression"]))
    assert shown.startswith("<https://pubmed.ncbi.nlm.nih.gov/2001/|(untitled)>"), shown


# --- crash recovery with a second install in the same channel --------------------------------

def _interrupted_digest(cfg, store: Store, settings: Settings) -> int:
    """What a process killed right after beginning a digest leaves: items 'sending', nothing
    posted."""
    built, through, _ = pipeline.build_digest(cfg, store, "team", now=pipeline.utc_now())
    return store.begin_digest("team", [i.outbox_id for i in built.items],
                              now="2026-11-20T09:00:00+00:00", through_poll=through,
                              receipt="r")


@pytest.mark.parametrize("case", ["another install", "database rebuilt"])
def test_recovery_never_takes_another_databases_digest_with_the_same_number_for_ours(
        tmp_path, slack, case):
    """Digest and outbox ids are small integers that restart at 1 in every database. A staging
    install posting to the same channel (or this install before its database was rebuilt)
    leaves messages for 'digest 1, items 1-60' in the history; after a crash, this install's
    digest 1 must not count them as its own, or its items are marked sent and never posted."""
    cfg = write(tmp_path, conditions_yaml(3, TEAM.replace("    channel:",
                                                          "    max_items: 100\n    channel:")))
    settings = Settings.from_env({**slack_vars(slack)})
    other = Store(tmp_path / "other.db")
    queue_studies(other, _many(60, 3))
    assert pipeline.deliver(cfg, other, settings)[0].sent
    before = len(slack.messages)
    if case == "database rebuilt":
        other.close()
        (tmp_path / "other.db").unlink()
        ours = Store(tmp_path / "other.db")
    else:
        ours = Store(tmp_path / "ours.db")
    queue_studies(ours, _many(60, 3))
    assert _interrupted_digest(cfg, ours, settings) == 1

    outcome = pipeline.deliver(cfg, ours, settings)[0]
    assert outcome.sent, outcome.error
    posted = sorted(i for m in slack.messages[before:]
                    for i in m.metadata["event_payload"]["outbox_ids"])
    assert posted == list(range(1, 61)), "every item of this install's digest was posted"
    assert ours.pending_counts() == {}


# --- a flaky SMTP server ---------------------------------------------------------------------

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


def test_an_smtp_server_that_never_answers_is_reported_as_a_timeout():
    """A server that accepts the connection and then says nothing: the send gives up within
    WATCHER_HTTP_TIMEOUT and says the server did not answer (not that it hung up)."""
    server = ScriptedSMTP("silent")
    try:
        settings = Settings.from_env(smtp_vars(server.port, WATCHER_HTTP_TIMEOUT="0.3"))
        sender = EmailSender(Destination(kind="email", to=["a@example.org"], name="mail"),
                             settings)
        with pytest.raises(DeliveryError) as failed:
            sender.send(sender.prepare(simple_digest())[0])
    finally:
        server.close()
    assert str(failed.value) == (f"mail: the SMTP server 127.0.0.1:{server.port} did not answer"
                                 " within 0.3 s")


def test_a_server_that_hangs_up_after_accepting_the_message_counts_it_sent_once():
    server = ScriptedSMTP("drop_after_data")
    try:
        settings = Settings.from_env(smtp_vars(server.port))
        sender = EmailSender(Destination(kind="email", to=["a@example.org"], name="mail"),
                             settings)
        message_id = sender.send(sender.prepare(simple_digest())[0])
    finally:
        server.close()
    assert message_id and len(server.accepted) == 1 and server.connections == 1


def test_fifty_recipients_and_a_non_ascii_sender_name_arrive_as_one_message(unused_port):
    from aiosmtpd.controller import Controller

    from tests.test_email import Inbox

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=unused_port)
    controller.start()
    try:
        team = [f"member{n:02d}@example.org" for n in range(50)]
        settings = Settings.from_env(smtp_vars(
            unused_port, WATCHER_EMAIL_FROM="Veille kétamine — équipe <watcher@lab.example.org>"))
        sender = EmailSender(Destination(kind="email", to=team, name="mail",
                                         subject="Veille\r\nBcc: evil@example.org"), settings)
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


# --- a flaky Slack -----------------------------------------------------------------------------

def _send_in_thread(sender, part: Part) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(sender.send(part))
        except Exception as exc:  # what the core would report
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


BODY = {"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}]}


@pytest.mark.parametrize("retry_after", ["3600", "soon"])
def test_a_429_asking_for_an_hour_or_nonsense_fails_the_part_instead_of_sleeping(
        tmp_path, retry_after):
    """Slack (or a proxy) answering 429 with Retry-After: 3600 must not put the whole run, and
    every destination after this one, to sleep for an hour; a Retry-After that is not a number
    is one readable error, not an unexpected ValueError."""
    with SlackServer(interval=3600.0) as strict:
        strict.retry_after = retry_after  # type: ignore[assignment]
        cfg = write(tmp_path, conditions_yaml(1, TEAM))
        settings = Settings.from_env({"SLACK_API_URL": strict.url,
                                      "SLACK_BOT_TOKEN": strict.token})
        sender = SlackSender(cfg.all_destinations()["team"], settings, interval=0)
        assert sender.send(Part([], BODY))
        thread, outcome = _send_in_thread(sender, Part([1], BODY, meta={"reply": True}))
        thread.join(timeout=20)
        assert not thread.is_alive(), "still asleep on the Retry-After"
    [error] = outcome
    assert isinstance(error, DeliveryError)
    assert str(error) == "team: Slack kept rate-limiting the channel (ratelimited)"
