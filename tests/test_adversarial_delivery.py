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
