"""The state database: migrations, WAL, one study per set of ids, one alert per destination."""

from __future__ import annotations

import multiprocessing

import pytest

from tests.helpers import days_ago
from tests.helpers.studies import store_study
from watcher.db import MIGRATIONS, Store
from watcher.events import NewStudy
from watcher.models import Study


def study(**ids) -> Study:
    return Study(source="pubmed", kind="publication", ids=ids, title="A title")


def test_migrations_run_once_and_wal_is_on(tmp_path):
    path = tmp_path / "state" / "w.db"
    store = Store(path)
    assert store.version == len(MIGRATIONS)
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store_study(store, study(pmid="1"), "2026-01-01T00:00:00+00:00")
    store.close()
    reopened = Store(path)  # a second open must not re-run or fail
    assert reopened.version == len(MIGRATIONS)
    assert reopened.count("studies") == 1


def test_ids_link_one_study_across_sources(tmp_path):
    store = Store(tmp_path / "w.db")
    with store.transaction():
        first, new = store_study(store, study(pmid="38011560", doi="10.1073/PNAS.2305772120"), "t")
        assert new
        # Europe PMC (later) reports the same paper by DOI, differently cased, plus its PMCID.
        second, new = store_study(store,
            Study(source="europepmc", kind="publication", title="Same",
                  ids={"doi": "https://doi.org/10.1073/pnas.2305772120", "pmcid": "pmc10710048"}),
            "t")
    assert (second, new) == (first, False)
    assert store.get_study(first).ids == {"pmid": "38011560", "doi": "10.1073/pnas.2305772120",
                                          "pmcid": "PMC10710048"}
    assert store.known_ids("pmcid", ["PMC10710048", "PMC1"]) == {"PMC10710048"}


def send_all(store: Store, destination: str, now: str) -> None:
    pending = [p.outbox_id for p in store.pending(destination)]
    digest_id = store.begin_digest(destination, pending, now=now, through_poll=0, receipt="r")
    store.record_message(digest_id, destination, part=0, outbox_ids=pending, external_id=None,
                         now=now)
    assert store.finish_digest(digest_id, now=now) == "sent"


def test_an_event_is_queued_once_per_destination_ever(tmp_path):
    store = Store(tmp_path / "w.db")
    with store.transaction():
        study_id, _ = store_study(store, study(pmid="1"), "t")
        event_id, new = store.add_event(NewStudy.of(study_id), "t")
        assert new and store.add_event(NewStudy.of(study_id), "t") == (
            event_id, False), "the same fact found again is one event"
        assert store.queue("slack", event_id, "t")
        assert not store.queue("slack", event_id, "t")
        assert store.queue("email", event_id, "t")
    send_all(store, "slack", "t2")
    with store.transaction():
        assert not store.queue("slack", event_id, "t3"), "sent once, never again"
    assert store.pending("slack") == [] and len(store.pending("email")) == 1
    assert store.last_digest("slack") == ("t2", 0)


def test_a_failed_transaction_leaves_nothing_behind(tmp_path):
    store = Store(tmp_path / "w.db")
    try:
        with store.transaction():
            store_study(store, study(pmid="1"), "t")
            store.advance("q", "pubmed", window_end="2026-01-01", terms_hash="h", now="t")
            raise RuntimeError("killed mid-way")
    except RuntimeError:
        pass
    assert store.count("studies") == 0
    assert store.positions() == []


def test_a_changed_record_keeps_the_version_it_replaces_compressed(tmp_path):
    store = Store(tmp_path / "w.db")
    first = Study("pubmed", "publication", {"pmid": "7"}, "Old title")
    second = Study("pubmed", "publication", {"pmid": "7"}, "Corrected title")
    with store.transaction():
        a = store.save_record("pubmed", "7", "<v1>" + "x" * 5000 + "</v1>", first, "t1")
        same = store.save_record("pubmed", "7", "<v1>" + "x" * 5000 + "</v1>", first, "t2")
        b = store.save_record("pubmed", "7", "<v2/>", second, "t3")
    assert a.new_record and not same.changed and b.changed and b.previous.title == "Old title"
    history = store.record_history(a.study_id)
    assert [h.payload[:4] for h in history] == ["<v1>", "<v2/"]
    assert store.get_study(a.study_id).title == "Corrected title"
    stored = store.conn.execute("SELECT length(payload) FROM record_versions").fetchone()[0]
    assert stored < 200, "raw payloads are kept compressed"


def test_storage_failures_are_told_apart_from_a_sources_and_named_with_the_free_space(
        tmp_path, monkeypatch):
    """What stops a run as the database's own disk (and is never blamed on a source): SQLite's
    full, I/O, cannot-open and read-only errors, and ENOSPC-like OSErrors; a network error or a
    source's own error is not one."""
    import errno

    import pytest

    from watcher.db.storage import as_storage_error, storage_cause
    from watcher.errors import SourceError

    path = tmp_path / "w.db"
    Store(path).close()
    monkeypatch.setattr(Store, "extra_pragmas", ("max_page_count = 1",))
    store = Store(path)  # the cap is never below the pages in use: it only stops growth
    with pytest.raises(Exception) as full, store.transaction():
        store.conn.execute("CREATE TABLE filler (x)")
        store.conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 4000,)] * 50)
    assert storage_cause(full.value) == "database or disk is full"
    error = as_storage_error(full.value, str(path))
    assert error is not None and error.exit_code == 1
    assert str(error).startswith(f"storage: cannot write the database {path} (database or "
                                 "disk is full; ")
    assert " free on /" in str(error)
    assert store.count("studies") == 0, "what was there is still readable"
    assert storage_cause(OSError(errno.ENOSPC, "No space left on device")) == \
        "No space left on device"
    assert storage_cause(ConnectionRefusedError(errno.ECONNREFUSED, "refused")) is None
    assert storage_cause(TimeoutError("timed out")) is None
    assert storage_cause(SourceError("PubMed: HTTP 500")) is None


