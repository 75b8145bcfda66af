"""A hostile user and a flaky upstream against the core: records two queries share and that
never arrive, senders that fail at the worst moment, filters flipped back and forth, huge and
odd inputs, secrets in failing URLs, and an upgraded skeleton database."""

from __future__ import annotations

import io
from collections import Counter

import pytest

from tests.helpers import FIXTURES, days_ago, renumbered
from watcher import pipeline
from watcher.destinations import Part
from watcher.digest import Digest
from watcher.errors import DeliveryError

LOST = "38011560"  # a review both 'everything' and 'depression' find

TWO_ROUTES = """\
destinations:
  x:
    kind: terminal
  y:
    kind: terminal
defaults:
  lookback_days: 30
queries:
  - id: everything
    condition: Everything in the corpus
    destinations: [x]
    sources:
      pubmed:
        terms: all[sb]
  - id: depression
    condition: Depression
    destinations: [y]
    sources:
      pubmed:
        terms: depressi*[tiab] OR "Depression"[Mesh]
"""

#: The same queries routed nowhere: their digest is the terminal's.
NOWHERE = "defaults:" + TWO_ROUTES.split("defaults:")[1].replace("    destinations: [x]\n", "") \
    .replace("    destinations: [y]\n", "")


class Recorder:
    """A destination that keeps what it was sent, one part per item, and can be told to fail
    on given calls (with any exception, KeyboardInterrupt included)."""

    def __init__(self, *, fail: dict[int, BaseException] | None = None,
                 send_empty: bool = False):
        self.fail = fail or {}
        self.send_empty = send_empty
        self.calls = 0
        self.keys: list[str] = []  # event keys carried by accepted parts
        self.notices: list[str] = []

    def prepare(self, digest: Digest) -> list[Part]:
        return [Part([item.outbox_id], item) for item in digest.items] or [Part([], None)]

    def send(self, part: Part) -> str | None:
        self.calls += 1
        if self.calls in self.fail:
            raise self.fail[self.calls]
        if part.body is not None:
            self.keys.append(part.body.event.key)
            if part.body.study is None:
                self.notices.append(part.body.event.details.get("message", ""))
        return f"m{self.calls}"


def _deliver(env, **senders: Recorder):
    return pipeline.deliver(env.config(), env.store(), env.settings(), senders=senders,
                            stream=io.StringIO())


def _study_key(store, pmid: str) -> str:
    return f"new:{store.find_study({'pmid': pmid})}"


# --- one record, two queries, never returned ----------------------------------------------------

def test_a_record_two_queries_list_but_never_arrives_is_set_aside_once_per_query(
        env, corpus_server):
    env.write_queries(TWO_ROUTES)
    corpus_server.never_return.add(LOST)
    for _ in range(3):
        pipeline.poll(env.config(), env.store(), env.settings())
    held = {(r["query_id"], r["attempts"]) for r in env.store().quarantined()}
    assert held == {("everything", 3), ("depression", 3)}, "counted per query, not per lookup"
    x, y = Recorder(), Recorder()
    _deliver(env, x=x, y=y)
    assert len(x.notices) == 1 and "for query everything" in x.notices[0]
    assert len(y.notices) == 1 and "for query depression" in y.notices[0]
    for _ in range(2):  # still absent: asked again, never told again
        pipeline.poll(env.config(), env.store(), env.settings())
        _deliver(env, x=x, y=y)
    assert len(x.notices) == 1 and len(y.notices) == 1


def test_a_shared_record_that_comes_back_reaches_every_query_that_set_it_aside(
        env, corpus_server):
    """Both queries quarantined it and moved their windows on; when it reappears, the first
    query to fetch it must not silently free the other's quarantine without matching it."""
    env.write_queries(TWO_ROUTES)
    corpus_server.never_return.add(LOST)
    for _ in range(3):
        pipeline.poll(env.config(), env.store(), env.settings())
    x, y = Recorder(), Recorder()
    _deliver(env, x=x, y=y)
    # The windows moved on: make the record too old for either query's overlap.
    record = corpus_server.records[LOST]
    corpus_server.add_article(record.element, entry_date=record.entry_date.replace(year=2001))
    corpus_server.never_return.clear()
    pipeline.poll(env.config(), env.store(), env.settings())
    _deliver(env, x=x, y=y)
    store = env.store()
    key = _study_key(store, LOST)
    assert x.keys.count(key) == 1
    assert y.keys.count(key) == 1, "the depression team never hears of it"
    assert {m.query_id for m in store.matches_of(store.find_study({"pmid": LOST}))} == {
        "everything", "depression"}
    assert store.quarantined() == []


