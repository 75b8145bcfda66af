"""Slack delivery through the real slack_sdk client against a local Slack: a bot digest is one
top-level message with its items in the thread, a webhook digest several plain messages; every
message within Block Kit's limits; untrusted text never notifies anyone; a crash never makes a
message appear twice; each Slack error is one line and loses nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest
from slack_sdk import WebClient

from tests.fakes.slack import SlackServer, check_message
from tests.helpers import FIXTURES, PUBMED_FILES, ROOT, days_ago, renumbered, retracted
from tests.helpers.delivery import study_item
from tests.helpers.slack import (
    RENAMED,
    TEAM,
    WEEKLY,
    WITH_SLACK,
    WITH_WEBHOOK,
    assert_inert,
    delivered_pmids,
    item_ids,
    killed_run,
    slack_vars,
    texts,
)
from tests.helpers.studies import store_study
from watcher import pipeline
from watcher.clock import stamp
from watcher.config import load
from watcher.db import Store
from watcher.destinations import Part, RecoversSent, slack_recovery
from watcher.destinations.slack import SlackSender
from watcher.digest import Digest, DigestItem, Section, SourceReceipt
from watcher.errors import DeliveryError
from watcher.events import NewStudy, QueryHealth, TrialChanged
from watcher.models import Study
from watcher.render import slack as slack_render
from watcher.render.slack import MAX_SECTION, unescape
from watcher.settings import Settings

# --- building a store directly ---------------------------------------------------------------

def conditions_yaml(n: int, destination: str) -> str:
    queries = "".join(f"  - id: q{k}\n    condition: Condition {k}\n    sources:\n"
                      f"      pubmed:\n        terms: c{k}[tiab]\n" for k in range(n))
    return f"{destination}queries:\n{queries}"


def queue_studies(store: Store, studies: list[tuple[Study, list[str]]]) -> None:
    with store.transaction():
        for study, query_ids in studies:
            study_id, _ = store_study(store, study, "t1")
            for query_id in query_ids:
                store.add_match(study_id, query_id, "pubmed", run_id=0, now="t1", excluded=None,
                                labels=[])
            event_id, _ = store.add_event(NewStudy.of(study_id), "t1")
            store.queue("team", event_id, "t1")


def write(tmp_path, text: str):
    folder = tmp_path / "queries"
    folder.mkdir(exist_ok=True)
    (folder / "q.yaml").write_text(text)
    return load(folder)


HOSTILE = [
    "<!channel> wins", "@here please read", "<script>alert(1)</script>", "Fish & Chips <b>",
    "K" * 5000, "קטמין לדיכאון עמיד \u202eטיפול", "Ketamine 💊🧠 and mood", "Line one\r\nLine two",
    "<@U024BE7LH> look", "<!subteam^S123|team> and <#C0123|general> and <!everyone>",
]


def test_hostile_titles_stay_readable_text_and_never_mention_anyone(tmp_path, slack):
    cfg = write(tmp_path, conditions_yaml(2, TEAM).replace(
        "Condition 1", '"<!here> Condition\\nbreak"'))
    store = Store(tmp_path / "w.db")
    studies = [(Study("pubmed", "publication", {"pmid": str(100 + n)}, title,
                      authors=["<!here>", "B"], journal="J & <J>",
                      abstract=f"CONCLUSIONS: <!channel> {title[:50]} works."), ["q0", "q1"])
               for n, title in enumerate(HOSTILE)]
    studies.append((Study("pubmed", "publication",
                          {"doi": "10.1002/(sici)1097-4636(199706)35:4<461::aid-jbm7>3.0.co;2-m|x"},
                          "A DOI link with markup in it"), ["q0"]))
    queue_studies(store, studies)
    settings = Settings.from_env({"WATCHER_DB": str(tmp_path / "w.db"), **slack_vars(slack)})
    outcome = pipeline.deliver(cfg, store, settings)[0]
    assert outcome.sent, outcome.error
    assert slack.rejected == [] and slack.messages
    for message in slack.messages:
        assert_inert(message)
    shown = unescape(" ".join(t for m in slack.messages for t in texts(m)))
    for readable in ("<!channel> wins", "@here please read", "<script>alert(1)</script>",
                     "Fish & Chips <b>", "קטמין לדיכאון עמיד", "💊🧠", "Line one Line two",
                     "<@U024BE7LH> look", "J & <J>", "<!here> Condition break"):
        assert readable in shown, readable
    assert "\u202e" not in shown, "no right-to-left override reorders what follows"
    long = [t for m in slack.messages for t in texts(m) if "KKKK" in t]
    assert long and all(len(t) <= MAX_SECTION for t in long) and "K" * 5000 not in shown
    doi = next(t for m in slack.messages for t in texts(m)[1:] if "A DOI link" in t)
    assert "https://doi.org/10.1002/(sici)1097-4636(199706)35:4%3C461::aid-jbm7%3E3.0.co;2-m%7Cx|" \
        in doi


def test_a_trial_changed_in_two_registries_is_one_slack_item_carrying_both(tmp_path, slack):
    """Both registries' change events wait for the same digest: one item, each field told
    once, and the message carries both outbox rows (both marked sent, neither offered again)."""
    cfg = write(tmp_path, conditions_yaml(1, TEAM))
    store = Store(tmp_path / "w.db")
    with store.transaction():
        study_id, _ = store_study(store, Study("clinicaltrials", "trial", {"nct": "NCT09000001"},
                                             "Ketamine trial"), "t1")
        store.add_match(study_id, "q0", "clinicaltrials", run_id=0, now="t1", excluded=None,
                        labels=[])
        for source, changes, fields in (
                ("clinicaltrials", ["status Recruiting → Completed"], ["status"]),
                ("isrctn", ["status Recruiting → Completed", "enrollment 60 → 80"],
                 ["status", "enrollment"])):
            event_id, _ = store.add_event(TrialChanged(
                key=f"change:{source}:h", study_id=study_id, query_id="q0",
                changes=tuple(changes), fields=tuple(fields)), "t1")
            store.queue("team", event_id, "t1")
    settings = Settings.from_env({"WATCHER_DB": str(tmp_path / "w.db"), **slack_vars(slack)})
    outcome = pipeline.deliver(cfg, store, settings)[0]
    assert outcome.sent and outcome.error is None and outcome.items == 1
    shown = " ".join(t for m in slack.messages for t in texts(m)[1:])
    assert shown.count("Ketamine trial") == 1 and shown.count("status Recruiting") == 1
    assert "enrollment 60 → 80" in shown
    assert sorted(item_ids(slack)) == [1, 2]
    assert store.pending_counts() == {}


def _queries_of(n: int, n_conditions: int = 10) -> list[int]:
    """Study n matches condition n % 10, and every seventh study the next one too."""
    return [n % n_conditions] + ([(n + 1) % n_conditions] if n % 7 == 0 else [])


def _in_condition_order(order: list[int]) -> bool:
    # listed under the condition its title names (its primary one), sections in YAML order
    sections = [_queries_of(n)[0] for n in order]
    return sections == sorted(sections)


def _many(n_items: int, n_conditions: int) -> list[tuple[Study, list[str]]]:
    return [(Study("pubmed", "publication", {"pmid": str(500000 + n)},
                   f"Study {n:03d} of ketamine in condition {n % n_conditions}",
                   abstract="BACKGROUND: x.\nCONCLUSIONS: " + "Ketamine helped. " * 30,
                   authors=["Author A", "Author B"], journal="Journal", published="2025 Jan"),
             [f"q{k}" for k in _queries_of(n, n_conditions)])
            for n in range(n_items)]


def _order(slack: SlackServer) -> list[int]:
    """The studies told in full, in posted order: each is its own block, its linked title
    first (a one-line pointer to a study told under another condition is not counted)."""
    found = [re.match(r"<[^|>]+\|Study (\d{3}) of", t) for m in slack.messages
             for t in texts(m)[1:]]
    return [int(m.group(1)) for m in found if m]


def test_400_items_over_10_conditions_are_one_message_and_a_thread_each_item_once(
        tmp_path, slack):
    cfg = write(tmp_path, conditions_yaml(10, TEAM.replace("    channel:",
                                                           "    max_items: 500\n    channel:")))
    store = Store(tmp_path / "w.db")
    queue_studies(store, _many(400, 10))
    settings = Settings.from_env({"WATCHER_DB": str(tmp_path / "w.db"), **slack_vars(slack)})
    outcome = pipeline.deliver(cfg, store, settings)[0]
    assert outcome.sent and outcome.error is None
    top = slack.top_level("#ketamine-watch")
    assert len(top) == 1, "one top-level message per digest"
    replies = slack.replies(top[0].ts)
    assert len(replies) == len(slack.messages) - 1 >= 9, "the items are thread replies"
    assert slack.rejected == [] and slack.throttled == 0, "valid, and paced per channel"
    for message in slack.messages:
        assert_inert(message)
        assert message.metadata["event_payload"]["digest_id"] == 1
    ids = item_ids(slack)
    assert len(ids) == len(set(ids)) == 400
    order = _order(slack)
    assert sorted(order) == list(range(400)), "each item exactly once"
    assert _in_condition_order(order), "grouped by condition in the YAML's order"
    # 40 told in full under Condition 3, 6 pointed to (every seventh of Condition 2's matched it)
    assert "400 new studies" in top[0].text and "Condition 3: 46" in texts(top[0])[3]
    assert "also: Condition 1" in " ".join(texts(replies[0]))
    quoted = [line for t in texts(replies[0]) for line in t.splitlines() if line[:2] == "> "]
    assert quoted and all(line.startswith("> Ketamine helped.") and len(line) <= 302
                          for line in quoted), "the conclusion, in at most 300 characters"
    assert store.pending_counts() == {}


def test_400_items_through_a_webhook_are_several_valid_messages_each_item_once(
        tmp_path, slack):
    cfg = write(tmp_path, conditions_yaml(10, TEAM.replace(
        'kind: slack\n    channel: "#ketamine-watch"', "kind: slack_webhook\n    max_items: 500")))
    store = Store(tmp_path / "w.db")
    queue_studies(store, _many(400, 10))
    settings = Settings.from_env({"WATCHER_DB": str(tmp_path / "w.db"),
                                  "SLACK_WEBHOOK_URL": slack.webhook_url,
                                  "WATCHER_SLACK_INTERVAL": "0.05"})
    outcome = pipeline.deliver(cfg, store, settings)[0]
    assert outcome.sent and outcome.error is None
    posts = slack.webhook_posts()
    assert len(posts) == len(slack.messages) >= 9 and slack.rejected == []
    for message in posts:
        assert_inert(message)
    order = _order(slack)
    assert sorted(order) == list(range(400))
    assert _in_condition_order(order)
    assert "400 new studies" in posts[0].text and store.pending_counts() == {}


# --- a kill at any step of a digest ----------------------------------------------------------


def _more_records(server, count: int = 30) -> None:
    """Enough records for a digest of a top message and four thread replies (Everything in
    the corpus in two, Depression's pointers to studies told under Anxiety, Anxiety)."""
    files = [p for p in PUBMED_FILES if "37909814" not in p.name]  # that one has no article
    for n in range(count):
        server.add_article(renumbered(files[n % len(files)], str(97000000 + n)),
                           entry_date=days_ago(1))


@pytest.mark.parametrize("nth", [1, 2, 5])  # the top message, a middle reply, the last one
def test_a_kill_after_any_post_then_the_next_run_delivers_each_item_once(
        env, corpus_server, slack, nth):
    env.write_queries(WITH_SLACK)
    _more_records(corpus_server)
    killed_run(env, slack, nth)

    after = env.cli("run", "--once", **slack_vars(slack))
    assert after.exit_code == 0, after.stderr
    pmids = delivered_pmids(slack)
    assert len(pmids) == len(set(pmids)) == 49, "every item, none twice"
    ids = item_ids(slack)
    assert len(ids) == len(set(ids)) == 49
    first = [m for m in slack.messages if m.metadata["event_payload"]["digest_id"] == 1]
    assert len(first) == nth and len(slack.top_level()) == (1 if nth == 5 else 2), \
        "the killed digest had five messages; only the rest went in a new one"
    store = env.store()
    assert len(store.messages_of(1)) == nth, "every accepted message is on record"
    assert store.pending_counts() == {}
    posted = len(slack.messages)
    again = env.cli("run", "--once", **slack_vars(slack))
    assert again.exit_code == 0 and len(slack.messages) == posted, "nothing new is quiet"


def test_a_slack_destination_retired_after_a_killed_digest_says_what_may_be_posted(
        env, corpus_server, slack):
    """A digest was killed after Slack accepted two messages (its items 'sending', most of
    them in the channel); the team then retires the destination. Status must not claim those
    items were never sent, and a retraction of a study the channel showed is still told (to
    the destination the queries use now), never lost with the retired name."""

    env.write_queries(WITH_SLACK)
    _more_records(corpus_server)
    killed_run(env, slack, 2)
    posted = [p for p in delivered_pmids(slack) if p.startswith("970000")]
    env.write_queries(WITH_SLACK.replace(TEAM, "defaults:\n") + "retired: [team]\n")
    told = ("retired destination team: 49 item(s) set aside, never sent again (49 of them were"
            " being sent by an interrupted digest: they may be in it already)")
    assert told in env.cli("status").stdout, "before anything ran"
    assert env.cli("run", "--once", **slack_vars(slack)).exit_code == 0
    assert told in env.cli("status").stdout, "after the items were set aside"

    files = [p for p in PUBMED_FILES if "37909814" not in p.name]
    pmid = posted[0]
    corpus_server.add_article(
        retracted(renumbered(files[(int(pmid) - 97000000) % len(files)], pmid), "99000200"),
        entry_date=days_ago(10), modified=days_ago(0))  # entered before the overlap days
    run = env.cli("run", "--once", **slack_vars(slack))
    assert run.exit_code == 0, run.stderr
    assert "RETRACTED" in run.stdout and f"pubmed.ncbi.nlm.nih.gov/{pmid}/" in run.stdout, \
        run.stdout


def test_only_the_bot_token_sender_declares_it_can_recover_what_a_killed_process_posted():
    """The core asks a sender that declares RecoversSent (and no other) what the destination
    already holds; a webhook cannot read history, so its items are offered again."""
    from watcher.destinations.email_sender import EmailSender
    from watcher.destinations.slack_webhook import SlackWebhookSender
    from watcher.destinations.terminal import TerminalSender

    assert issubclass(SlackSender, RecoversSent)
    assert not any(issubclass(sender, RecoversSent)
                   for sender in (SlackWebhookSender, EmailSender, TerminalSender))


def test_messages_posted_before_a_crash_are_found_in_history_and_threads(tmp_path, slack):
    cfg = write(tmp_path, conditions_yaml(3, TEAM))
    store = Store(tmp_path / "w.db")
    queue_studies(store, _many(60, 3))
    settings = Settings.from_env({"WATCHER_DB": str(tmp_path / "w.db"), **slack_vars(slack)})
    # What a process killed after Slack accepted two messages leaves behind: a digest begun,
    # its items 'sending', two messages in the channel and none recorded.
    pending = pipeline.build_digest(cfg, store, "team", now=pipeline.utc_now())
    built, through = pending.digest, pending.through_poll
    sender = SlackSender(cfg.all_destinations()["team"], settings.destination("slack"),
                         timeout=settings.http_timeout)
    parts = sender.prepare(built)
    assert len(parts) >= 3
    digest_id = store.begin_digest("team", [i.outbox_id for i in built.items], now="t",
                                   through_poll=through, receipt="r")
    for index, part in enumerate(parts[:2]):
        part.meta.update(digest_id=digest_id, part=index)
        sender.send(part)
    posted_before = len(slack.messages)

    outcome = pipeline.deliver(cfg, store, settings)[0]
    assert outcome.sent, outcome.error
    assert [m.part for m in store.messages_of(digest_id)] == [0, 1]
    ids = item_ids(slack)
    assert len(ids) == len(set(ids)) == 60, "the first reply's items were not posted again"
    # The rest went in one new digest: a top message and its replies, nothing else (its
    # condition replies hold the rest, each with its pointers, so their number may differ).
    again = slack.top_level()[1:]
    assert len(again) == 1 and len(slack.messages) == posted_before + 1 + len(
        slack.replies(again[0].ts))
    assert store.pending_counts() == {}


#: A digest begun DAYS days ago and sent by the real delivery code, in a process of its own
#: (the local Slack kills it part-way).
DIGEST_BACK_THEN = """
import os, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from watcher import pipeline
from watcher.config import load
from watcher.db import Store
from watcher.settings import Settings
folder, days = Path(sys.argv[1]), float(sys.argv[2])
pipeline.deliver(load(folder), Store(os.environ["WATCHER_DB"]), Settings.from_env(),
                 now=datetime.now(UTC) - timedelta(days=days))
"""


def _killed_digest(tmp_path, slack: SlackServer, nth: int, *, days: float) -> None:
    """A digest begun *days* ago (Slack's clock set back as far), killed right after Slack
    answered its *nth* message; then the clocks are back to now."""
    slack.clock = lambda: time.time() - days * 86400
    env = {**os.environ, "WATCHER_DB": str(tmp_path / "w.db"), **slack_vars(slack)}
    process = subprocess.Popen([sys.executable, "-c", DIGEST_BACK_THEN,
                                str(tmp_path / "queries"), str(days)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    slack.kill_after = (process.pid, nth)
    _, err = process.communicate(timeout=60)
    assert process.returncode == -9, err
    assert len(slack.messages) == nth
    slack.clock = time.time


@pytest.mark.parametrize("nth", [2, 3])  # killed after the first reply, the second
def test_a_digest_resumed_8_days_after_a_crash_posts_nothing_twice(tmp_path, slack, nth):
    """A weekly cron, or a worker down over a holiday: the interrupted digest is resumed more
    than a week after it began. What Slack holds from it is found however old it is."""
    cfg = write(tmp_path, conditions_yaml(3, TEAM))
    queue_studies(Store(tmp_path / "w.db"), _many(49, 3))
    _killed_digest(tmp_path, slack, nth, days=8)
    assert float(slack.messages[0].ts) < time.time() - 8 * 86400 + 600

    store = Store(tmp_path / "w.db")
    settings = Settings.from_env({"WATCHER_DB": str(tmp_path / "w.db"), **slack_vars(slack)})
    outcome = pipeline.deliver(cfg, store, settings)[0]
    assert outcome.sent and outcome.error is None, outcome.error
    ids = item_ids(slack)
    assert sorted(ids) == list(range(1, 50)), "each item in the channel exactly once"
    assert sorted(_order(slack)) == list(range(49)), "each study shown exactly once"
    assert len(store.messages_of(1)) == nth, "what Slack held is on record as sent"
    assert store.pending_counts() == {}
    assert slack.calls["conversations.list"] == 0, "the channel's id was on record"


def _killed_before_channel_ids(tmp_path, slack: SlackServer):
    """What a watcher from before channel ids were kept leaves when killed right after Slack
    accepted its second message: a digest begun, its items 'sending', two messages in a
    channel configured by name, the first recorded without the channel's id."""
    cfg = write(tmp_path, conditions_yaml(3, TEAM))
    store = Store(tmp_path / "w.db")
    queue_studies(store, _many(60, 3))
    settings = Settings.from_env({"WATCHER_DB": str(tmp_path / "w.db"), **slack_vars(slack)})
    pending = pipeline.build_digest(cfg, store, "team", now=pipeline.utc_now())
    built, through = pending.digest, pending.through_poll
    sender = SlackSender(cfg.all_destinations()["team"], settings.destination("slack"),
                         timeout=settings.http_timeout)
    parts = sender.prepare(built)
    when = stamp(pipeline.utc_now())
    digest_id = store.begin_digest("team", [i.outbox_id for i in built.items], now=when,
                                   through_poll=through, receipt="r")
    for index, part in enumerate(parts[:2]):
        part.meta.update(digest_id=digest_id, part=index, started=when)
        ts = sender.send(part)
        if index == 0:
            store.record_message(digest_id, "team", part=0, outbox_ids=part.outbox_ids,
                                 external_id=ts, now=when)
    assert parts[1].outbox_ids and len(parts) > 2
    return cfg, store, settings, digest_id


def test_recovery_finds_the_channel_past_the_fifth_page_of_a_1200_channel_workspace(
        tmp_path, slack):
    """No channel id on record, so the configured name must be looked up: through every page
    of conversations.list, however many (Slack may answer fewer per page than asked)."""
    slack.add_channels(1200)
    slack.page_cap = 150
    cfg, store, settings, digest_id = _killed_before_channel_ids(tmp_path, slack)
    assert len(slack.channels) == 1201

    outcome = pipeline.deliver(cfg, store, settings)[0]
    assert outcome.sent, outcome.error
    assert slack.calls["conversations.list"] == 9, "every page, none twice"
    assert [m.part for m in store.messages_of(digest_id)] == [0, 1]
    ids = item_ids(slack)
    assert sorted(ids) == list(range(1, 61)), "each item in the channel exactly once"
    assert store.pending_counts() == {}
    later = pipeline.deliver(cfg, store, settings)[0]
    assert not later.error and slack.calls["conversations.list"] == 9


def test_a_lookup_past_the_recovery_deadline_is_one_error_and_sends_nothing(
        tmp_path, slack, monkeypatch):
    """Resolving a name in a huge workspace (Slack may page it slowly, and rate-limit) is
    bounded: past the deadline the run says so in one line, with the way out, and the items
    wait 'sending' rather than being posted a second time."""
    monkeypatch.setattr(slack_recovery, "RECOVERY_DEADLINE", -1.0)  # already past
    cfg, store, settings, _ = _killed_before_channel_ids(tmp_path, slack)
    posted = len(slack.messages)

    outcome = pipeline.deliver(cfg, store, settings)[0]
    assert not outcome.sent and len(slack.messages) == posted
    assert "gave up reading Slack's conversations.list" in outcome.error
    assert "set 'channel' in the YAML to #ketamine-watch's ID" in outcome.error
    assert "\n" not in outcome.error and slack.token not in outcome.error
    assert store.outbox_states("team") == {"sending": 60}
    assert store.last_delivery_error("team") == outcome.error


def test_history_said_to_go_on_without_a_cursor_is_no_proof_that_nothing_was_posted(
        tmp_path, slack):
    """Slack answers the first page of the channel's history with has_more but no cursor: the
    rest (holding the interrupted digest's top message) was never read, so nothing may be
    concluded from it. The items wait, with the error; the next run reads it all and posts
    each item once."""
    cfg, store, settings, digest_id = _killed_before_channel_ids(tmp_path, slack)
    client = WebClient(token=slack.token, base_url=slack.url.rstrip("/") + "/")
    for n in range(3):  # the team talks on: the digest's message is no longer on page one
        time.sleep(0.06)
        client.chat_postMessage(channel="#ketamine-watch", text=f"chat {n}")
    slack.page_cap = 2
    slack.quirk_next("no_cursor", "conversations.history")
    posted = len(slack.messages)

    first = pipeline.deliver(cfg, store, settings)[0]
    assert not first.sent and len(slack.messages) == posted, "nothing posted blind"
    assert "cursor" in first.error and "\n" not in first.error
    assert store.outbox_states("team") == {"sending": 60}
    assert store.last_delivery_error("team") == first.error

    later = pipeline.deliver(cfg, store, settings)[0]
    assert later.sent and later.error is None, later.error
    assert sorted(item_ids(slack)) == list(range(1, 61)), "each item in the channel once"
    assert [m.part for m in store.messages_of(digest_id)] == [0, 1]
    assert store.pending_counts() == {}


@pytest.mark.parametrize("now", ["#ketamine-new", "#ketamine-watch"])
def test_a_digest_interrupted_in_a_channel_since_deleted_goes_to_the_one_now_configured(
        tmp_path, slack, now):
    """After the crash the team's channel was deleted; the YAML points at a new one, or the
    channel was made again under the same name. The channel id on record can no longer be
    read (channel_not_found): what it held is out of everyone's reach, so the items not on
    record go to the channel now configured, rather than the destination waiting for ever on
    a channel that is gone."""
    write(tmp_path, conditions_yaml(3, TEAM))
    queue_studies(Store(tmp_path / "w.db"), _many(49, 3))
    _killed_digest(tmp_path, slack, 3, days=0)
    old = slack.delete_channel("#ketamine-watch")
    new = slack.channel_id(now)
    cfg = write(tmp_path, conditions_yaml(3, TEAM.replace("#ketamine-watch", now)))
    store = Store(tmp_path / "w.db")
    recorded = {i for m in slack.messages[:2] for i in m.metadata["event_payload"]["outbox_ids"]}
    settings = Settings.from_env({"WATCHER_DB": str(tmp_path / "w.db"), **slack_vars(slack)})

    outcome = pipeline.deliver(cfg, store, settings)[0]
    assert outcome.sent and outcome.error is None, outcome.error
    moved = [i for m in slack.messages if m.channel == new
             for i in (m.metadata or {}).get("event_payload", {}).get("outbox_ids", [])]
    assert sorted(moved) == sorted(set(range(1, 50)) - recorded), "the rest, each once"
    assert not [m for m in slack.messages[3:] if m.channel == old]
    assert store.pending_counts() == {} and store.outbox_states("team") == {"sent": 49}


def test_an_unreadable_channel_still_configured_keeps_the_items_and_says_so(tmp_path, slack):
    """The bot was removed from the channel it still posts to: the check cannot run and
    posting there would fail anyway, so the items wait (a re-invited bot finds them)."""
    write(tmp_path, conditions_yaml(3, TEAM))
    queue_studies(Store(tmp_path / "w.db"), _many(49, 3))
    _killed_digest(tmp_path, slack, 3, days=0)
    cfg = write(tmp_path, conditions_yaml(3, TEAM))
    store = Store(tmp_path / "w.db")
    settings = Settings.from_env({"WATCHER_DB": str(tmp_path / "w.db"), **slack_vars(slack)})
    slack.fail_next("not_in_channel", "conversations.history")

    outcome = pipeline.deliver(cfg, store, settings)[0]
    assert not outcome.sent and len(slack.messages) == 3
    assert "not a member of #ketamine-watch" in outcome.error
    later = pipeline.deliver(cfg, store, settings)[0]
    assert later.sent and later.error is None, later.error
    assert sorted(item_ids(slack)) == list(range(1, 50))


def test_without_the_history_scope_a_killed_digest_is_resent_with_one_warning(
        env, corpus_server, slack):
    env.write_queries(WITH_SLACK)
    killed_run(env, slack, 2)
    slack.scopes = {"chat:write"}
    after = env.cli("run", "--once", **slack_vars(slack))
    assert after.exit_code == 0, after.stderr
    warnings = [line for line in after.stderr.splitlines() if "missing_scope" in line]
    assert len(warnings) == 1 and "sent again" in warnings[0]
    assert len(set(delivered_pmids(slack))) == 19, "every item, some of them twice"
    assert env.store().pending_counts() == {}


# --- failures ------------------------------------------------------------------------------

def test_a_failed_source_leads_the_slack_headline(env, slack, unused_port):
    env.write_queries(WITH_SLACK)
    result = env.cli("run", "--once", WATCHER_EUTILS_URL=f"http://127.0.0.1:{unused_port}/",
                     **slack_vars(slack))
    assert result.exit_code == 1
    [top] = slack.top_level()
    assert top.text.startswith(
        ":warning: watcher: PubMed could not be polled for any of 3 queries since ")
    assert texts(top)[1].startswith(":warning: Literature watch"), "a failure looks it"
    assert "Nothing is lost" in texts(top)[2]
    assert "PubMed could not be polled" in texts(top)[3]
    assert "FAILED" in " ".join(texts(top)), "the receipt says so too"


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "invalid_auth",
                                   "invalid_blocks", "msg_too_long"])
def test_each_slack_error_is_one_line_naming_the_destination_and_keeps_items_pending(
        env, corpus_server, slack, error):
    env.write_queries(WITH_SLACK)
    token = slack.token
    if error == "invalid_auth":
        token = "xoxb-revoked-4242-secret"
    else:
        slack.fail_next(error)
    result = env.cli("run", "--once", **slack_vars(slack, SLACK_BOT_TOKEN=token))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if error in line]
    assert len(lines) == 1 and lines[0].startswith("error: team: ")
    assert "19 item(s) kept pending" in lines[0]
    assert slack.messages == [], "ok: false is never a success"
    assert env.store().pending_counts() == {"team": 19}
    status = env.cli("status", **slack_vars(slack, SLACK_BOT_TOKEN=token))
    for text in (result.stdout, result.stderr, status.stdout, status.stderr):
        assert token not in text
    for path in env.db.parent.iterdir():
        assert token.encode() not in path.read_bytes(), path.name


