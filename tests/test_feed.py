"""`watcher feed DIR`: the Atom feeds of what each destination was told, read back by feedparser
(what feed readers use): valid, every delivered item once with its stored title, link and a
stable id, nothing never delivered, one feed per condition holding exactly its items, hostile
titles shown as text."""

from __future__ import annotations

from pathlib import Path

import feedparser
import pytest

from tests.helpers import (
    EVERYTHING,
    FIXTURES,
    HOSTILE_TITLE,
    SHOWN_TITLE,
    days_ago,
    renumbered,
    retracted,
    unprintable,
)
from tests.helpers.ctgov import ketamine_trial
from watcher.fakes.ctgov import CtgovServer
from watcher.feeds import file_stem

#: Everything to x (a terminal: delivered); depression also to y, a Slack channel without a
#: token: y's items stay pending, never delivered.
X_DELIVERED_Y_NOT = """\
destinations:
  x:
    kind: terminal
  y:
    kind: slack
    channel: "#depression"
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
TAG = "tag:watcher,2026:event:"


def write_feeds(env, folder: Path) -> dict[str, feedparser.FeedParserDict]:
    """Run `watcher feed` and parse every file it wrote, by path relative to *folder*."""
    result = env.cli("feed", str(folder))
    assert result.exit_code == 0, result.stderr
    parsed = {}
    for path in sorted(folder.rglob("*.atom")):
        feed = feedparser.parse(path.read_bytes())
        assert not feed.bozo, (path, feed.get("bozo_exception"))
        assert feed.version == "atom10"
        parsed[path.relative_to(folder).as_posix()] = feed
    assert len(parsed) == len(result.stdout.splitlines())
    return parsed


def sent(store, destination: str) -> dict[str, int]:
    """event key -> study id of what *destination* accepted (read straight from the outbox)."""
    return dict(store.conn.execute(
        "SELECT e.key, e.study_id FROM outbox o JOIN events e ON e.id = o.event_id"
        " WHERE o.destination = ? AND o.state = 'sent' AND e.study_id IS NOT NULL",
        (destination,)))


def found_by(store, query_id: str) -> set[int]:
    return {row[0] for row in store.conn.execute(
        "SELECT study_id FROM matches WHERE query_id = ? AND excluded IS NULL", (query_id,))}


@pytest.fixture
def delivered(env, corpus_server, tmp_path):
    env.write_queries(X_DELIVERED_Y_NOT)
    run = env.cli("run", "--once")
    assert run.exit_code == 0, run.stderr
    return write_feeds(env, tmp_path / "feeds")


def test_a_destination_feed_lists_every_delivered_item_once_as_stored_newest_first(
        env, delivered):
    store = env.store()
    told = sent(store, "x")
    assert len(told) == 19
    entries = delivered["x.atom"].entries
    assert sorted(e.id for e in entries) == sorted(TAG + key for key in told)
    for entry in entries:
        study = store.get_study(told[entry.id.removeprefix(TAG)])
        shown = " ".join(study.title.split())
        assert entry.title == shown or entry.title == f"RETRACTED: {shown}", entry.title
        assert entry.link == f"https://pubmed.ncbi.nlm.nih.gov/{study.ids['pmid']}/"
        assert entry.summary, "the citation and facts a reader scans"
        assert any(author in entry.summary for author in study.authors[:1]) or not \
            study.authors
        assert "Everything in the corpus" in [tag.term for tag in entry.tags]
    updated = [e.updated_parsed for e in entries]
    assert updated == sorted(updated, reverse=True)


def test_an_item_never_delivered_is_in_no_feed(env, delivered):
    """y (Slack, no token) was sent nothing: its feed is valid and empty, whatever it owes."""
    assert env.store().pending_counts()["y"] > 0
    assert delivered["y.atom"].entries == []
    assert delivered["y.atom"].feed.title == "watcher: y"


def test_each_condition_has_its_feed_with_exactly_its_items(env, delivered):
    store = env.store()
    told = sent(store, "x")
    depression = delivered[f"conditions/{file_stem('Depression')}.atom"].entries
    expected = {TAG + key for key, study in told.items() if study in found_by(store, "depression")}
    assert expected and {e.id for e in depression} == expected
    assert len(depression) == len(expected), "each item once"
    for entry in depression:
        assert "Depression" in [tag.term for tag in entry.tags]
    everything = delivered[f"conditions/{file_stem('Everything in the corpus')}.atom"]
    assert len(everything.entries) == 19


def test_feed_ids_and_bytes_are_stable_across_writes(env, delivered, tmp_path):
    first = {e.id: e.title for e in delivered["x.atom"].entries}
    again = write_feeds(env, tmp_path / "again")
    assert {e.id: e.title for e in again["x.atom"].entries} == first
    assert (tmp_path / "feeds/x.atom").read_bytes() == (tmp_path / "again/x.atom").read_bytes()


def test_a_retraction_is_an_entry_of_its_own_titled_retracted(env, server, tmp_path):
    """The study's entry stays as it was told; its retraction is a new entry (a new id, so
    readers show it) that says RETRACTED in its title, links the study and quotes no
    conclusion."""
    env.write_queries(EVERYTHING)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, "99000100"), entry_date=days_ago(10))
    assert env.cli("run", "--once").exit_code == 0
    before = write_feeds(env, tmp_path / "feeds")["terminal.atom"].entries
    server.add_article(retracted(renumbered(source, "99000100"), "99000200"),
                       entry_date=days_ago(10), modified=days_ago(0))
    assert env.cli("run", "--once").exit_code == 0
    after = write_feeds(env, tmp_path / "feeds")["terminal.atom"].entries
    assert len(after) == 2 and after[1].id == before[0].id
    retraction = after[0]
    assert retraction.id != before[0].id and retraction.id.startswith(TAG + "correction:")
    assert retraction.title == "RETRACTED: " + " ".join(env.store().get_study(
        1).title.split())
    assert retraction.link == "https://pubmed.ncbi.nlm.nih.gov/99000100/"
    assert "do not rely on its findings" in retraction.summary
    assert "pubmed.ncbi.nlm.nih.gov/99000200/" in retraction.summary, "the notice"


TRIALS = """\
queries:
  - id: trials
    condition: Depression trials
    sources:
      clinicaltrials:
        condition: depression
        intervention: ketamine