def test_a_record_missing_once_then_returned_is_alerted_once_and_leaves_no_quarantine(
        env, corpus_server):
    env.write_queries(TWO_ROUTES)
    corpus_server.never_return.add(LOST)
    pipeline.poll(env.config(), env.store(), env.settings())
    corpus_server.never_return.clear()
    pipeline.poll(env.config(), env.store(), env.settings())
    x, y = Recorder(), Recorder()
    _deliver(env, x=x, y=y)
    store = env.store()
    key = _study_key(store, LOST)
    assert x.keys.count(key) == 1 and y.keys.count(key) == 1
    assert x.notices == [] and y.notices == [], "nothing was set aside: no notice"
    states = {r["state"] for r in store.quarantined(states=("watching", "quarantined"))}
    assert states == set()
    status = env.cli("status").stdout
    assert "awaited" not in status and "QUARANTINED" not in status
    assert all(p["window_end"] for p in store.positions()), "the windows move on again"


def test_a_study_found_later_by_a_query_with_more_destinations_reaches_each_once(
        env, corpus_server):
    env.write_queries(TWO_ROUTES.replace("destinations: [y]", "destinations: [x, y]")
                      .replace("depressi*[tiab] OR", "zzznotaword[tiab] OR"))
    x, y = Recorder(), Recorder()
    pipeline.poll(env.config(), env.store(), env.settings())
    _deliver(env, x=x, y=y)
    env.write_queries(TWO_ROUTES.replace("destinations: [y]", "destinations: [x, y]"))
    pipeline.poll(env.config(), env.store(), env.settings())  # edited terms: looks back again
    _deliver(env, x=x, y=y)
    assert len(x.keys) == len(set(x.keys)) == 19, "x never twice"
    assert len(y.keys) == len(set(y.keys)) > 0
    assert Counter(y.keys) == Counter(set(y.keys))


# --- senders that fail at the worst moment -------------------------------------------------------

@pytest.mark.parametrize("fail_at", ["first", "last"])
def test_a_sender_failing_on_one_part_resends_only_what_it_did_not_accept(
        env, corpus_server, fail_at):
    env.write_queries(TWO_ROUTES)
    pipeline.poll(env.config(), env.store(), env.settings())
    pending = len(env.store().pending("x"))
    flaky = Recorder(fail={1 if fail_at == "first" else pending:
                           DeliveryError("x: refused (HTTP 500)")})
    outcome = _deliver(env, x=flaky, y=Recorder())[0]
    assert outcome.error and not outcome.sent
    left = pending if fail_at == "first" else 1
    assert env.store().pending_counts().get("x") == left
    assert outcome.parts == pending - left
    again = _deliver(env, x=flaky, y=Recorder())[0]
    assert again.sent and again.error is None
    assert len(flaky.keys) == len(set(flaky.keys)) == pending