def test_an_unreachable_slack_is_one_line_and_keeps_items_pending(env, corpus_server, slack,
                                                                  unused_port):
    env.write_queries(WITH_SLACK)
    result = env.cli("run", "--once", **slack_vars(
        slack, SLACK_API_URL=f"http://127.0.0.1:{unused_port}/api/"))
    assert result.exit_code == 1
    [line] = [line for line in result.stderr.splitlines() if "Slack could not be reached" in line]
    assert line.startswith("error: team: ") and "Connection refused" in line
    assert slack.token not in result.stderr and env.store().pending_counts() == {"team": 19}


def test_a_webhook_error_is_one_line_without_the_url(env, corpus_server, slack):
    env.write_queries(WITH_WEBHOOK)
    slack.fail_next("channel_not_found", method="webhook")
    result = env.cli("run", "--once", SLACK_WEBHOOK_URL=slack.webhook_url,
                     WATCHER_SLACK_INTERVAL="0.05")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "channel_not_found" in line]
    assert len(lines) == 1 and lines[0].startswith("error: team: ")
    assert "the webhook's channel no longer exists" in lines[0]
    assert "webhooksecret" not in result.stderr + result.stdout
    assert env.store().pending_counts() == {"team": 19}


def test_a_429_is_retried_after_its_retry_after(tmp_path):
    with SlackServer(interval=1.0, retry_after=1) as strict:
        cfg = write(tmp_path, conditions_yaml(1, TEAM))
        settings = Settings.from_env({"SLACK_API_URL": strict.url,
                                      "SLACK_BOT_TOKEN": strict.token})
        sender = SlackSender(cfg.all_destinations()["team"], settings.destination("slack"),
                             timeout=settings.http_timeout, interval=0)
        body = {"text": "x", "blocks": [{"type": "section",
                                         "text": {"type": "mrkdwn", "text": "x"}}]}
        started = time.monotonic()
        first = sender.send(Part([], body))
        second = sender.send(Part([1], body, meta={"reply": True}))
        assert time.monotonic() - started >= 1.0, "waited at least Retry-After"
    assert strict.throttled == 1 and first and second
    assert [m.ts for m in strict.messages] == [first, second]