"""


def test_a_trial_change_is_one_entry_as_the_digest_told_it(env, tmp_path):
    """Two status changes polled before one digest are one entry, as the digest told them
    (the whole way, from the status the team last saw), titled as a change; the study's own
    entry keeps its id and shows the trial's facts as they are now."""
    with CtgovServer() as ctgov:
        url = {"WATCHER_CTGOV_URL": ctgov.url}
        ctgov.add_study(ketamine_trial("NCT09000001", status="RECRUITING"),
                        updated=days_ago(3))
        env.write_queries(TRIALS)
        assert env.cli("run", "--once", **url).exit_code == 0
        for status in ("ACTIVE_NOT_RECRUITING", "COMPLETED"):
            def move(data, status=status):
                data["protocolSection"]["statusModule"]["overallStatus"] = status

            ctgov.update("NCT09000001", move, updated=days_ago(0))
            assert env.cli("poll", **url).exit_code == 0
        told = env.cli("digest", **url)
        assert told.exit_code == 0, told.stderr
    entries = write_feeds(env, tmp_path / "feeds")["terminal.atom"].entries
    assert [e.title for e in entries] == ["Trial changed: Ketamine trial NCT09000001",
                                          "Ketamine trial NCT09000001"]
    assert entries[0].id.startswith(TAG + "change:clinicaltrials:")
    assert "status Recruiting → Active, not recruiting → Completed" in entries[0].summary
    assert entries[0].link == entries[1].link == "https://clinicaltrials.gov/study/NCT09000001"
    # Each entry shows the study as kept now (as a digest renders it): no stale facts.
    assert entries[1].summary.splitlines()[2].startswith("Completed · 250 participants")