def test_ctrl_c_in_the_middle_of_a_send_keeps_what_was_accepted_and_the_rest_pending(
        env, corpus_server):
    env.write_queries(TWO_ROUTES)
    pipeline.poll(env.config(), env.store(), env.settings())
    flaky = Recorder(fail={5: KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        _deliver(env, x=flaky)
    store = env.store()
    assert store.outbox_states("x") == {"sent": 4, "pending": 15}, "nothing left 'sending'"
    _deliver(env, x=flaky)
    assert len(flaky.keys) == len(set(flaky.keys)) == 19


def test_an_empty_digest_a_sender_accepts_is_a_sent_digest_and_moves_the_receipt_on(
        env, corpus_server):
    env.write_queries(TWO_ROUTES)
    pipeline.poll(env.config(), env.store(), env.settings())
    x = Recorder(send_empty=True)
    _deliver(env, x=x)
    assert len(x.keys) == 19
    first_calls = x.calls
    outcome = _deliver(env, x=x)[0]
    assert outcome.sent and outcome.error is None and x.calls == first_calls + 1
    assert len(x.keys) == 19
    store = env.store()
    states = [r[0] for r in store.conn.execute(
        "SELECT state FROM digests WHERE destination = 'x' ORDER BY id")]
    assert states == ["sent", "sent"]


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
    outcomes = {o.destination: o for o in _deliver(env, x=x, y=y)}
    assert outcomes["x"].error and "disk I/O error" in outcomes["x"].error
    assert outcomes["y"].sent, "one destination's failure must not stop the next"
    _deliver(env, x=x, y=y)
    assert len(x.keys) == len(set(x.keys)) == 19, "what x accepted is not sent again"
    assert env.store().pending_counts() == {}


# --- filters flipped back and forth --------------------------------------------------------------

def test_a_study_withheld_by_a_filter_that_is_then_undone_is_sent_after_all(env, corpus_server):
    """Excluding reviews by mistake for a day must not lose, for ever, the reviews queued in
    that day: once the filter no longer excludes them they are owed again (and sent once)."""
    strict = TWO_ROUTES.replace("defaults:\n", "defaults:\n  filters:\n"
                                "    exclude_publication_types: [Review]\n")
    env.write_queries(TWO_ROUTES)
    pipeline.poll(env.config(), env.store(), env.settings())
    env.write_queries(strict)
    x = Recorder()
    withheld = _deliver(env, x=x)[0].withheld
    assert withheld >= 1 and _study_key(env.store(), LOST) not in x.keys
    env.write_queries(TWO_ROUTES)
    _deliver(env, x=x)
    assert x.keys.count(_study_key(env.store(), LOST)) == 1
    env.write_queries(strict)  # and once sent, flipping again changes nothing
    _deliver(env, x=x)
    assert len(x.keys) == len(set(x.keys)) == 19


# --- the run lock --------------------------------------------------------------------------------

def test_a_run_that_must_wait_for_the_lock_says_so_then_runs(env, corpus_server):
    import threading

    env.write_queries(TWO_ROUTES)
    holder = env.store()
    holding, release = threading.Event(), threading.Event()

    def hold():
        with holder.exclusive():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(5)
    timer = threading.Timer(0.6, release.set)
    timer.start()
    try:
        result = env.cli("poll")
    finally:
        release.set()
        thread.join()
    assert result.exit_code == 0, result.stderr
    assert "waiting" in result.stderr and str(env.db) in result.stderr
    assert [line.split(" ")[1] for line in result.stderr.splitlines()] == ["waiting", "waited"]


# --- secrets in failing URLs ---------------------------------------------------------------------

def _assert_nowhere(env, secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text
    for path in env.db.parent.iterdir():
        assert secret.encode() not in path.read_bytes(), path.name


def test_user_info_of_an_unreachable_base_url_leaves_no_trace(env, unused_port):
    env.write_queries(TWO_ROUTES)
    base = f"http://watcher:pa55-w0rd-zz@127.0.0.1:{unused_port}/entrez/eutils/"
    result = env.cli("run", "--once", WATCHER_EUTILS_URL=base)
    assert result.exit_code == 1
    status = env.cli("status", WATCHER_EUTILS_URL=base)
    assert "LAST ERROR" in status.stdout
    _assert_nowhere(env, "pa55-w0rd-zz", result.stdout, result.stderr, status.stdout)


def test_an_error_body_echoing_the_base_url_with_user_info_leaves_no_trace(env, corpus_server):
    env.write_queries(TWO_ROUTES)
    base = corpus_server.url.replace("http://", "http://watcher:pa55-w0rd-zz@")
    corpus_server.fail_next(400, times=2, body=f"Bad request for {base}esearch.fcgi?"
                                                "api_key=test-key")
    result = env.cli("run", "--once", WATCHER_EUTILS_URL=base)
    assert result.exit_code == 1 and "HTTP 400" in result.stderr
    status = env.cli("status", WATCHER_EUTILS_URL=base)
    _assert_nowhere(env, "pa55-w0rd-zz", result.stdout, result.stderr, status.stdout)
    _assert_nowhere(env, "test-key", result.stdout, result.stderr, status.stdout)


# --- huge and odd inputs -------------------------------------------------------------------------

def test_three_thousand_pending_items_and_a_100k_title_go_through_the_terminal_once(env):
    from watcher.models import Event, Study

    env.write_queries(NOWHERE)
    store = env.store()
    with store.transaction():
        for n in range(3000):
            title = ("Ketamine " * 12_500)[:100_000] if n == 0 else f"Study {n}"
            study_id, _ = store.save_study(
                Study("pubmed", "publication", {"pmid": str(1_000_000 + n)}, title,
                      abstract="tab\there\x00nul\x07bell"), "t")
            store.add_match(study_id, "everything", "pubmed", run_id=0, now="t",
                            excluded=None, labels=[])
            event_id, _ = store.add_event(Event(f"new:{study_id}", "new", study_id), "t")
            store.queue("terminal", event_id, "t")
    out = io.StringIO()
    outcome = pipeline.deliver(env.config(), store, env.settings(), stream=out)[0]
    assert outcome.sent and outcome.items == 3000
    text = out.getvalue()
    assert sum(line.startswith("* ") for line in text.splitlines()) == 3000
    assert "3000 new studies" in text.splitlines()[0]
    assert store.pending_counts() == {}
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_pmid_mangled_in_the_efetch_answer_is_neither_missing_nor_alerted_twice(
        env, server):
    """efetch answers with a record whose PMID element is garbage, but whose article ids
    still carry the PMID esearch listed: the study is there, so nothing is 'missing'."""
    env.write_queries(NOWHERE)
    article = renumbered(FIXTURES / "pubmed_metapub/36318760.xml", "99000020")
    pmid = server.add_article(article, entry_date=days_ago(1))
    article.find("MedlineCitation/PMID").text = "PMID-ABC"  # upstream garbage in the answer
    first = env.cli("run", "--once")
    assert first.exit_code == 0, first.stderr
    assert "Traceback" not in first.stderr and "not returned" not in first.stderr
    assert first.stdout.count(f"pubmed.ncbi.nlm.nih.gov/{pmid}/") == 1
    second = env.cli("run", "--once")
    assert "pubmed.ncbi.nlm.nih.gov/" not in second.stdout
    status = env.cli("status").stdout
    assert "awaited" not in status and "QUARANTINED" not in status
    assert all(p["window_end"] for p in env.store().positions())


# --- a held poll in the digest -------------------------------------------------------------------

def test_the_headline_and_receipt_agree_after_a_held_poll(env, corpus_server):
    env.write_queries(NOWHERE)
    corpus_server.never_return.add(LOST)
    result = env.cli("run", "--once")
    assert result.exit_code == 0, result.stderr
    head = result.stdout.splitlines()[0]
    shown = result.stdout.count("pubmed.ncbi.nlm.nih.gov/")
    assert f"{shown} new studies" in head and "FAILED" not in head
    receipt = " ".join(result.stdout.split("Receipt:")[1].split())
    assert f"{shown} new" in receipt
    assert "try 1 of 3" in receipt, "the receipt says a record is still awaited"


# --- upgrading a skeleton database that also queued everything to the terminal -------------------

def test_an_upgraded_skeleton_database_prints_no_old_terminal_item_of_another_destination(
        env):
    """The skeleton queued every study to the terminal as well as to the query's destinations
    (and `serve` never printed it). After the upgrade, the terminal is only for queries routed
    nowhere: it must not dump the team's studies under 'Other', nor re-print what it sent."""
    import sqlite_utils

    from watcher.db import MIGRATIONS, Store

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


def test_a_sender_whose_parts_leave_items_out_is_a_reported_failure_not_a_silent_one(
        env, corpus_server):
    class Forgetful(Recorder):
        def prepare(self, digest):
            return super().prepare(digest)[:-1]  # drops the last item on the floor

    env.write_queries(TWO_ROUTES)
    pipeline.poll(env.config(), env.store(), env.settings())
    outcome = _deliver(env, x=Forgetful())[0]
    assert not outcome.sent
    assert outcome.error and "not carried" in outcome.error, "exit 1, and the user is told"
    assert env.store().pending_counts().get("x") == 1