def test_preview_writes_block_kit_json_and_text_and_sends_nothing(env, corpus_server, slack):
    env.write_queries(WITH_SLACK)
    assert env.cli("poll").exit_code == 0
    out = env.tmp / "preview.txt"
    result = env.cli("digest", "team", "--preview", str(out), **slack_vars(slack))
    assert result.exit_code == 0, result.stderr
    written = out.read_text(encoding="utf-8")
    readable, _, raw = written.partition("--- Block Kit JSON ---\n")
    messages = json.loads(raw)
    assert messages[0]["thread_reply"] is False and all(m["thread_reply"] for m in messages[1:])
    assert all(check_message(m) is None for m in messages)
    told = [line for line in readable.splitlines() if not line.startswith("•")]
    assert " ".join(told).count("pubmed.ncbi.nlm.nih.gov/") == 19, "(not counting pointers)"
    assert slack.messages == [] and env.store().pending_counts() == {"team": 19}


# --- a renamed destination -------------------------------------------------------------------

RENAMED_BARE = RENAMED.replace("    renamed_from: weekly\n", "")


def test_renaming_between_a_poll_and_a_digest_delivers_every_study_once(
        env, corpus_server, slack):
    env.write_queries(WEEKLY)
    assert env.cli("poll").exit_code == 0
    assert env.store().pending_counts() == {"weekly": 19}
    env.write_queries(RENAMED)
    status = env.cli("status", **slack_vars(slack))
    assert "destination team-weekly (slack): 19 pending" in status.stdout
    assert "ORPHANED" not in status.stdout

    first = env.cli("run", "--once", **slack_vars(slack))  # polls the overlap, then sends
    assert first.exit_code == 0, first.stderr
    pmids = delivered_pmids(slack)
    assert len(pmids) == len(set(pmids)) == 19, "every pending study reached the new name once"
    again = env.cli("run", "--once", **slack_vars(slack))  # the overlap again
    assert again.exit_code == 0, again.stderr
    assert sorted(delivered_pmids(slack)) == sorted(pmids), "nothing posted again"
    store = env.store()
    assert store.pending_counts() == {}
    assert store.last_digest("weekly") == (None, 0), "its digests are the new name's now"
    health = env.cli("health", **slack_vars(slack))
    assert health.exit_code == 0 and health.stdout.strip() == "ok", health.stdout


