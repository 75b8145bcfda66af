"""PubMed at full depth, attacked: corrections, query health and `validate --online` against a
flaky or hostile upstream and a careless operator. Each test is a defect found by probing."""

from __future__ import annotations

import json

from tests.fakes.slack import SlackServer
from tests.helpers import EVERYTHING, FIXTURES, days_ago, renumbered, retracted
from watcher.fakes.eutils import _esearch_error, without_article

STUDY = "99000100"
NOTICE = "99000200"


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


def test_a_failing_revisions_search_says_so_and_keeps_the_window(env, server, monkeypatch):
    """Only the mdat search (records revised in the window) fails: the poll stores nothing and
    keeps its window, so no retraction is lost, and its one-line error names the corrections
    search: it read like the query's own search had failed, with nothing to say why a query
    whose search works (`validate --online`) was never polled."""
    env.write_queries(EVERYTHING)
    server.add_article(renumbered(FIXTURES / "pubmed_metapub/36318760.xml", STUDY),
                       entry_date=days_ago(10))
    answer = server._esearch

    def mdat_broken(params):
        if params.get("datetype") == "mdat":
            return 200, _esearch_error("Search Backend failed: cannot search by mdat")
        return answer(params)

    monkeypatch.setattr(server, "_esearch", mdat_broken)
    result = env.cli("run", "--once")
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "search for corrections" in line and "cannot search by mdat" in line, line
    assert "window kept" in line
    store = env.store()
    assert store.find_study({"pmid": STUDY}) is None, "nothing stored half-way"
    assert store.position("everything", "pubmed").window_end is None


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


def test_the_moving_date_window_is_not_a_change_in_how_pubmed_reads_the_query(env, server):
    """PubMed's QueryTranslation ends with the date window searched ("... AND
    2026/11/22:2026/11/24[Date - Entry]"), and every poll searches a new window: each poll was
    told as "PubMed now reads query everything differently". Only the reading of the terms
    counts; validate shows it without the window."""
    env.write_queries(EVERYTHING)
    server.keyed_rate_limit = 0
    server.add_article(renumbered(FIXTURES / "pubmed_metapub/38011560.xml", "99000001"),
                       entry_date=days_ago(0))
    server.translations = {"(all[sb])": '"all"[Filter]'}
    for _ in range(3):  # the first poll reads 30 days back, the next ones the overlap
        assert env.cli("poll").exit_code == 0
    store = env.store()
    assert store.conn.execute(
        "SELECT COUNT(*) FROM events WHERE kind = 'query_health'").fetchone()[0] == 0
    server.translations = {"(all[sb])": '"all"[Filter] AND "humans"[MeSH Terms]'}
    assert env.cli("poll").exit_code == 0
    (message,) = [row[0] for row in store.conn.execute(
        "SELECT json_extract(details, '$.message') FROM events WHERE kind = 'query_health'")]
    assert 'Before: "all"[Filter] Now: "all"[Filter] AND "humans"[MeSH Terms] Check' in message
    checked = env.cli("validate", "--online")
    assert 'PubMed read it as: "all"[Filter] AND "humans"[MeSH Terms]\n' in checked.stdout


def test_reading_drops_only_the_date_window_pubmed_appends():
    from watcher.parsers.pubmed import reading

    assert reading('"long covid"[All Fields] AND 2022/12/25:2022/12/31[Date - Entry]') == (
        '"long covid"[All Fields]')
    assert reading("(a[tiab]) AND 2026/01/01:2026/01/31[Date - Modification]") == "(a[tiab])"
    assert reading('ketamine[tiab] AND 2020:2024[dp]') == "ketamine[tiab] AND 2020:2024[dp]", \
        "a date limit the team wrote into its terms is part of the reading"
    assert reading("a[tiab] AND 2020/01/01:2024/12/31[Date - Publication] AND "
                   "2026/11/22:2026/11/24[Date - Entry]") == (
        "a[tiab] AND 2020/01/01:2024/12/31[Date - Publication]")


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


def test_revision_counts_that_do_not_add_up_fail_the_poll_quickly(env, server, monkeypatch):
    """A broken upstream claims 20,000 revisions for every slice it is asked about: the
    entry-date slicing of a revision day would have asked about every day since 1700 (some
    240,000 searches). It stops at the first slice whose halves do not add up: one line,
    window kept."""
    env.write_queries(EVERYTHING)
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