def _new_events(store: Store, count: int) -> list[int]:
    with store.transaction():
        ids = []
        for n in range(count):
            study_id, _ = store_study(store, study(pmid=str(100 + n)), "t")
            store.add_match(study_id, "q", "pubmed", run_id=1, now="t1", excluded=None,
                            labels=[])
            ids.append(store.add_event(NewStudy.of(study_id), "t1")[0])
        return ids


def test_a_renamed_destination_takes_over_its_old_names_history_once(tmp_path):
    store = Store(tmp_path / "w.db")
    sent_before, owed, queued_since = _new_events(store, 3)
    with store.transaction():
        store.queue("weekly", sent_before, "t1")
    send_all(store, "weekly", "t2")
    run_id = store.start_run("serve weekly", "t2")
    store.finish_run(run_id, status="ok", now="t2", summary={"sent": {"weekly": 1}})
    with store.transaction():
        store.queue("weekly", owed, "t3")
        store.route_since("weekly", "q", "t0")
        # Renamed without renamed_from for a while: the new name queued an old event again.
        store.queue("team-weekly", sent_before, "t4")
        store.queue("team-weekly", queued_since, "t4")

    assert store.adopt_renames({"weekly": "team-weekly"}) == {"weekly": 1}
    states = {p.event.id: p.state for p in store.pending("team-weekly")}
    assert states == {owed: "pending", queued_since: "pending"}, "sent once is never owed again"
    assert store.outbox_states("team-weekly") == {"sent": 1, "pending": 2}
    assert store.pending_counts() == {"team-weekly": 2}
    assert store.last_digest("team-weekly") == ("t2", 0), "its schedule reads the old digests"
    assert store.last_run_not_sending("serve team-weekly", "team-weekly") is None
    assert store.route_since("team-weekly", "q", "t9") == ("t0", 0)
    snapshot = store.db["outbox"].rows_where(order_by="id")
    assert store.adopt_renames({"weekly": "team-weekly"}) == {}, "done once"
    assert list(store.db["outbox"].rows_where(order_by="id")) == list(snapshot)


def test_an_older_database_keeps_the_routes_its_outbox_shows(tmp_path):
    path = tmp_path / "w.db"
    store = Store(path)
    [event] = _new_events(store, 1)
    with store.transaction():
        store.queue("team", event, "t1")
    store.conn.execute("DROP TABLE routes")  # as a database written before routes were kept
    store.conn.execute("PRAGMA user_version = 5")
    store.close()
    upgraded = Store(path)
    assert upgraded.version == len(MIGRATIONS)
    assert upgraded.route_since("team", "q", "t9") == ("t1", 0)


#: Two queries, each to its own destination; a study both find is in both destinations.
ALPHA_BETA = """\
destinations:
  d1:
    kind: terminal
  d2:
    kind: terminal
defaults:
  lookback_days: 30
queries:
  - id: alpha
    condition: Alpha
    destinations: [d1]
    sources:
      pubmed:
        terms: alpha[tiab]
  - id: beta
    condition: Beta
    destinations: [d2]
    sources:
      pubmed:
        terms: beta[tiab]
"""


def test_an_older_database_has_no_route_for_a_query_that_only_shared_a_study(env, server):
    """The outbox cannot tell which query sent a study both found: d1 holds the study alpha
    and beta share, but was never on beta's routes (it lacks beta's other studies). After the
    upgrade, d1 added to beta is a new route like any other: it is not handed the older
    studies the overlap finds again."""

    server.add_synthetic(1, first_pmid=90000001, newest=days_ago(1), days=1,
                         title="alpha beta ketamine")
    server.add_synthetic(3, first_pmid=90000010, newest=days_ago(1), days=1,
                         title="beta only ketamine")
    env.write_queries(ALPHA_BETA)
    assert env.cli("run", "--once").exit_code == 0
    store = env.store()
    store.conn.execute("DROP TABLE routes")  # as a database written before routes were kept
    store.conn.execute("PRAGMA user_version = 5")
    store.close()
    upgraded = env.store()
    routes = {(r["destination"], r["query_id"]) for r in upgraded.db["routes"].rows}
    assert {("d1", "alpha"), ("d2", "beta")} <= routes and ("d1", "beta") not in routes
    upgraded.close()

    env.write_queries(ALPHA_BETA.replace("[d2]", "[d2, d1]"))
    later = env.cli("run", "--once")
    assert later.exit_code == 0, later.stderr
    assert "pubmed.ncbi.nlm.nih.gov/" not in later.stdout, "nothing old handed to d1"


def _open(path: str) -> int:
    return Store(path).version


def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path):
    path = str(tmp_path / "fresh.db")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        versions = pool.map(_open, [path] * 8)
    assert versions == [len(MIGRATIONS)] * 8


@pytest.mark.hostile
def test_different_pmids_sharing_a_doi_stay_two_studies(tmp_path):
    store = Store(tmp_path / "w.db")
    with store.transaction():
        a, _ = store_study(store, Study("pubmed", "publication", {"pmid": "1", "doi": "10.1/x"},
                                      "Original"), "t")
        b, new = store_study(store, Study("pubmed", "publication", {"pmid": "2", "doi": "10.1/x"},
                                        "Duplicate citation"), "t")
    assert new and a != b
    assert store.get_study(a).title == "Original"
    assert store.get_study(b).ids["pmid"] == "2"