@pytest.mark.parametrize("renamed", [RENAMED, RENAMED_BARE], ids=["renamed_from", "bare"])
def test_renaming_after_a_digest_never_posts_a_study_again(env, corpus_server, slack, renamed):
    env.write_queries(WEEKLY)
    assert env.cli("run", "--once", **slack_vars(slack)).exit_code == 0
    assert len(set(delivered_pmids(slack))) == 19
    env.write_queries(renamed)
    fresh = renumbered(PUBMED_FILES[0], "98000001")
    corpus_server.add_article(fresh, entry_date=days_ago(0))

    after = env.cli("run", "--once", **slack_vars(slack))  # the overlap holds old studies
    assert after.exit_code == 0, after.stderr
    pmids = delivered_pmids(slack)
    assert len(pmids) == len(set(pmids)) == 20, "only the new study was posted"
    assert "98000001" in pmids
    assert env.store().pending_counts() == {}


def test_a_rename_without_renamed_from_is_reported_until_it_is_added(env, corpus_server, slack):
    env.write_queries(WEEKLY)
    assert env.cli("poll").exit_code == 0
    env.write_queries(RENAMED_BARE)
    first = env.cli("run", "--once", **slack_vars(slack))
    assert first.exit_code == 0, first.stderr
    assert delivered_pmids(slack) == [], "the new name is not handed the overlap's slice"
    status = env.cli("status", **slack_vars(slack))
    assert ("ORPHANED: destination 'weekly' is no longer in the YAML: 19 item(s) pending; add "
            "renamed_from: weekly to the destination that replaces it") in status.stdout
    health = env.cli("health", **slack_vars(slack))
    assert health.exit_code == 1 and "'weekly' is no longer in the YAML" in health.stdout

    env.write_queries(RENAMED)
    after = env.cli("run", "--once", **slack_vars(slack))
    assert after.exit_code == 0, after.stderr
    pmids = delivered_pmids(slack)
    assert len(pmids) == len(set(pmids)) == 19
    assert env.cli("health", **slack_vars(slack)).exit_code == 0


