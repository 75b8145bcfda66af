"""Delivery through the outbox with recording senders: a sender failing (or interrupted) part
way resends only what it did not accept, an empty digest is a sent one, one destination's crash
stops no other, filters are re-judged before each digest, thousands of items go through once,
an upgraded skeleton database prints nothing it already sent, and two deliveries at once send
each study once."""

from __future__ import annotations

import io
import threading

import pytest

from tests.helpers import QUERIES_YAML
from tests.helpers.delivery import LOST, NOWHERE, TWO_ROUTES, Recorder, deliver_with, study_key
from tests.helpers.studies import store_study
from watcher import pipeline
from watcher.db import MIGRATIONS, Store
from watcher.errors import DeliveryError
from watcher.models import Study


@pytest.mark.hostile
@pytest.mark.parametrize("fail_at", ["first", "last"])
def test_a_sender_failing_on_one_part_resends_only_what_it_did_not_accept(
        env, corpus_server, fail_at):
    env.write_queries(TWO_ROUTES)
    pipeline.poll(env.config(), env.store(), env.settings())
    pending = len(env.store().pending("x"))
    flaky = Recorder(fail={1 if fail_at == "first" else pending:
                           DeliveryError("x: refused (HTTP 500)")})
    outcome = deliver_with(env, x=flaky, y=Recorder())[0]
    assert outcome.error and not outcome.sent
    left = pending if fail_at == "first" else 1
    assert env.store().pending_counts().get("x") == left
    assert outcome.parts == pending - left
    again = deliver_with(env, x=flaky, y=Recorder())[0]
    assert again.sent and again.error is None
    assert len(flaky.keys) == len(set(flaky.keys)) == pending


