"""The core under the next capabilities: events and the outbox of events, kept source records,
quarantine instead of a stuck window, filters re-judged before a digest."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import sqlite_utils

from tests.helpers import EVERYTHING, FIXTURES, PUBMED_FILES, QUERIES_YAML, days_ago, renumbered
from tests.helpers.studies import store_study
from watcher import pipeline
from watcher.db import MIGRATIONS, Store
from watcher.destinations import Part
from watcher.digest import Digest
from watcher.errors import DeliveryError
from watcher.events import Correction, NewStudy, TrialChanged
from watcher.models import Study

WITH_TEAM = QUERIES_YAML.replace("defaults:\n", """destinations:
  team:
    kind: terminal
defaults:
  destinations: [team]
""")


class SplitSender:
    """A destination that sends a digest as three messages and can refuse one of them once:
    what a Slack thread or a long webhook digest does."""

    send_empty = False

    def __init__(self, fail_on: int | None = None):
        self.fail_on = fail_on
        self.delivered: list[list[int]] = []  # outbox ids carried by each accepted message
        self.titles: list[str] = []
        self.calls = 0

    def prepare(self, digest: Digest) -> list[Part]:
        items = digest.items
        third = max(1, -(-len(items) // 3))
        return [Part([i.outbox_id for i in chunk], [i.study.title if i.study else i.event.key
                                                    for i in chunk])
                for chunk in (items[n:n + third] for n in range(0, len(items), third))]

    def send(self, part: Part) -> str | None:
        self.calls += 1
        if self.calls == self.fail_on:
            raise DeliveryError("team: the destination refused message 2 (HTTP 500)")
        self.delivered.append(part.outbox_ids)
        self.titles += part.body
        return f"msg-{self.calls}"


# --- quarantine instead of a stuck window -----------------------------------------------------

def test_a_pmid_efetch_never_returns_is_quarantined_and_the_window_moves_on(env, corpus_server):
    env.write_queries(EVERYTHING)
    lost = "38011560"
    corpus_server.never_return.add(lost)

    for attempt in (1, 2):
        result = env.cli("run", "--once")
        assert result.exit_code == 0, result.stderr
        assert f"({lost}), try {attempt} of 3" in result.stderr
        assert env.store().positions()[0].window_end is None, "held while it may arrive"
    third = env.cli("run", "--once")
    assert third.exit_code == 0, third.stderr
    assert f"1 record(s) quarantined ({lost})" in third.stderr
    assert env.store().positions()[0].window_end == days_ago(0).isoformat(), "moved on"
    assert f"PubMed record {lost} was set aside for query everything" in third.stdout
    assert "1 quarantined (38011560;" in " ".join(third.stdout.split())  # the receipt

    status = env.cli("status")
    assert f"QUARANTINED {lost}: listed by the search but not returned by PubMed in 3 runs" \
        in status.stdout

    corpus_server.add_article(renumbered(FIXTURES / "pubmed_metapub/36318760.xml", "99000010"),
                              entry_date=days_ago(0))
    fourth = env.cli("run", "--once")
    assert fourth.exit_code == 0, fourth.stderr
    assert fourth.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 1
    assert "pubmed.ncbi.nlm.nih.gov/99000010/" in fourth.stdout
    assert "set aside" not in fourth.stdout, "the quarantine notice is told once"

    corpus_server.never_return.clear()  # it reappears upstream after all
    fifth = env.cli("run", "--once")
    assert fifth.exit_code == 0, fifth.stderr
    assert fifth.stdout.count(f"pubmed.ncbi.nlm.nih.gov/{lost}/") == 1
    assert "QUARANTINED" not in env.cli("status").stdout
    assert "pubmed.ncbi.nlm.nih.gov" not in env.cli("run", "--once").stdout


def test_source_records_are_kept_raw_and_reparse_needs_no_network(env, corpus_server):
    env.write_queries(EVERYTHING)
    assert env.cli("run", "--once").exit_code == 0
    store = env.store()
    records = store.records("pubmed")
    assert len(records) == 19 == len(store.records("pubmed", after_id=0, limit=100))
    assert all(r["payload"].startswith("<PubmedArticle") and r["content_hash"] for r in records)
    corpus_server.stop()  # no network from here on
    counts = pipeline.reparse(env.config(), store)
    assert counts == {"records": 19, "fixed": 0, "failed": 0}
    review = store.get_study(store.find_study({"pmid": "38011560"}))
    assert review.title.startswith("Ketamine and the neurobiology of depression")
    assert store.count("record_versions") == 0, "an unchanged record adds no version"


# --- events and the outbox --------------------------------------------------------------------

def test_one_study_carries_several_events_and_each_reaches_a_destination_once(tmp_path):
    store = Store(tmp_path / "w.db")
    with store.transaction():
        study_id, _ = store_study(store, Study("pubmed", "publication", {"pmid": "1"}, "A trial"),
                                       "t1")
        new, _ = store.add_event(NewStudy.of(study_id), "t1")
        store.queue("team", new, "t1")
    sender = SplitSender()
    cfg = _config(tmp_path, "team")
    pipeline.deliver(cfg, store, _settings(tmp_path), senders={"team": sender})
    with store.transaction():
        fix, created = store.add_event(Correction(key=f"correction:{study_id}:retraction",
                                                  study_id=study_id, what="retracted"), "t2")
        assert created and store.queue("team", fix, "t2")
        again, created = store.add_event(NewStudy.of(study_id), "t2")
        assert (again, created) == (new, False)
        assert not store.queue("team", again, "t2"), "the new-study event was already sent"
    pipeline.deliver(cfg, store, _settings(tmp_path), senders={"team": sender})
    pipeline.deliver(cfg, store, _settings(tmp_path), senders={"team": sender})
    carried = [i for part in sender.delivered for i in part]
    assert len(carried) == len(set(carried)) == 2, "new, then the correction, each once"
    assert [e.kind for e in store.events_of(study_id)] == ["new", "correction"]


def test_a_digest_split_over_three_messages_that_fails_on_the_second_resends_only_the_rest(
        env, corpus_server):
    env.write_queries(WITH_TEAM)
    cfg, store, settings = env.config(), env.store(), env.settings()
    pipeline.poll(cfg, store, settings)
    flaky = SplitSender(fail_on=2)
    first = pipeline.deliver(cfg, store, settings, senders={"team": flaky})[0]
    assert first.error and "(1 of 3 messages were sent)" in first.error
    assert first.parts == 1 and not first.sent
    sent_first = set(flaky.delivered[0])
    assert store.pending_counts()["team"] == 19 - len(sent_first)
    assert env.cli("status").stdout.count("LAST ERROR: team: the destination refused") == 1

    second = pipeline.deliver(cfg, store, settings, senders={"team": flaky})[0]
    assert second.sent and second.error is None
    carried = [i for part in flaky.delivered for i in part]
    assert len(carried) == len(set(carried)) == 19, "every item once, none twice"
    assert not sent_first & {i for part in flaky.delivered[1:] for i in part}
    assert len(flaky.titles) == len(set(flaky.titles)) == 19
    assert store.pending_counts().get("team", 0) == 0
    messages = store.conn.execute("SELECT external_id FROM messages ORDER BY id").fetchall()
    assert [m[0] for m in messages][:1] == ["msg-1"], "each accepted message's id is kept"


def test_items_left_sending_by_a_dead_process_are_offered_again(env, corpus_server):
    env.write_queries(WITH_TEAM)
    cfg, store, settings = env.config(), env.store(), env.settings()
    pipeline.poll(cfg, store, settings)
    ids = [item.outbox_id for item in store.pending("team")]
    store.begin_digest("team", ids, now="t", through_poll=0, receipt="r")  # then killed
    assert len(store.interrupted("team")) == 19
    out = io.StringIO()
    outcome = pipeline.deliver(cfg, store, settings, stream=out)[0]
    assert outcome.sent and out.getvalue().count("pubmed.ncbi.nlm.nih.gov/") == 19
    assert store.pending_counts().get("team", 0) == 0


def test_a_queued_study_that_a_new_filter_excludes_is_withheld_not_sent_under_other(
        env, corpus_server):
    env.write_queries(QUERIES_YAML)
    assert env.cli("poll").exit_code == 0
    env.write_queries(QUERIES_YAML.replace("defaults:\n", "defaults:\n  filters:\n"
                                           "    exclude_publication_types: [Review]\n"))
    result = env.cli("run", "--once", "--query", "depression")
    assert "38011560" not in result.stdout
    assert "== Other" not in result.stdout
    state = env.store().conn.execute(
        "SELECT o.state, o.last_error FROM outbox o JOIN events e ON e.id = o.event_id"
        " JOIN study_ids i ON i.study_id = e.study_id WHERE i.value = '38011560'").fetchone()
    assert state == ("withheld", "excluded by the current filters: publication type Review")


def test_the_headline_says_a_poll_failed_and_agrees_with_the_receipt(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    corpus_server.truncate_next("esearch")  # the first query's search fails
    result = env.cli("run", "--once")
    assert result.exit_code == 1
    head = result.stdout.splitlines()[0]
    assert "PubMed: 1 of 3 queries could not be polled since " in head
    assert "1 FAILED" in result.stdout.split("Receipt:")[1]
    shown = result.stdout.count("pubmed.ncbi.nlm.nih.gov/")
    assert f"{shown} new stud" in head


def test_an_id_claimed_by_two_studies_is_a_logged_conflict(tmp_path):
    store = Store(tmp_path / "w.db")
    with store.transaction():
        a, _ = store_study(store, Study("pubmed", "publication",
                                      {"pmid": "1", "doi": "10.1/x", "pmcid": "PMC9"}, "A"), "t")
        b, new = store_study(store, Study("pubmed", "publication",
                                        {"pmid": "2", "doi": "10.1/x", "pmcid": "PMC9"}, "B"),
                                  "t")
    assert new and a != b
    conflicts = {(c.scheme, c.value, c.owner_study, c.claimed_by_study)
                 for c in store.id_conflicts()}
    assert conflicts == {("doi", "10.1/x", a, b), ("pmcid", "PMC9", a, b)}


# --- upgrading a skeleton database ------------------------------------------------------------

def test_a_skeleton_database_is_upgraded_without_losing_or_repeating_an_alert(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    MIGRATIONS[0](db)
    db.conn.execute("PRAGMA user_version = 1")
    for n in (1, 2):
        db["studies"].insert({"id": n, "kind": "publication", "source": "pubmed",
                              "title": f"T{n}", "first_seen": "t"})
        db["study_ids"].insert({"scheme": "pmid", "value": str(n), "study_id": n})
    db["outbox"].insert_all([
        {"destination": "team", "study_id": 1, "queued_at": "t", "sent_at": "t2",
         "digest_id": 1},
        {"destination": "team", "study_id": 2, "queued_at": "t"}])
    db.conn.commit()
    db.close()

    store = Store(path)
    assert store.version == len(MIGRATIONS)
    pending = store.pending("team")
    assert [p.study.title for p in pending] == ["T2"]
    event_id, created = store.add_event(NewStudy.of(1), "t3")
    assert not created and not store.queue("team", event_id, "t3"), "T1 was already sent"


def _config(tmp_path, destination: str):
    from watcher import config

    folder = tmp_path / "queries"
    folder.mkdir(exist_ok=True)
    (folder / "q.yaml").write_text(
        f"destinations:\n  {destination}:\n    kind: terminal\n"
        f"queries:\n  - id: q\n    condition: Q\n    destinations: [{destination}]\n"
        "    sources:\n      pubmed:\n        terms: x\n")
    return config.load(folder)


def _settings(tmp_path):
    from watcher.settings import Settings

    return Settings.from_env({"WATCHER_DB": str(tmp_path / "w.db")})


# --- records no parser or upstream can make stop a query -------------------------------------

def _batch_of_200(server, *, tweak=None) -> list[str]:
    """200 real records entered yesterday, renumbered from the fixtures; *tweak* may alter
    the first one."""
    sources = [p for p in PUBMED_FILES if "37909814" not in p.name]
    pmids = []
    for n in range(200):
        article = renumbered(sources[n % len(sources)], str(98000000 + n))
        if n == 0 and tweak:
            tweak(article)
        pmids.append(server.add_article(article, entry_date=days_ago(1)))
    return pmids


def test_a_record_with_an_element_newer_than_the_dtd_does_not_stop_its_batch(env, server):
    from tests.helpers.pubmed import with_unknown_element

    env.write_queries(EVERYTHING)
    pmids = _batch_of_200(server, tweak=with_unknown_element)
    result = env.cli("run", "--once")
    assert result.exit_code == 0, result.stderr
    assert len(server.calls("efetch")) == 1, "one batch of 200"
    store = env.store()
    assert store.known_ids("pmid", pmids) == set(pmids), "all 200 stored in that run"
    kept = next(r for r in store.records("pubmed") if r["source_id"] == pmids[0])
    assert "<FutureElement>x</FutureElement>" in kept["payload"], "kept as it came"


def test_an_unparseable_record_is_quarantined_kept_raw_and_recovered_by_reparse(env, server):
    from tests.helpers.pubmed import without_article

    env.write_queries(EVERYTHING)
    pmids = _batch_of_200(server, tweak=without_article)
    broken = pmids[0]
    result = env.cli("run", "--once")
    assert result.exit_code == 0, result.stderr
    store = env.store()
    assert len(store.known_ids("pmid", pmids)) == 199
    assert store.positions()[0].window_end == days_ago(0).isoformat(), "the window moved on"
    held = store.quarantined()
    assert [(h["source_id"], h["kind"]) for h in held] == [(broken, "unparseable")]
    record = next(r for r in store.records("pubmed") if r["source_id"] == broken)
    assert record["parse_error"] and record["study_id"] is None and record["payload"]
    assert f"PubMed record {broken} was set aside" in result.stdout
    assert f"QUARANTINED {broken}: could not be parsed" in env.cli("status").stdout

    # A later parser reads it (here: the kept payload is what a fixed upstream record holds).
    intact = renumbered(PUBMED_FILES[0], broken)
    settings = env.settings()
    with store.transaction():
        store.conn.execute("UPDATE source_records SET payload = ? WHERE id = ?",
                           (ET.tostring(intact, encoding="unicode"), record["id"]))
    server.stop()  # re-parsing needs no network
    counts = pipeline.reparse(env.config(), store)
    assert counts["fixed"] == 1 and counts["failed"] == 0
    assert store.quarantined() == []
    out = io.StringIO()
    pipeline.deliver(env.config(), store, settings, stream=out)
    assert out.getvalue().count("pubmed.ncbi.nlm.nih.gov/") == 1
    assert f"pubmed.ncbi.nlm.nih.gov/{broken}/" in out.getvalue()


def test_an_error_body_echoing_the_api_key_in_any_form_leaves_no_trace(env, corpus_server):
    env.write_queries(EVERYTHING)
    key = "c0ffee-ncbi-key-4242"
    corpus_server.fail_next(400, body=f"Invalid API key {key} for this tool (api_key={key})")
    result = env.cli("run", "--once", NCBI_API_KEY=key)
    assert result.exit_code == 1 and "answered HTTP 400" in result.stderr
    status = env.cli("status", NCBI_API_KEY=key)
    assert "LAST ERROR" in status.stdout
    for text in (result.stdout, result.stderr, status.stdout, status.stderr):
        assert key not in text
    for path in env.db.parent.iterdir():
        assert key.encode() not in path.read_bytes(), path.name


# --- one study, many records; sources with a cursor of their own ------------------------------

def test_a_study_is_the_merged_view_of_its_records_not_the_last_writer(tmp_path):
    store = Store(tmp_path / "w.db")
    with store.transaction():
        first = store.save_record("pubmed", "1", "<raw pubmed/>", Study(
            "pubmed", "publication", {"pmid": "1", "doi": "10.1/x"}, "The journal's title",
            journal="Lancet"), "t1")
        later = store.save_record("europepmc", "10.1/x", "{raw epmc}", Study(
            "europepmc", "preprint", {"doi": "10.1/X", "pmcid": "PMC7"}, "A preprint title",
            abstract="Only Europe PMC has the abstract."), "t2")
    assert later.study_id == first.study_id and not later.new_study
    merged = store.get_study(first.study_id)
    assert merged.title == "The journal's title", "PubMed's description wins"
    assert merged.abstract == "Only Europe PMC has the abstract.", "gaps filled from others"
    assert merged.ids == {"pmid": "1", "doi": "10.1/x", "pmcid": "PMC7"}
    assert {r["source"] for r in store.records()} == {"pubmed", "europepmc"}


class CursorSource:
    """A source that pages by an opaque cursor (a feed's ETag, say) instead of dates."""

    name = "pubmed"
    label = "PubMed"

    def __init__(self):
        self.seen_cursors: list[str | None] = []
        self.fail = False

    def fetch(self, search, window, context):
        from watcher.errors import SourceError
        from watcher.models import SourceRecord
        from watcher.sources import FetchResult

        self.seen_cursors.append(context.cursor)
        if self.fail:
            raise SourceError("PubMed (feed): HTTP 503")
        n = len(self.seen_cursors)
        study = Study("pubmed", "publication", {"pmid": f"5{n}"}, f"Item {n}")
        return FetchResult("pmid", [f"5{n}"], [SourceRecord(f"5{n}", f"<item {n}/>", study)],
                           cursor=f'W/"etag-{n}"')


def test_an_opaque_cursor_is_kept_handed_back_and_not_moved_by_a_failure(env):
    env.write_queries(EVERYTHING)
    cfg, store, settings = env.config(), env.store(), env.settings()
    source = CursorSource()
    pipeline.poll(cfg, store, settings, sources={"pubmed": source})
    pipeline.poll(cfg, store, settings, sources={"pubmed": source})
    source.fail = True
    report = pipeline.poll(cfg, store, settings, sources={"pubmed": source})
    assert report.failures
    source.fail = False
    pipeline.poll(cfg, store, settings, sources={"pubmed": source})
    assert source.seen_cursors == [None, 'W/"etag-1"', 'W/"etag-2"', 'W/"etag-2"']
    assert store.position("everything", "pubmed").cursor == 'W/"etag-4"'


def test_a_destination_that_can_send_is_not_also_printed_by_run_once(env, corpus_server):
    env.write_queries(WITH_TEAM)
    result = env.cli("run", "--once")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("· digest for ") == 1 and "digest for team" in result.stdout
    assert result.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 19
    assert env.store().pending_counts() == {}


def test_a_source_that_failed_everywhere_leads_the_headline_not_nothing_new(env, unused_port):
    env.write_queries(QUERIES_YAML)
    result = env.cli("run", "--once",
                     WATCHER_EUTILS_URL=f"http://127.0.0.1:{unused_port}/entrez/eutils/")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith(
        "watcher: PubMed could not be polled for any of 3 queries since ")
    assert "(never polled successfully) · Nothing new" in result.stdout.splitlines()[0]


def test_a_trial_item_shows_its_facts_and_a_change_says_what_changed_in_every_medium():
    import json as json_module

    from watcher import digest as digest_module
    from watcher.parsers.clinicaltrials import parse_study
    from watcher.render import email, slack, text

    trial = parse_study(json_module.loads(
        (FIXTURES / "ctgov_aact/NCT00973089.json").read_text()))
    change = TrialChanged(key="change:x", study_id=1, query_id="q",
                          changes=("status RECRUITING → WITHDRAWN",), label="changed")
    item = digest_module.DigestItem(change, trial, ["Q"], [], 1)
    built = digest_module.Digest("d", "2026-11-24T00:00:00+00:00", None,
                                 [digest_module.Section("Q", [item])], [])
    rendered = {
        "text": text.render(built),
        "slack": json_module.dumps([m.payload() for m in slack.render(built, threaded=True)],
                                   ensure_ascii=False),
        "email": email.render(built).html,
    }
    for medium, out in rendered.items():
        assert "WITHDRAWN" in out and "Hadassah Medical Organization" in out, medium
        assert "0 participants (actual)" in out and "Israel" in out, medium
        assert "status RECRUITING → WITHDRAWN" in out, medium
    assert "`trial`" in rendered["slack"] and ">trial</span>" in rendered["email"]
    assert rendered["email"].count(">trial</span>") == 1, "labelled once"


def test_a_status_that_went_back_and_forth_before_one_digest_ends_where_the_trial_is():
    """Suspended, resumed, suspended again between two digests: one item telling every step,
    ending where the trial is now (a repeated step is not taken for a repeated report)."""
    from watcher.db.rows import PendingItem
    from watcher.digest import merge_changes

    trial = Study("clinicaltrials", "trial", {"nct": "NCT09000001"}, "Ketamine trial")
    steps = ["status Recruiting → Suspended", "status Suspended → Recruiting",
             "status Recruiting → Suspended"]
    pending = [PendingItem(n, TrialChanged(key=f"change:clinicaltrials:{n}", study_id=1,
                                           query_id="q", changes=(step,), fields=("status",),
                                           id=n),
                           trial, []) for n, step in enumerate(steps, start=1)]
    [(item, merged)] = merge_changes(pending)
    assert item.event.details["changes"] == [
        "status Recruiting → Suspended → Recruiting → Suspended"]
    assert [m.outbox_id for m in merged] == [2, 3]