def test_a_digest_killed_under_the_old_name_is_resumed_by_the_new_one_posting_nothing_twice(
        env, corpus_server, slack):
    """Killed mid-send, then renamed (renamed_from) before the next run: the messages Slack
    holds carry the old name in their metadata; the new name's recovery must still find them
    (it is the same destination), or the interrupted digest is posted again."""
    env.write_queries(WEEKLY)
    _more_records(corpus_server)
    killed_run(env, slack, 2)  # after the top message and one reply
    env.write_queries(RENAMED)

    after = env.cli("run", "--once", **slack_vars(slack))
    assert after.exit_code == 0, after.stderr
    pmids = delivered_pmids(slack)
    assert len(pmids) == len(set(pmids)) == 49, "each study in the channel exactly once"
    assert env.store().pending_counts() == {}


@pytest.mark.hostile
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


@pytest.mark.hostile
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


@pytest.mark.hostile
def test_every_untrusted_field_is_inert_in_slack():
    hostile = "<!channel> *bold* <https://evil.example|click> \u202eevil"
    notice = DigestItem(QueryHealth(key="health:q0", message=hostile), None, [], [], 90)
    item = study_item(1, hostile, [hostile, "<!here> other"], authors=[hostile],
                      journal=hostile, published=hostile,
                      abstract=f"CONCLUSIONS: {hostile}")
    item.labels.append("<!everyone>`x`")
    trial = Study("clinicaltrials", "trial", {"nct": "<!here>"}, "A trial",
                  url="https://x.example/a b|c>d<!channel>")
    trial_item = DigestItem(TrialChanged(key="changed:2", study_id=2,
                                         changes=(hostile, "status <!here>")), trial, [hostile],
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


@pytest.mark.hostile
@pytest.mark.parametrize("title", ["", "   ", "\u200b\u200b", "\u2060\ufeff", "\u202e\u200d"])
def test_a_title_with_nothing_visible_is_shown_as_untitled(title):
    """A link whose label is only zero-width characters is invisible in Slack: the study would
    be listed but nobody could see or click it."""
    shown = slack_render.item_mrkdwn(study_item(1, title, ["Depression"]))
    assert shown.startswith("<https://pubmed.ncbi.nlm.nih.gov/2001/|(untitled)>"), shown


@pytest.mark.hostile
def test_an_absurdly_long_address_from_a_source_never_eats_the_entry():
    """A DOI of 4,000 characters (a publisher's slip) made the entry's link longer than a
    section holds: the cut left an open '<https://doi.org/…' and no title, author or journal.
    The entry keeps its title (unlinked) and byline."""
    item = study_item(1, "Ketamine in OCD: a trial", ["OCD"], journal="J Psychiatr Res")
    item.study.ids.clear()
    item.study.ids["doi"] = "10.5555/" + "x" * 4000
    shown = slack_render.item_mrkdwn(item)
    assert shown.startswith("Ketamine in OCD: a trial") and "J Psychiatr Res" in shown
    assert len(shown) < 3000 and "<https://doi.org/" not in shown


def _interrupted_digest(cfg, store: Store, settings: Settings) -> int:
    """What a process killed right after beginning a digest leaves: items 'sending', nothing
    posted."""
    pending = pipeline.build_digest(cfg, store, "team", now=pipeline.utc_now())
    built, through = pending.digest, pending.through_poll
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


@pytest.mark.hostile
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
        sender = SlackSender(cfg.all_destinations()["team"], settings.destination("slack"),
                             timeout=settings.http_timeout, interval=0)
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


@pytest.mark.hostile
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


@pytest.mark.hostile
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


@pytest.mark.hostile
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


@pytest.mark.hostile
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


@pytest.mark.hostile
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


@pytest.mark.hostile
def test_a_failing_webhook_under_debug_never_shows_its_url(env, corpus_server, slack):
    env.write_queries(WITH_WEBHOOK)
    slack.quirk_next("http_500", method="webhook")
    result = env.cli("--debug", "run", "--once", SLACK_WEBHOOK_URL=slack.webhook_url,
                     WATCHER_SLACK_INTERVAL="0.05")
    assert result.exit_code == 1 and "team:" in result.stderr
    assert "webhooksecret" not in result.stdout + result.stderr


@pytest.mark.hostile
def test_a_condition_heading_is_escaped_once_in_the_slack_fallback(env, server):
    """Hostile text through Slack: the phrase PubMed did not find (with <!channel>, & and
    mrkdwn marks) and a new translation (with <!here> and a user mention) are escaped once,
    never a ping; the condition's heading in the notification text was escaped twice
    ("Anxiety &amp;amp; depression": Slack showed "&amp;")."""
    env.write_queries("""\
destinations:
  team:
    kind: slack
    channel: "#w"
defaults:
  lookback_days: 30
  destinations: [team]
queries:
  - id: everything
    condition: Anxiety & depression
    sources:
      pubmed:
        terms: all[sb] OR "zz <!channel> & *x* _y_"[tiab]
""")
    server.keyed_rate_limit = 0
    server.add_article(renumbered(FIXTURES / "pubmed_metapub/38011560.xml", "99000001"),
                       entry_date=days_ago(0))
    server.phrases_not_found = {"zz <!channel> & *x* _y_"}
    term = '(all[sb] OR "zz <!channel> & *x* _y_"[tiab])'
    with SlackServer(interval=0.01) as slack:
        extra = {"SLACK_API_URL": slack.url, "SLACK_BOT_TOKEN": slack.token,
                 "WATCHER_SLACK_INTERVAL": "0.01"}
        server.translations = {term: "A"}
        assert env.cli("run", "--once", **extra).exit_code == 0
        server.translations = {term: "B <!here> & <@U123> *bold*"}
        assert env.cli("run", "--once", **extra).exit_code == 0
        posted = [json.dumps(m.blocks) + m.text for m in slack.messages]
    everything = "\n".join(posted)
    assert "<!channel>" not in everything and "<!here>" not in everything
    assert "<@U123>" not in everything
    assert "phrase not found: zz &lt;!channel&gt; &amp; *x* _y_" in everything
    assert "Now: B &lt;!here&gt; &amp; &lt;@U123&gt; *bold*" in everything
    assert "&amp;amp;" not in everything and "&amp;lt;" not in everything, everything
    assert any("Anxiety &amp; depression (1)" in m.text for m in slack.messages)