@pytest.mark.hostile
def test_ctrl_c_in_the_middle_of_a_send_keeps_what_was_accepted_and_the_rest_pending(
        env, corpus_server):
    env.write_queries(TWO_ROUTES)
    pipeline.poll(env.config(), env.store(), env.settings())
    flaky = Recorder(fail={5: KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        deliver_with(env, x=flaky)
    store = env.store()
    assert store.outbox_states("x") == {"sent": 4, "pending": 15}, "nothing left 'sending'"
    deliver_with(env, x=flaky)
    assert len(flaky.keys) == len(set(flaky.keys)) == 19


def test_an_empty_digest_a_sender_accepts_is_a_sent_digest_and_moves_the_receipt_on(
        env, corpus_server):
    env.write_queries(TWO_ROUTES)
    pipeline.poll(env.config(), env.store(), env.settings())
    x = Recorder(send_empty=True)
    deliver_with(env, x=x)
    assert len(x.keys) == 19
    first_calls = x.calls
    outcome = deliver_with(env, x=x)[0]
    assert outcome.sent and outcome.error is None and x.calls == first_calls + 1
    assert len(x.keys) == 19
    store = env.store()
    states = [r[0] for r in store.conn.execute(
        "SELECT state FROM digests WHERE destination = 'x' ORDER BY id")]
    assert states == ["sent", "sent"]


@pytest.mark.hostile
def test_a_crash_while_closing_a_digest_does_not_stop_the_other_destinations(
        env, corpus_server, monkeypatch):
    from watcher.db import Store

    env.write_queries(TWO_ROUTES)
    pipeline.poll(env.config(), env.store(), env.settings())
    original = Store.finish_digest
    crashed = []

    def finish_once(self, digest_id, **kwargs):
        if not crashed:
            crashed.append(digest_id)
            raise OSError("disk I/O error")
        return original(self, digest_id, **kwargs)

    monkeypatch.setattr(Store, "finish_digest", finish_once)
    x, y = Recorder(), Recorder()
    outcomes = {o.destination: o for o in deliver_with(env, x=x, y=y)}
    assert outcomes["x"].error and "disk I/O error" in outcomes["x"].error
    assert outcomes["y"].sent, "one destination's failure must not stop the next"
    deliver_with(env, x=x, y=y)
    assert len(x.keys) == len(set(x.keys)) == 19, "what x accepted is not sent again"
    assert env.store().pending_counts() == {}


def test_a_study_withheld_by_a_filter_that_is_then_undone_is_sent_after_all(env, corpus_server):
    """Excluding reviews by mistake for a day must not lose, for ever, the reviews queued in
    that day: once the filter no longer excludes them they are owed again (and sent once)."""
    strict = TWO_ROUTES.replace("defaults:\n", "defaults:\n  filters:\n"
                                "    exclude_publication_types: [Review]\n")
    env.write_queries(TWO_ROUTES)
    pipeline.poll(env.config(), env.store(), env.settings())
    env.write_queries(strict)
    x = Recorder()
    withheld = deliver_with(env, x=x)[0].withheld
    assert withheld >= 1 and study_key(env.store(), LOST) not in x.keys
    env.write_queries(TWO_ROUTES)
    deliver_with(env, x=x)
    assert x.keys.count(study_key(env.store(), LOST)) == 1
    env.write_queries(strict)  # and once sent, flipping again changes nothing
    deliver_with(env, x=x)
    assert len(x.keys) == len(set(x.keys)) == 19


@pytest.mark.hostile
def test_three_thousand_pending_items_and_a_100k_title_go_through_the_terminal_once(env):
    from watcher.events import NewStudy

    env.write_queries(NOWHERE)
    store = env.store()
    with store.transaction():
        for n in range(3000):
            title = ("Ketamine " * 12_500)[:100_000] if n == 0 else f"Study {n}"
            study_id, _ = store_study(store,
                Study("pubmed", "publication", {"pmid": str(1_000_000 + n)}, title,
                      abstract="tab\there\x00nul\x07bell"), "t")
            store.add_match(study_id, "everything", "pubmed", run_id=0, now="t",
                            excluded=None, labels=[])
            event_id, _ = store.add_event(NewStudy.of(study_id), "t")
            store.queue("terminal", event_id, "t")
    out = io.StringIO()
    outcome = pipeline.deliver(env.config(), store, env.settings(), stream=out)[0]
    assert outcome.sent and outcome.items == 3000
    text = out.getvalue()
    assert sum(line.startswith("* ") for line in text.splitlines()) == 3000
    assert "3000 new studies" in text.splitlines()[0]
    assert store.pending_counts() == {}
    assert max(len(line) for line in text.splitlines()) <= 100


def test_an_upgraded_skeleton_database_prints_no_old_terminal_item_of_another_destination(
        env):
    """The skeleton queued every study to the terminal as well as to the query's destinations
    (and `serve` never printed it). After the upgrade, the terminal is only for queries routed
    nowhere: it must not dump the team's studies under 'Other', nor re-print what it sent."""
    import sqlite_utils

    from watcher.db import Store

    env.db.parent.mkdir(parents=True)
    db = sqlite_utils.Database(env.db)
    MIGRATIONS[0](db)
    db.conn.execute("PRAGMA user_version = 1")
    for n, query in ((1, "depression"), (2, "depression"), (3, "everything"), (4, "everything"),
                     (5, "depression"), (5, "everything")):
        db["studies"].insert({"id": n, "kind": "publication", "source": "pubmed",
                              "title": f"Old study {n}", "first_seen": "t"}, ignore=True)
        db["study_ids"].insert({"scheme": "pmid", "value": str(n), "study_id": n},
                               ignore=True)
        db["matches"].insert({"study_id": n, "query_id": query, "source": "pubmed",
                              "first_matched": "t", "run_id": 1, "labels": "[]"})
    rows = [("y", 1, "t2"), ("y", 2, None), ("terminal", 1, "t2"), ("terminal", 2, None),
            ("terminal", 3, "t2"), ("terminal", 4, None), ("y", 5, None), ("terminal", 5, None)]
    db["outbox"].insert_all([{"destination": d, "study_id": s, "queued_at": "t", "sent_at": sent}
                             for d, s, sent in rows])
    db.conn.commit()
    db.close()

    # 'everything' is routed nowhere now (the terminal), 'depression' to y.
    env.write_queries(TWO_ROUTES.replace("    destinations: [x]\n", ""))
    store = Store(env.db)
    y, out = Recorder(), io.StringIO()
    outcomes = pipeline.deliver(env.config(), store, env.settings(), senders={"y": y},
                                stream=out)
    assert {o.destination for o in outcomes} == {"x", "y", "terminal"}
    assert y.keys == ["new:2", "new:5"]
    printed = out.getvalue()
    assert "Old study 4" in printed, "still owed to the terminal"
    assert "Old study 5" in printed, "owed to the terminal too: a query routed nowhere found it"
    assert "Old study 3" not in printed and "Old study 1" not in printed, "sent before"
    assert "Old study 2" not in printed, "y's study, not the terminal's"
    assert "== Other" not in printed


@pytest.mark.hostile
def test_a_sender_whose_parts_leave_items_out_is_a_reported_failure_not_a_silent_one(
        env, corpus_server):
    class Forgetful(Recorder):
        def prepare(self, digest):
            return super().prepare(digest)[:-1]  # drops the last item on the floor

    env.write_queries(TWO_ROUTES)
    pipeline.poll(env.config(), env.store(), env.settings())
    outcome = deliver_with(env, x=Forgetful())[0]
    assert not outcome.sent
    assert outcome.error and "not carried" in outcome.error, "exit 1, and the user is told"
    assert env.store().pending_counts().get("x") == 1


def test_two_concurrent_deliveries_send_each_study_once(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    pipeline.poll(env.config(), env.store(), env.settings())
    outputs = [io.StringIO(), io.StringIO()]
    errors = []

    def deliver(stream):
        try:
            pipeline.deliver(env.config(), Store(env.db), env.settings(), stream=stream)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(s,)) for s in outputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    printed = sum(o.getvalue().count("pubmed.ncbi.nlm.nih.gov/") for o in outputs)
    assert printed == 19
    assert sum("Nothing new" in o.getvalue() for o in outputs) == 1