HOSTILE_TRIALS = """\
queries:
  - id: trials
    condition: "Depression <b>trials</b> & more"
    sources:
      clinicaltrials:
        condition: depression
        intervention: ketamine
"""


@pytest.mark.hostile
def test_a_hostile_title_is_text_in_the_feed(env, tmp_path):
    """A registry title holding markup, an ampersand, terminal escapes and controls (which XML
    cannot even hold) and a condition named with markup: the feed stays valid, shows the
    words as text, runs no script."""
    env.write_queries(HOSTILE_TRIALS)
    title = f"<script>alert(1)</script> A & B {HOSTILE_TITLE}\x00\ufffe"
    with CtgovServer() as ctgov:
        trial = ketamine_trial("NCT09000077")
        trial["protocolSection"]["identificationModule"]["briefTitle"] = title
        ctgov.add_study(trial, updated=days_ago(2))
        run = env.cli("run", "--once", WATCHER_CTGOV_URL=ctgov.url)
    assert run.exit_code == 0, run.stderr
    feeds = write_feeds(env, tmp_path / "feeds")
    raw = (tmp_path / "feeds/terminal.atom").read_text(encoding="utf-8")
    assert "<script>" not in raw and "&lt;script&gt;" in raw
    entry = feeds["terminal.atom"].entries[0]
    assert entry.title == f"<script>alert(1)</script> A & B {SHOWN_TITLE}"
    assert unprintable(entry.title + entry.summary) == []
    assert entry.link == "https://clinicaltrials.gov/study/NCT09000077"
    condition = "Depression <b>trials</b> & more"
    assert [tag.term for tag in entry.tags] == [condition]
    stem = file_stem(condition)
    assert "/" not in stem and "<" not in stem and " " not in stem
    assert feeds[f"conditions/{stem}.atom"].feed.title == f"watcher: {condition}"


def test_an_empty_database_gives_valid_empty_feeds_and_a_missing_one_writes_nothing(
        env, tmp_path):
    env.write_queries(X_DELIVERED_Y_NOT)
    missing = env.cli("feed", str(tmp_path / "feeds"), "--db", str(tmp_path / "typo.db"))
    assert missing.exit_code == 2 and "typo.db: no database there" in missing.stderr
    assert not (tmp_path / "feeds").exists() and not (tmp_path / "typo.db").exists()
    assert env.store().pending_counts() == {}  # created and migrated: nothing in it yet
    feeds = write_feeds(env, tmp_path / "feeds")
    assert set(feeds) == {"x.atom", "y.atom", f"conditions/{file_stem('Depression')}.atom",
                          f"conditions/{file_stem('Everything in the corpus')}.atom"}
    assert all(feed.entries == [] for feed in feeds.values())


@pytest.mark.parametrize("name", ["Depression", "depression", "a/../../etc", "CON", "抑郁症",
                                  ".hidden", "x" * 300, "Dépression", "PTSD (war) & ptsd"])
def test_feed_file_names_are_safe_and_distinct_for_any_name(name):
    stem = file_stem(name)
    assert stem == file_stem(name), "the same name, the same file every time"
    assert stem.isascii() and not stem.startswith(".") and len(stem) <= 80
    assert all(ch.isalnum() or ch in "-_" for ch in stem)
    assert stem.lower() == stem and stem not in {"con", "nul"}
    names = ["Depression", "depression", "a/../../etc", "CON", "抑郁症", ".hidden", "x" * 300,
             "Dépression", "PTSD (war) & ptsd", "ptsd-war-ptsd"]
    assert len({file_stem(n) for n in names}) == len(names)


@pytest.mark.hostile
def test_a_folder_that_cannot_be_written_is_one_clear_line_not_a_traceback(env, tmp_path):
    env.write_queries(X_DELIVERED_Y_NOT)
    env.store().close()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    result = env.cli("feed", str(blocker / "feeds"))
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: cannot write the feeds to {blocker / 'feeds'}: ")
    assert len(result.stderr.splitlines()) == 1
