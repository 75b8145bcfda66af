"""A hostile user, a flaky Slack and a flaky SMTP server against the delivery: pathological
content stays inside Slack's limits and readable, a second watcher install posting to the same
channel never makes this one's items count as sent, a silent server is a bounded and honest
error, and a preview never sends or marks anything."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.fakes.slack import SlackServer, check_message
from tests.helpers.email import Inbox, parts_of, smtp_vars
from tests.helpers.slack import (
    TEAM,
    WITH_SLACK,
    WITH_WEBHOOK,
    assert_inert,
    item_ids,
    slack_vars,
    texts,
)
from tests.test_slack import (  # until these tests move there
    _many,
    conditions_yaml,
    queue_studies,
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
from watcher.models import Event, Study
from watcher.render import slack as slack_render
from watcher.settings import Settings


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


def _store_with(tmp_path, slack: SlackServer, n_items: int, n_conditions: int = 3,
                extra: str = "", **env: str):
    cfg = write(tmp_path, conditions_yaml(n_conditions, TEAM.replace(
        "    channel:", f"{extra}    channel:")))
    store = Store(tmp_path / "w.db")
    queue_studies(store, _many(n_items, n_conditions))
    settings = Settings.from_env({"WATCHER_DB": str(tmp_path / "w.db"), **slack_vars(slack),
                                  **env})
    return cfg, store, settings


def _posted_ids(slack: SlackServer) -> list[int]:
    return [i for m in slack.messages if m.metadata
            for i in m.metadata["event_payload"]["outbox_ids"]]


def test_a_reply_slack_kept_but_answered_too_late_is_not_posted_again(tmp_path, slack):
    cfg, store, settings = _store_with(tmp_path, slack, 60, WATCHER_HTTP_TIMEOUT="0.3")
    slack.slow_seconds = 1.0
    slack.quirk_next("as usual")  # the top message
    slack.quirk_next("slow")  # the first reply: kept by Slack, answered after the timeout
    first = pipeline.deliver(cfg, store, settings)[0]
    assert first.error and "Slack could not be reached" in first.error
    second = pipeline.deliver(cfg, store, settings)[0]
    assert second.sent, second.error
    ids = _posted_ids(slack)
    assert sorted(ids) == sorted(set(ids)), "an item was posted twice"


def test_ok_true_without_a_ts_is_an_error_and_every_item_still_arrives_once(tmp_path, slack):
    cfg, store, settings = _store_with(tmp_path, slack, 30)
    slack.quirk_next("no_ts")
    first = pipeline.deliver(cfg, store, settings)[0]
    assert first.error and "no top-level message to reply under" in first.error
    assert store.pending_counts() == {"team": 30}
    second = pipeline.deliver(cfg, store, settings)[0]
    assert second.sent, second.error
    ids = _posted_ids(slack)
    assert sorted(ids) == list(range(1, 31)), "each item once"


@pytest.mark.parametrize("where", ["chat.postMessage", "webhook"])
def test_a_500_from_slack_is_one_line_and_keeps_every_item_pending(tmp_path, slack, where):
    cfg, store, settings = _store_with(tmp_path, slack, 10)
    if where == "webhook":
        cfg = write(tmp_path, conditions_yaml(3, TEAM.replace(
            'kind: slack\n    channel: "#ketamine-watch"', "kind: slack_webhook")))
        settings = Settings.from_env({"SLACK_WEBHOOK_URL": slack.webhook_url,
                                      "WATCHER_SLACK_INTERVAL": "0.05"})
    slack.quirk_next("http_500", method=where)
    outcome = pipeline.deliver(cfg, store, settings)[0]
    assert outcome.error and outcome.error.startswith("team: ") and "\n" not in outcome.error
    assert "unexpected" not in outcome.error and "webhooksecret" not in outcome.error
    assert slack.messages == [] and store.pending_counts() == {"team": 10}


def test_a_webhook_answering_200_with_a_page_instead_of_ok_keeps_items_pending(
        tmp_path, slack):
    """A proxy or captive portal answering 200 with an HTML page: nothing proves Slack posted
    it, so the items stay pending and the error says what came back."""
    cfg = write(tmp_path, conditions_yaml(3, TEAM.replace(
        'kind: slack\n    channel: "#ketamine-watch"', "kind: slack_webhook")))
    store = Store(tmp_path / "w.db")
    queue_studies(store, _many(10, 3))
    settings = Settings.from_env({"SLACK_WEBHOOK_URL": slack.webhook_url,
                                  "WATCHER_SLACK_INTERVAL": "0.05"})
    slack.quirk_next("text:<html><body>Please log in</body></html>", method="webhook")
    outcome = pipeline.deliver(cfg, store, settings)[0]
    assert outcome.error and outcome.error.startswith("team: ")
    assert "webhooksecret" not in outcome.error and store.pending_counts() == {"team": 10}


# --- max_items and send_empty ------------------------------------------------------------------

def test_max_items_1_with_five_pending_over_three_conditions_sends_one_at_a_time(
        tmp_path, slack):
    cfg, store, settings = _store_with(tmp_path, slack, 5, extra="    max_items: 1\n")
    seen: list[int] = []
    for round_ in range(5):
        before = len(slack.messages)
        outcome = pipeline.deliver(cfg, store, settings)[0]
        assert outcome.sent, outcome.error
        posted = [i for m in slack.messages[before:] if m.metadata
                  for i in m.metadata["event_payload"]["outbox_ids"]]
        assert len(posted) == 1, "one item listed per digest"
        seen += posted
        top = slack.messages[before]
        held = 4 - round_
        if held:
            assert f"{held} more not listed here" in top.text, top.text
            assert f"{held + 1} new studies" in top.text, "the headline counts what waits"
        else:
            assert "more not listed" not in top.text
    assert sorted(seen) == [1, 2, 3, 4, 5] and store.pending_counts() == {}
    before = len(slack.messages)
    assert not pipeline.deliver(cfg, store, settings)[0].sent
    assert len(slack.messages) == before, "send_empty is off for Slack: a quiet digest is quiet"


# --- preview never sends or marks anything -------------------------------------------------------

@pytest.mark.parametrize("kind", ["slack", "slack_webhook", "email"])
def test_preview_sends_nothing_and_leaves_every_outbox_state_as_it_was(tmp_path, slack, kind):
    cfg, store, settings = _store_with(tmp_path, slack, 20)
    yaml = conditions_yaml(3, TEAM)
    if kind == "slack_webhook":
        yaml = yaml.replace('kind: slack\n    channel: "#ketamine-watch"', "kind: slack_webhook")
    elif kind == "email":
        yaml = yaml.replace('kind: slack\n    channel: "#ketamine-watch"',
                            "kind: email\n    to: [a@example.org]")
    cfg = write(tmp_path, yaml)
    _interrupted_digest(cfg, store, settings)  # some items 'sending' from a dead process
    with store.transaction():
        store.withhold([20], "filtered")
    states = store.outbox_states("team")
    digests = store.conn.execute("SELECT * FROM digests").fetchall()
    name, items, text = pipeline.preview(cfg, store, "team")
    assert name == "team" and items and text
    assert store.outbox_states("team") == states and slack.messages == []
    assert store.conn.execute("SELECT * FROM digests").fetchall() == digests
    assert store.conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0


# --- what the operator sees ----------------------------------------------------------------------

def test_an_unreachable_slack_is_exactly_one_line_on_stderr(env, corpus_server, slack,
                                                            unused_port):
    """slack_sdk logs its own 'Failed to send a request' ERROR: a second line that names no
    destination. The operator gets the sender's one line only."""
    env.write_queries(WITH_SLACK)
    result = env.cli("run", "--once", **slack_vars(
        slack, SLACK_API_URL=f"http://127.0.0.1:{unused_port}/api/"))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: team: Slack could not be reached"), \
        result.stderr


def test_a_failing_webhook_under_debug_never_shows_its_url(env, corpus_server, slack):
    env.write_queries(WITH_WEBHOOK)
    slack.quirk_next("http_500", method="webhook")
    result = env.cli("--debug", "run", "--once", SLACK_WEBHOOK_URL=slack.webhook_url,
                     WATCHER_SLACK_INTERVAL="0.05")
    assert result.exit_code == 1 and "team:" in result.stderr
    assert "webhooksecret" not in result.stdout + result.stderr
