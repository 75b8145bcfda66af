"""Corrections of what was already sent: a retraction (or erratum, expression of concern) of a
delivered study is told once, with its notice; the notice itself is not a new study."""

from __future__ import annotations

import email
import json
import xml.etree.ElementTree as ET
from email import policy

import pytest
from aiosmtpd.controller import Controller

from tests.fakes.slack import SlackServer
from tests.helpers import EVERYTHING, FIXTURES, days_ago, renumbered, retracted
from tests.helpers.pubmed import studies_of, without_article
from watcher.digest import DigestItem
from watcher.render.common import item_labels

STUDY = "99000100"
NOTICE = "99000200"


def test_the_parser_exposes_errata_and_the_study_a_notice_corrects():
    study = studies_of((FIXTURES / "pubmed_metapub/35649368.xml").read_bytes())[0]
    assert study.details["corrections"][0] | {"source": ""} == {
        "type": "ErratumIn", "pmid": "35767954", "source": ""}
    notice = studies_of((FIXTURES / "pubmed_metapub/38962805.xml").read_bytes())[0]
    assert [(c["type"], c["pmid"]) for c in notice.details["corrections"]] == [
        ("ErratumFor", "38446048")]


def test_a_delivered_study_retracted_upstream_is_told_once_with_its_notice(env, server):
    env.write_queries(EVERYTHING)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, STUDY), entry_date=days_ago(10))
    first = env.cli("run", "--once")
    assert first.exit_code == 0, first.stderr
    assert f"pubmed.ncbi.nlm.nih.gov/{STUDY}/" in first.stdout

    server.add_article(retracted(renumbered(source, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    second = env.cli("run", "--once")
    assert second.exit_code == 0, second.stderr
    assert second.stdout.count(f"pubmed.ncbi.nlm.nih.gov/{STUDY}/") == 1
    assert "RETRACTED" in second.stdout, second.stdout
    assert f"pubmed.ncbi.nlm.nih.gov/{NOTICE}/" in second.stdout, "the notice is linked"
    refetched = [c["id"] for c in server.calls("efetch")]
    assert refetched[-1] == STUDY, "only the revised, delivered record was fetched again"

    third = env.cli("run", "--once")
    assert third.exit_code == 0, third.stderr
    assert "RETRACTED" not in third.stdout and f"/{STUDY}/" not in third.stdout
    store = env.store()
    events = store.events_of(store.find_study({"pmid": STUDY}))
    assert [e.kind for e in events] == ["new", "correction"]
    assert events[1].details["notice"] == NOTICE and events[1].details["label"] == "RETRACTED"
    # Slack and email tag items with item_labels: the correction leads with RETRACTED.
    study = store.get_study(events[1].study_id)
    labels = item_labels(DigestItem(events[1], study, ["Everything"], [], 0))
    assert labels[0] == "RETRACTED"


def test_a_notice_for_a_delivered_study_is_a_correction_not_a_new_study(env, server):
    env.write_queries(EVERYTHING)
    server.add_files([FIXTURES / "pubmed_metapub/35649368.xml"], entry_date=days_ago(5))
    assert env.cli("run", "--once").exit_code == 0
    notice = renumbered(FIXTURES / "pubmed_metapub/38962805.xml", NOTICE)
    notice.find(".//CommentsCorrections/PMID").text = "35649368"
    server.add_article(notice, entry_date=days_ago(0))
    second = env.cli("run", "--once")
    assert second.exit_code == 0, second.stderr
    assert "erratum" in second.stdout
    assert "Correction." not in second.stdout, "the notice is not alerted as a study"
    assert second.stdout.count("pubmed.ncbi.nlm.nih.gov/35649368/") == 1
    assert "erratum" not in env.cli("run", "--once").stdout


# --- through the real destinations: a local Slack and a local SMTP server ---------------------

TEAM_AND_MAIL = """\
destinations:
  team:
    kind: slack
    channel: "#ketamine-watch"
  mail:
    kind: email
    to: [ana@example.org]
defaults:
  lookback_days: 30
  destinations: [team, mail]
queries:
  - id: everything
    condition: Everything in the corpus
    sources:
      pubmed:
        terms: all[sb]
"""


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def delivered(env, server, unused_port):
    """Slack and email destinations on local servers; yields (slack, inbox, run)."""
    inbox = _Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=unused_port)
    smtp.start()
    with SlackServer(interval=0.05) as slack:
        extra = {"SLACK_API_URL": slack.url, "SLACK_BOT_TOKEN": slack.token,
                 "WATCHER_SLACK_INTERVAL": "0.05", "SMTP_HOST": "127.0.0.1",
                 "SMTP_PORT": str(unused_port), "SMTP_TLS": "none",
                 "WATCHER_EMAIL_FROM": "watcher@lab.example.org"}
        yield slack, inbox, lambda: env.cli("run", "--once", **extra)
    smtp.stop()


def _slack_texts(messages) -> list[str]:
    return [" ".join([m.text] + [b.get("text", {}).get("text", "") for b in m.blocks])
            for m in messages]


def _email_parts(message) -> tuple[str, str]:
    return (message.get_body(preferencelist=("plain",)).get_content(),
            message.get_body(preferencelist=("html",)).get_content())


def test_a_retraction_is_one_correction_item_in_slack_and_in_email_then_nothing(
        env, server, delivered):
    slack, inbox, run = delivered
    env.write_queries(TEAM_AND_MAIL)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, STUDY), entry_date=days_ago(10))
    assert run().exit_code == 0
    study_url = f"pubmed.ncbi.nlm.nih.gov/{STUDY}/"
    notice_url = f"https://pubmed.ncbi.nlm.nih.gov/{NOTICE}/"
    assert any(study_url in t for t in _slack_texts(slack.messages)) and len(inbox.messages) == 1
    before = len(slack.messages)

    server.add_article(retracted(renumbered(source, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    second = run()
    assert second.exit_code == 0, second.stderr
    posted = _slack_texts(slack.messages[before:])
    items = [t for t in posted if study_url in t]
    assert len(items) == 1, posted
    # a warning mark and bold, not the grey tag an RCT gets
    assert " :warning: *RETRACTED* <" in items[0] and "`RETRACTED`" not in items[0]
    assert f"<{notice_url}|notice PMID {NOTICE}>" in items[0]
    assert "RETRACTED" not in items[0].split("*RETRACTED*", 1)[1].split("\n")[0], "once"
    assert any("1 correction" in t and "new stud" not in t for t in posted), posted
    assert len(inbox.messages) == 2
    plain, html = _email_parts(inbox.messages[1])
    assert inbox.messages[1]["Subject"].count("1 correction") == 1
    assert plain.count(study_url) == 1
    assert plain.count("!! RETRACTED: this paper has been retracted") == 1
    assert f"correction: RETRACTED · notice PMID {NOTICE} {notice_url}" in " ".join(plain.split())
    assert html.count(study_url) == 1 and f'href="{notice_url}"' in html
    assert "item-retracted" in html and "⚠ RETRACTED: this paper has been retracted" in html

    after = len(slack.messages)
    third = run()
    assert third.exit_code == 0, third.stderr
    later = _slack_texts(slack.messages[after:]) + [
        _email_parts(m)[0] for m in inbox.messages[2:]]
    assert not any(study_url in t or "RETRACTED" in t for t in later), later


def test_a_study_still_owed_to_a_destination_carries_the_label_instead(env, server, tmp_path):
    """Sent to Slack, still pending for email: Slack gets a correction item, the email the
    study itself, labelled RETRACTED (never the study twice in one digest)."""
    env.write_queries(TEAM_AND_MAIL)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, STUDY), entry_date=days_ago(10))
    assert env.cli("poll").exit_code == 0
    store = env.store()
    with store.transaction():  # Slack's digest went out; email's has not yet
        store.conn.execute("UPDATE outbox SET state = 'sent' WHERE destination = 'team'")
    server.add_article(retracted(renumbered(source, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    assert env.cli("poll").exit_code == 0
    study_id = store.find_study({"pmid": STUDY})
    correction = [e for e in store.events_of(study_id) if e.kind == "correction"]
    assert len(correction) == 1
    queued = [row[0] for row in store.conn.execute(
        "SELECT destination FROM outbox WHERE event_id = (SELECT id FROM events WHERE key = ?)",
        (correction[0].key,))]
    assert queued == ["team"], "email is owed the study itself, which now says RETRACTED"
    preview = tmp_path / "mail.html"
    assert env.cli("digest", "mail", "--preview", str(preview)).exit_code == 0
    html = preview.read_text()
    assert html.count(f"pubmed.ncbi.nlm.nih.gov/{STUDY}/") == 1
    assert "⚠ RETRACTED: this paper" in html
    assert "1 new study" in html


def test_an_erratum_and_a_retraction_are_two_events_each_told_once(env, server):
    env.write_queries(EVERYTHING + """\
  - id: again
    condition: The same corpus again
    sources:
      pubmed:
        terms: all[sb]
""")
    server.add_files([FIXTURES / "pubmed_metapub/35649368.xml"], entry_date=days_ago(5))
    assert env.cli("run", "--once").exit_code == 0
    for pmid, kind in (("99000201", "ErratumFor"), ("99000202", "RetractionOf")):
        notice = renumbered(FIXTURES / "pubmed_metapub/38962805.xml", pmid)
        link = notice.find(".//CommentsCorrections")
        link.set("RefType", kind)
        link.find("PMID").text = "35649368"
        if kind == "RetractionOf":
            types = notice.find("MedlineCitation/Article/PublicationTypeList")
            for node in list(types):
                types.remove(node)
            ET.SubElement(types, "PublicationType").text = "Retraction of Publication"
        server.add_article(notice, entry_date=days_ago(0))
    second = env.cli("run", "--once")  # both queries see both notices
    assert second.exit_code == 0, second.stderr
    assert second.stdout.count("pubmed.ncbi.nlm.nih.gov/35649368/") == 2
    assert "2 corrections" in second.stdout.splitlines()[0]
    store = env.store()
    kinds = sorted(e.key.split(":")[2] for e in store.events_of(
        store.find_study({"pmid": "35649368"})) if e.kind == "correction")
    assert kinds == ["erratum", "retraction"]
    assert "/35649368/" not in env.cli("run", "--once").stdout


def test_a_study_the_filters_excluded_is_never_corrected(env, server):
    env.write_queries(EVERYTHING.replace("terms: all[sb]", """terms: all[sb]
    filters:
      exclude_publication_types: [Journal Article]"""))
    server.add_files([FIXTURES / "pubmed_metapub/35649368.xml"], entry_date=days_ago(5))
    assert env.cli("run", "--once").exit_code == 0
    notice = renumbered(FIXTURES / "pubmed_metapub/38962805.xml", NOTICE)
    notice.find(".//CommentsCorrections/PMID").text = "35649368"
    server.add_article(notice, entry_date=days_ago(0))
    second = env.cli("run", "--once")
    assert second.exit_code == 0, second.stderr
    store = env.store()
    study_id = store.find_study({"pmid": "35649368"})
    assert study_id is not None and store.events_of(study_id) == [], "never told, never corrected"
    assert "/35649368/" not in second.stdout


def test_a_retraction_seen_first_as_a_type_then_as_a_link_is_one_event(env, server):
    env.write_queries(EVERYTHING)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, STUDY), entry_date=days_ago(10))
    assert env.cli("run", "--once").exit_code == 0
    typed = renumbered(source, STUDY)  # PubMed marks it retracted before linking the notice
    ET.SubElement(typed.find("MedlineCitation/Article/PublicationTypeList"), "PublicationType",
                  {"UI": "D016441"}).text = "Retracted Publication"
    server.add_article(typed, entry_date=days_ago(10), modified=days_ago(1))
    second = env.cli("run", "--once")
    assert "RETRACTED" in second.stdout and NOTICE not in second.stdout
    server.add_article(retracted(renumbered(source, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    third = env.cli("run", "--once")
    assert third.exit_code == 0 and f"/{STUDY}/" not in third.stdout, "told once already"
    store = env.store()
    assert [e.kind for e in store.events_of(store.find_study({"pmid": STUDY}))] == [
        "new", "correction"]


# --- a database written by the skeleton (schema 1): no source record was kept ---------------

def _sent_by_the_skeleton(env, article: ET.Element, *, details_kept: bool = False) -> None:
    """A schema-1 database, as the walking skeleton left it: the study's row (what its parser
    kept: title, publication types ... no details, no raw record), matched by 'everything' and
    sent to the terminal, the query's position yesterday. *details_kept* gives the row the
    details a newer watcher keeps, without a source record (still a study to compare with)."""

    import sqlite_utils

    from watcher.db import MIGRATIONS
    from watcher.sources import terms_hash

    terms = env.config().query("everything").terms_for("pubmed")
    wrapper = ET.Element("PubmedArticleSet")
    wrapper.append(article)
    study = studies_of(ET.tostring(wrapper))[0]
    env.db.parent.mkdir(parents=True)
    db = sqlite_utils.Database(env.db)
    MIGRATIONS[0](db)
    db.conn.execute("PRAGMA user_version = 1")
    db["studies"].insert({
        "id": 1, "kind": study.kind, "source": "pubmed", "title": study.title,
        "abstract": study.abstract, "authors": json.dumps(study.authors),
        "journal": study.journal, "published": study.published, "year": study.year,
        "entry_date": study.entry_date,
        "publication_types": json.dumps(study.publication_types),
        "mesh_terms": json.dumps(study.mesh_terms), "linked_ids": json.dumps({}),
        "url": study.url, "first_seen": "t", "updated": "t"})
    for scheme, value in study.ids.items():
        db["study_ids"].insert({"scheme": scheme, "value": value, "study_id": 1})
    db["matches"].insert({"study_id": 1, "query_id": "everything", "source": "pubmed",
                          "first_matched": "t", "run_id": 1, "labels": "[]"})
    db["positions"].insert({"query_id": "everything", "source": "pubmed",
                            "terms_hash": terms_hash(terms),
                            "window_end": days_ago(1).isoformat(), "last_success": "t"})
    db["outbox"].insert({"destination": "terminal", "study_id": 1, "queued_at": "t",
                         "sent_at": "t2", "digest_id": 1})
    db.conn.commit()
    db.close()
    if details_kept:
        db = sqlite_utils.Database(env.db)
        assert "details" not in db["studies"].columns_dict
        db.close()
        store = env.store()  # upgraded: the details column exists now
        with store.transaction():
            store.db["studies"].update(1, {"details": json.dumps(study.details)})


def test_a_study_sent_before_the_upgrade_is_told_retracted_once(env, server):
    """The skeleton kept no source record: the revised record is compared with the stored
    study, whose publication types lacked "Retracted Publication"."""
    env.write_queries(EVERYTHING)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    _sent_by_the_skeleton(env, renumbered(source, STUDY))
    server.add_article(retracted(renumbered(source, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    run = env.cli("run", "--once")
    assert run.exit_code == 0, run.stderr
    assert "1 correction" in run.stdout.splitlines()[0], run.stdout
    assert run.stdout.count("correction: RETRACTED") == 1, run.stdout
    assert run.stdout.count(f"pubmed.ncbi.nlm.nih.gov/{STUDY}/") == 1, "not re-sent as new"
    assert f"pubmed.ncbi.nlm.nih.gov/{NOTICE}/" in run.stdout, "the notice is linked"
    assert "RETRACTED" not in env.cli("run", "--once").stdout
    store = env.store()
    assert [e.kind for e in store.events_of(1)] == ["new", "correction"]


@pytest.mark.parametrize("details_kept", [False, True])
def test_a_study_sent_before_the_upgrade_revised_for_nothing_is_not_corrected(
        env, server, details_kept):
    """What the old row did not keep is no news: an erratum link it never stored (the record
    had it all along), a changed title, a new MeSH term are no correction. With its details
    kept, the same link is what it already knew."""
    env.write_queries(EVERYTHING)
    source = FIXTURES / "pubmed_metapub/35649368.xml"  # carries an ErratumIn link
    _sent_by_the_skeleton(env, renumbered(source, STUDY), details_kept=details_kept)
    revised = renumbered(source, STUDY)
    revised.find("MedlineCitation/Article/ArticleTitle").text = "A reworded title"
    server.add_article(revised, entry_date=days_ago(10), modified=days_ago(0))
    run = env.cli("run", "--once")
    assert run.exit_code == 0, run.stderr
    assert f"/{STUDY}/" not in run.stdout, run.stdout
    assert [e.kind for e in env.store().events_of(1)] == ["new"]


def test_a_study_sent_before_the_upgrade_linked_to_its_retraction_only_is_told(env, server):
    """PubMed links the retraction notice (RetractionIn) before it adds the Retracted
    Publication type. The skeleton kept no links, but it kept the publication types, and they
    say the study was not retracted when it was sent: the link is news, not 'never kept'."""
    env.write_queries(EVERYTHING)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    _sent_by_the_skeleton(env, renumbered(source, STUDY))
    linked = retracted(renumbered(source, STUDY), NOTICE)
    types = linked.find("MedlineCitation/Article/PublicationTypeList")
    types.remove(types.find("PublicationType[@UI='D016441']"))
    server.add_article(linked, entry_date=days_ago(10), modified=days_ago(0))
    run = env.cli("run", "--once")
    assert run.exit_code == 0, run.stderr
    assert run.stdout.count("correction: RETRACTED") == 1, run.stdout
    assert f"pubmed.ncbi.nlm.nih.gov/{NOTICE}/" in run.stdout, "the notice is linked"
    assert [e.kind for e in env.store().events_of(1)] == ["new", "correction"]


def test_a_study_set_aside_by_a_retired_destination_is_never_corrected_elsewhere(env, server):
    """A study owed only to a destination retired on purpose was never told to anyone: an
    erratum for it must not reach the destination that replaced it (an alert about a study the
    team never saw)."""
    env.write_queries(EVERYTHING)
    server.add_files([FIXTURES / "pubmed_metapub/35649368.xml"], entry_date=days_ago(5))
    assert env.cli("poll").exit_code == 0  # owed to the terminal, never sent
    replaced = EVERYTHING.replace("queries:", "destinations:\n  daily:\n    kind: terminal\n"
                                  "retired: [terminal]\nqueries:").replace(
        "    sources:", "    destinations: [daily]\n    sources:", 1)
    env.write_queries(replaced)
    notice = renumbered(FIXTURES / "pubmed_metapub/38962805.xml", NOTICE)
    notice.find(".//CommentsCorrections/PMID").text = "35649368"
    server.add_article(notice, entry_date=days_ago(0))
    run = env.cli("run", "--once")
    assert run.exit_code == 0, run.stderr
    assert "35649368" not in run.stdout and "erratum" not in run.stdout, run.stdout
    assert env.store().retired_counts() == {"terminal": 1}


@pytest.mark.hostile
def test_a_mass_revision_day_neither_stalls_the_query_nor_hides_a_retraction(env, server):
    """NCBI revises tens of thousands of records on one day (its yearly MeSH reload): the mdat
    search of that day lists more than esearch can. The poll failed for ever ("records were
    entered ... narrow the query's terms", window kept, the same day in it at every run); now
    the day is listed in entry-date slices and the retraction among them is told."""
    env.write_queries(EVERYTHING)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, STUDY), entry_date=days_ago(10))
    assert env.cli("run", "--once").exit_code == 0
    for pmid in server.add_synthetic(10_050, first_pmid=1_000_000, newest=days_ago(400),
                                     days=20_000):
        server.records[pmid].modified = days_ago(0)  # all revised today
    server.add_article(retracted(renumbered(source, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    second = env.cli("run", "--once")
    assert second.exit_code == 0, second.output
    assert "RETRACTED" in second.stdout and f"/{NOTICE}/" in second.stdout
    assert "narrow the query" not in second.output
    assert [c["id"] for c in server.calls("efetch")][-1] == STUDY, "only the kept record"
    store = env.store()
    assert store.position("everything", "pubmed").window_end == days_ago(0).isoformat()


@pytest.mark.hostile
def test_a_failing_revisions_search_says_so_and_keeps_the_window(env, server):
    """Only the mdat search (records revised in the window) fails: the poll stores nothing and
    keeps its window, so no retraction is lost, and its one-line error names the corrections
    search: it read like the query's own search had failed, with nothing to say why a query
    whose search works (`validate --online`) was never polled."""
    env.write_queries(EVERYTHING)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, STUDY), entry_date=days_ago(10))
    assert env.cli("run", "--once").exit_code == 0  # its first poll: no corrections search
    before = env.store().position("everything", "pubmed")
    server.add_article(retracted(renumbered(source, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    server.refused_datetypes["mdat"] = "Search Backend failed: cannot search by mdat"
    result = env.cli("run", "--once")
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "search for corrections" in line and "cannot search by mdat" in line, line
    assert "window kept" in line
    store = env.store()
    study = store.find_study({"pmid": STUDY})
    assert [e.kind for e in store.events_of(study)] == ["new"], "nothing stored half-way"
    after = store.position("everything", "pubmed")
    assert (after.corrections_end, after.corrections_at) == (before.corrections_end,
                                                             before.corrections_at)
    assert after.last_error and "cannot search by mdat" in after.last_error


@pytest.mark.hostile
def test_a_filter_that_now_excludes_the_study_does_not_withhold_its_retraction(env, server):
    """The team was sent the study; it is then retracted. A filter meant for new studies
    ("never alert a retracted paper", or non_human: exclude once MEDLINE indexing says it was
    in rats) now excludes the study's current record, and the digest re-judged the correction
    item with it: withheld, so the team was never told that a study it has was retracted."""
    env.write_queries(EVERYTHING.replace("terms: all[sb]", """terms: all[sb]
    filters:
      exclude_publication_types: [Retracted Publication]"""))
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, STUDY), entry_date=days_ago(10))
    first = env.cli("run", "--once")
    assert first.exit_code == 0 and f"/{STUDY}/" in first.stdout
    server.add_article(retracted(renumbered(source, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    second = env.cli("run", "--once")
    assert second.exit_code == 0, second.output
    assert "RETRACTED" in second.stdout and f"/{NOTICE}/" in second.stdout, second.stdout
    assert second.stdout.count(f"/{STUDY}/") == 1
    store = env.store()
    states = [row[0] for row in store.conn.execute(
        "SELECT o.state FROM outbox o JOIN events e ON e.id = o.event_id"
        " WHERE e.kind = 'correction'")]
    assert states == ["sent"]


@pytest.mark.hostile
def test_a_retraction_found_while_the_study_is_mid_send_is_not_shown_twice(env, server):
    """The study's item was 'sending' (a digest in flight, or left so by a dead process) when
    the retraction arrived: it counts as told, so a correction was queued; then the item was
    offered again, and the next digest carried the study twice (the study labelled RETRACTED,
    and the correction). The study's own labelled item now carries the correction."""
    env.write_queries(EVERYTHING)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, STUDY), entry_date=days_ago(10))
    assert env.cli("poll").exit_code == 0
    store = env.store()
    with store.transaction():  # a process died while the digest carrying it was being sent
        store.conn.execute("UPDATE outbox SET state = 'sending'")
    server.add_article(retracted(renumbered(source, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    result = env.cli("run", "--once")
    assert result.exit_code == 0, result.output
    assert result.stdout.count(f"/{STUDY}/") == 1, result.stdout
    assert "RETRACTED" in result.stdout
    later = env.cli("run", "--once")
    assert f"/{STUDY}/" not in later.stdout and "RETRACTED" not in later.stdout, later.stdout


@pytest.mark.hostile
def test_a_notice_that_names_only_itself_is_an_ordinary_record(env, server):
    """A malformed notice whose ErratumFor names its own PMID corrects nothing we hold; it was
    dropped as "a correction of a kept study" (itself, once stored): neither alerted nor a
    correction. A notice for a study we never had stays an ordinary record."""
    env.write_queries(EVERYTHING)
    notice = renumbered(FIXTURES / "pubmed_metapub/38962805.xml", NOTICE)
    notice.find(".//CommentsCorrections/PMID").text = NOTICE
    server.add_article(notice, entry_date=days_ago(1))
    result = env.cli("run", "--once")
    assert result.exit_code == 0, result.output
    assert f"pubmed.ncbi.nlm.nih.gov/{NOTICE}/" in result.stdout, result.stdout


@pytest.mark.hostile
def test_a_retraction_reaches_the_team_after_its_destination_was_replaced(env, server):
    """The study was printed to the terminal (no destination yet); the team then moved the
    query to Slack. The retraction was queued to 'terminal' only, a destination that no
    longer exists: never shown, not even counted by `status`. The query's current
    destinations are told instead when every destination that had the study is gone."""
    env.write_queries(EVERYTHING)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, STUDY), entry_date=days_ago(10))
    assert env.cli("run", "--once").exit_code == 0
    env.write_queries(EVERYTHING.replace("lookback_days: 30", "lookback_days: 30\n"
                                         "  destinations: [team]") + """\
destinations:
  team:
    kind: slack
    channel: "#watch"
""")
    server.add_article(retracted(renumbered(source, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    assert env.cli("poll").exit_code == 0
    store = env.store()
    queued = [tuple(row) for row in store.conn.execute(
        "SELECT o.destination, o.state FROM outbox o JOIN events e ON e.id = o.event_id"
        " WHERE e.kind = 'correction'")]
    assert queued == [("team", "pending")]
    status = env.cli("status")
    assert "team (slack): 1 pending" in status.stdout, status.stdout


@pytest.mark.hostile
def test_a_retraction_after_an_unreadable_revision_is_still_told(env, server):
    """PubMed revised the delivered record into one that could not be read (set aside, told
    as a notice), then revised it again, readable and retracted. The unreadable version had
    left no parsed 'previous' to compare with, so the retraction in the record itself was
    never told."""
    env.write_queries(EVERYTHING)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, STUDY), entry_date=days_ago(10))
    assert env.cli("run", "--once").exit_code == 0
    server.add_article(without_article(renumbered(source, STUDY)), entry_date=days_ago(10),
                       modified=days_ago(1))
    broken = env.cli("run", "--once")
    assert broken.exit_code == 0 and "could not be parsed" in broken.stdout, broken.output
    server.add_article(retracted(renumbered(source, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    fixed = env.cli("run", "--once")
    assert fixed.exit_code == 0, fixed.output
    assert "RETRACTED" in fixed.stdout and f"/{NOTICE}/" in fixed.stdout, fixed.stdout
    assert "RETRACTED" not in env.cli("run", "--once").stdout


@pytest.mark.hostile
def test_an_erratum_for_a_study_still_owed_waits_for_the_next_digest(env, server):
    """The study is still owed (never sent) and already carries one erratum; a second erratum
    notice names it. The module promises one digest never carries a study twice, yet the
    digest showed the study as new and again as the correction. The correction now waits for
    the digest after the one that delivers the study."""
    env.write_queries(EVERYTHING)
    server.add_files([FIXTURES / "pubmed_metapub/35649368.xml"], entry_date=days_ago(5))
    assert env.cli("poll").exit_code == 0
    notice = renumbered(FIXTURES / "pubmed_metapub/38962805.xml", NOTICE)
    notice.find(".//CommentsCorrections/PMID").text = "35649368"
    server.add_article(notice, entry_date=days_ago(0))
    first = env.cli("run", "--once")
    assert first.exit_code == 0, first.output
    assert first.stdout.count("/35649368/") == 1, first.stdout
    assert "1 new study" in first.stdout
    second = env.cli("run", "--once")
    assert second.stdout.count("/35649368/") == 1 and f"/{NOTICE}/" in second.stdout
    assert "1 correction" in second.stdout
    assert "/35649368/" not in env.cli("run", "--once").stdout


@pytest.mark.hostile
def test_revision_counts_that_do_not_add_up_fail_the_poll_quickly(env, server, monkeypatch):
    """A broken upstream claims 20,000 revisions for every slice it is asked about: the
    entry-date slicing of a revision day would have asked about every day since 1700 (some
    240,000 searches). It stops at the first slice whose halves do not add up: one line,
    window kept."""
    env.write_queries(EVERYTHING)
    assert env.cli("run", "--once").exit_code == 0  # a first poll: no corrections to search
    answer = server._esearch

    def inflated(params):
        if params.get("datetype") == "mdat":
            return 200, answer(params)[1].replace("<Count>0</Count>", "<Count>20000</Count>")
        return answer(params)

    monkeypatch.setattr(server, "_esearch", inflated)
    result = env.cli("run", "--once")
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "do not add up" in line and "window kept" in line, line
    assert len(server.calls("esearch")) < 20, "stops at the first slice, not after every day"
