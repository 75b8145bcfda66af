"""What a digest tells about its sources and what it holds back, through the real pipeline
against the local E-utilities, Slack and SMTP servers: PubMed down all week over many runs is
one outage told truthfully (how many queries, since when, its last success) with where the
next successful poll catches up, in a digest that looks like a failure; a partial failure
names how many queries failed; a quiet scheduled Slack digest is a short heartbeat by default;
a first digest past max_items links, per condition, a PubMed search that shows what it held
back."""

from __future__ import annotations

import json
import re
import urllib.request
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiosmtpd.controller import Controller

from tests.helpers import FIXTURES, QUERIES_YAML, days_ago
from tests.helpers.ctgov import ketamine_trial
from tests.helpers.email import Inbox, parts_of, smtp_vars
from tests.helpers.slack import TEAM, delivered_pmids, slack_vars, texts
from watcher import pipeline
from watcher.fakes.ctgov import CtgovServer
from watcher.render.slack import unescape
from watcher.serve import jobs

#: Nothing listens on port 9 (discard): PubMed cannot be reached.
DOWN = "http://127.0.0.1:9/entrez/eutils/"

BOTH = QUERIES_YAML.replace("defaults:\n", """\
destinations:
  team:
    kind: slack
    channel: "#ketamine-watch"
  mail:
    kind: email
    to: [team@example.org]
    subject: Ketamine watch
defaults:
  destinations: [team, mail]
""")


@pytest.fixture
def smtp(unused_port):
    """An aiosmtpd inbox on a free port (stopped after the test)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=unused_port)
    controller.start()
    yield inbox
    controller.stop()


def day(when: datetime | date) -> str:
    return f"{when.day} {when:%b}"


def visible(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- a source down all week -----------------------------------------------------------------

def test_pubmed_down_all_week_is_one_outage_since_when_and_the_next_poll_catches_up(
        env, corpus_server, slack, smtp, unused_port):
    env.write_queries(BOTH)
    cfg = env.config()
    up = env.settings(**slack_vars(slack), **smtp_vars(unused_port))
    down = env.settings(**slack_vars(slack), **smtp_vars(unused_port), WATCHER_EUTILS_URL=DOWN)
    now = datetime.now(UTC).replace(microsecond=0)
    week_ago = now - timedelta(days=7)
    with closing(env.store()) as store:
        assert pipeline.run_once(cfg, store, up, now=week_ago).ok
    sent = set(delivered_pmids(slack))
    for n in range(6, 0, -1):  # the poll job, every day of the week: PubMed is down
        with closing(env.store()) as store:
            assert pipeline.poll_run(cfg, store, down, now=now - timedelta(days=n)).failures
    with closing(env.store()) as store:  # the scheduled digest: still down
        report = pipeline.run_once(cfg, store, down, now=now, scheduled=True)
    assert [d.sent for d in report.deliveries] == [True, True]

    outage = (f"PubMed could not be polled for any of 3 queries since {day(now - timedelta(6))}"
              f" (last success {day(week_ago)} {week_ago:%H:%M} UTC)")
    lost = (f"Nothing is lost: the next successful poll catches up from "
            f"{week_ago.day} {week_ago:%b %Y}.")
    top = slack.top_level()[-1]
    shown = [unescape(t) for t in texts(top)]
    assert shown[0].startswith(":warning: watcher: " + outage), shown[0]
    assert shown[1].startswith(":warning: Literature watch"), "a failure digest looks it"
    assert lost in shown[2]
    assert outage in shown[3], "the headline"
    receipt = " ".join(shown[4:])
    assert "PubMed" in receipt and "0 of 3 queries polled" in receipt and "3 FAILED" in receipt
    # the receipt's times and dates may hold "21" (21:51 UTC, 21 Nov): look for a count
    assert not re.search(r"\b21 (?:of|FAILED|failed|polls)", " ".join(shown)), \
        "21 failed polls over seven runs are three queries down, not a count of polls"
    assert "polls FAILED" not in " ".join(shown)

    mail = smtp.messages()[-1]
    assert mail["Subject"].startswith("Ketamine watch: " + outage)
    plain, html = parts_of(mail)
    page = visible(html)
    body = visible(html.split("<body", 1)[1].split("</div>", 1)[1])  # after the preheader
    assert body.startswith("⚠ A source could not be polled: this digest is incomplete "
                           + lost), "the email's banner comes first"
    assert lost in page and outage in page
    assert plain.startswith("!! A SOURCE COULD NOT BE POLLED")
    assert "Nothing is lost" in plain

    # PubMed is back: the next poll starts from the saved position (minus the overlap), and
    # everything entered during the outage reaches the team.
    corpus_server.requests.clear()
    with closing(env.store()) as store:
        assert pipeline.run_once(cfg, store, up).ok
    starts = {call["mindate"] for call in corpus_server.calls("esearch")
              if call.get("datetype") == "edat"}
    assert starts == {(week_ago.date() - timedelta(days=2)).strftime("%Y/%m/%d")}
    entered = {pmid for pmid, record in corpus_server.records.items()
               if week_ago.date() < record.entry_date <= days_ago(0)}
    assert entered and entered <= set(delivered_pmids(slack)) - sent
    back = slack.top_level()[-1]
    assert not back.text.startswith(":warning:") and "Nothing is lost" not in back.text


def test_a_failure_caught_up_by_a_later_poll_is_no_alert_in_the_email(
        env, corpus_server, smtp, unused_port):
    """PubMed down on Monday, back on Tuesday: nothing is missing, so the email shows no red
    alert ('PubMed: 0 of 3 queries could not be polled'); its receipt says it was caught up."""
    env.write_queries(BOTH)
    cfg = env.config()
    up = env.settings(**smtp_vars(unused_port))
    down = env.settings(**smtp_vars(unused_port), WATCHER_EUTILS_URL=DOWN)
    now = datetime.now(UTC).replace(microsecond=0)
    with closing(env.store()) as store:
        assert pipeline.run_once(cfg, store, up, now=now - timedelta(days=7)).ok
    with closing(env.store()) as store:
        assert pipeline.poll_run(cfg, store, down, now=now - timedelta(days=2)).failures
    with closing(env.store()) as store:
        assert pipeline.run_once(cfg, store, up, now=now).ok
    plain, html = parts_of(smtp.messages()[-1])
    for part in (plain, visible(html)):
        assert "could not be polled" not in part and "A SOURCE" not in part.upper()[:200]
        assert "caught up by a later one" in part
    assert 'class="alert"' not in html


def test_a_failure_caught_up_with_nothing_new_posts_nothing_to_slack(
        env, corpus_server, slack):
    """PubMed down at one run, back by the next with nothing new: the failure was told while
    it lasted; once a later poll caught it up nothing was lost, so a hand-run Slack digest
    (quiet unless something is wrong) posts nothing rather than 'Nothing new'."""
    env.write_queries(QUERIES_YAML.replace("defaults:\n", TEAM))
    cfg = env.config()
    up = env.settings(**slack_vars(slack))
    down = env.settings(**slack_vars(slack), WATCHER_EUTILS_URL=DOWN)
    # mid-morning, so the three hours below stay within one entry date whatever the clock
    then = (datetime.now(UTC) - timedelta(days=7)).replace(hour=9, minute=0, second=0,
                                                           microsecond=0)
    with closing(env.store()) as store:
        assert pipeline.run_once(cfg, store, up, now=then).ok
    posted = len(slack.top_level())
    with closing(env.store()) as store:
        assert not pipeline.run_once(cfg, store, down, now=then + timedelta(hours=1)).ok
    assert len(slack.top_level()) == posted + 1, "still down at digest time: told"
    assert "could not be polled" in unescape(texts(slack.top_level()[-1])[0])
    with closing(env.store()) as store:
        assert pipeline.poll_run(cfg, store, down, now=then + timedelta(hours=2)).failures
    with closing(env.store()) as store:
        assert pipeline.run_once(cfg, store, up, now=then + timedelta(hours=3)).ok
    assert len(slack.top_level()) == posted + 1, "caught up, nothing new: nothing posted"


def test_one_query_failing_for_two_runs_is_a_partial_failure_with_its_count(
        env, corpus_server, slack):
    env.write_queries(QUERIES_YAML.replace("defaults:\n", TEAM))
    cfg = env.config()
    settings = env.settings(**slack_vars(slack))
    now = datetime.now(UTC).replace(microsecond=0)
    with closing(env.store()) as store:
        assert pipeline.run_once(cfg, store, settings, now=now - timedelta(days=3)).ok
    for n in (2, 0):  # the first search of each run is refused: one query fails each time
        corpus_server.fail_next(400, body="<ERROR>bad request</ERROR>", endpoint="esearch")
        with closing(env.store()) as store:
            report = pipeline.run_once(cfg, store, settings, now=now - timedelta(days=n))
        assert len(report.poll.failures) == 1
    top = slack.top_level()[-1]
    shown = [unescape(t) for t in texts(top)]
    assert (f"PubMed: 1 of 3 queries could not be polled since {day(now - timedelta(2))} (last "
            f"success {day(now - timedelta(3))}") in shown[0]
    assert shown[1].startswith(":warning: ")
    assert "Nothing is lost: the next successful poll catches up from" in shown[2]
    assert "2 of 3 queries polled" in " ".join(shown[4:])


# --- a quiet week ---------------------------------------------------------------------------

def test_a_quiet_scheduled_slack_digest_is_a_short_heartbeat_by_default(
        env, corpus_server, slack):
    env.write_queries(QUERIES_YAML.replace("defaults:\n", TEAM.replace(
        "    kind: slack\n", "    kind: slack\n    schedule: {cron: '0 9 * * mon',"
        " timezone: UTC}\n")))
    settings = env.settings(**slack_vars(slack))
    assert env.cli("run", "--once", **slack_vars(slack)).exit_code == 0
    first = slack.top_level()[-1]
    posted = len(slack.messages)
    assert env.cli("run", "--once", **slack_vars(slack)).exit_code == 0
    assert len(slack.messages) == posted, "a quiet hand-run digest stays quiet"

    outcome = jobs.digest(env.config(), settings, "team")  # what serve's schedule runs
    assert outcome.error is None
    assert len(slack.messages) == posted + 1, "one short message, no thread"
    beat = slack.messages[-1]
    since = datetime.fromtimestamp(float(first.ts), UTC)
    assert unescape(beat.blocks[0]["text"]["text"]) == (
        f":white_check_mark: PubMed polled 3 queries, nothing new since "
        f"{since.day} {since:%b %Y}.")
    assert "Receipt: PubMed" in unescape(beat.blocks[1]["elements"][0]["text"])
    assert len(beat.blocks) == 2 and beat.text.startswith("watcher: PubMed polled 3 queries")

    env.write_queries(QUERIES_YAML.replace("defaults:\n", TEAM.replace(
        "    kind: slack\n", "    kind: slack\n    send_empty: false\n")))
    jobs.digest(env.config(), settings, "team")
    assert len(slack.messages) == posted + 1, "send_empty: false turns the heartbeat off"


# --- held back by max_items -----------------------------------------------------------------

HELD_YAML = TEAM.replace("    channel:", "    max_items: 50\n    channel:").replace(
    "  destinations: [team]\n", "  destinations: [team, mail]\n").replace(
    "defaults:\n", "  mail:\n    kind: email\n    to: [team@example.org]\n    max_items: 50\n"
    "defaults:\n") + """\
  lookback_days: 30
queries:
  - id: depression
    condition: Depression
    sources:
      pubmed:
        terms: depression[tiab]
  - id: ptsd
    condition: PTSD
    sources:
      pubmed:
        terms: traumatic[tiab]
"""


def esearch(server, term: str) -> set[str]:
    """The PMIDs the local E-utilities lists for *term*: what the link's PubMed page shows."""
    url = server.url + "esearch.fcgi?" + urlencode({"db": "pubmed", "term": term,
                                                    "retmax": "10000"})
    with urllib.request.urlopen(url, timeout=10) as answer:
        return set(re.findall(r"<Id>(\d+)</Id>", answer.read().decode()))


def test_a_140_item_first_digest_links_each_condition_s_held_back_studies_on_pubmed(
        env, server, slack, smtp, unused_port):
    depression = server.add_synthetic(70, first_pmid=39_800_001, newest=days_ago(1), days=20,
                                      title="Ketamine for treatment-resistant depression")
    ptsd = server.add_synthetic(70, first_pmid=39_800_101, newest=days_ago(1), days=20,
                                title="Ketamine after traumatic events")
    env.write_queries(HELD_YAML)
    result = env.cli("run", "--once", **slack_vars(slack), **smtp_vars(unused_port))
    assert result.exit_code == 0, result.stderr
    listed = set(delivered_pmids(slack))
    assert len(listed) == 50 and slack.rejected == []
    held = {"Depression": set(depression) - listed, "PTSD": set(ptsd) - listed}
    # max_items keeps the strongest 50 across conditions (all of one class here: the newest)
    counts = {condition: len(pmids) for condition, pmids in held.items()}
    assert sum(counts.values()) == 90 and min(counts.values()) > 0

    top = slack.top_level()[0]
    overflow = next(t for t in map(unescape, texts(top)) if "more not listed here" in t)
    assert (f"90 more not listed here (Depression: {counts['Depression']}; "
            f"PTSD: {counts['PTSD']})") in overflow
    assert "`watcher status` counts them" not in overflow
    links = {label: url for m in slack.messages for t in texts(m)
             for url, label in re.findall(r"<(https://pubmed[^|>]+)\|([^>]+)>", t)}
    window = f'("{days_ago(30):%Y/%m/%d}"[edat] : "{days_ago(0):%Y/%m/%d}"[edat])'
    for condition, query_id in (("Depression", "depression"), ("PTSD", "ptsd")):
        terms = env.config().query(query_id).terms_for("pubmed")  # what the polls send
        label = f"{condition}: {len(held[condition])} on PubMed"
        query = parse_qs(urlsplit(unescape(links[label])).query)
        term = query["term"][0]
        assert terms == f"({'depression' if query_id == 'depression' else 'traumatic'}[tiab])"
        assert term == f"{terms} AND {window}", term
        assert held[condition] <= esearch(server, term), "the link shows what was held back"

    plain, html = parts_of(smtp.messages()[0])
    for condition in held:
        label = f"{condition}: {len(held[condition])} on PubMed"
        assert re.search(r'<a [^>]*href="https://pubmed\.ncbi\.nlm\.nih\.gov/\?term=[^"]+"'
                         rf"[^>]*>{label}</a>", html), label
        assert re.search(rf"{label}: https://pubmed\.ncbi\.nlm\.nih\.gov/\?term=\S+", plain)


TRIALS_YAML = """\
destinations:
  term:
    kind: terminal
    max_items: 1
defaults:
  destinations: [term]
  lookback_days: 30
queries:
  - id: trials
    condition: Depression
    sources:
      clinicaltrials:
        condition: depression
        intervention: ketamine
"""


def test_held_back_trials_link_the_clinicaltrials_gov_search_that_lists_them(env, server):
    with CtgovServer() as ctgov:
        ncts = [f"NCT0900010{n}" for n in range(4)]
        for n, nct in enumerate(ncts, start=1):
            ctgov.add_study(ketamine_trial(nct), updated=days_ago(n))
        env.write_queries(TRIALS_YAML)
        result = env.cli("run", "--once", WATCHER_CTGOV_URL=ctgov.url)
        assert result.exit_code == 0, result.stderr
        held = {nct for nct in ncts if nct not in result.stdout}
        assert len(held) == 3
        assert "3 more not listed here (Depression: 3)" in " ".join(result.stdout.split())
        [url] = re.findall(r"Depression: 3 on ClinicalTrials\.gov: (\S+)", result.stdout)
        assert url.startswith("https://clinicaltrials.gov/search?")
        params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        start, end = params["lastUpdPost"].split("_")
        assert params == {"cond": "depression", "intr": "ketamine",
                          "lastUpdPost": f"{days_ago(30)}_{days_ago(0)}"}
        # The same search asked of the registry's API lists every trial held back.
        api = ctgov.url + "studies?" + urlencode({
            "query.cond": params["cond"], "query.intr": params["intr"],
            "filter.advanced": f"AREA[LastUpdatePostDate]RANGE[{start},{end}]"})
        with urllib.request.urlopen(api, timeout=10) as answer:
            listed = {s["protocolSection"]["identificationModule"]["nctId"]
                      for s in json.load(answer)["studies"]}
        assert held <= listed


def test_held_back_studies_no_search_page_lists_are_never_promised_a_link():
    """ISRCTN has no search by date: a digest that held back only ISRCTN trials must not
    send the reader to 'a search link per condition, at the end of this digest' that is not
    there; it says which held-back studies have none."""
    from watcher.digest import Digest, DigestItem, Section
    from watcher.events import NewStudy
    from watcher.parsers import isrctn
    from watcher.render import email, slack, text
    answer = (FIXTURES / "isrctn_real" / "search_mecfs_3of11.xml").read_text(encoding="utf-8")
    trials = [r.study for r in isrctn.parse_records(isrctn.parse_search(answer).trials,
                                                    as_of=date(2026, 12, 5))]
    items = [DigestItem(NewStudy.of(n), study, ["ME/CFS"], [], n)
             for n, study in enumerate(trials, start=1)]
    digest = Digest("team", "2026-12-05T08:00:00+00:00", "2026-11-28T08:00:00+00:00",
                    [Section("ME/CFS", items[:1])], [], overflow={"ME/CFS": 2},
                    held={"ME/CFS": items[1:]},
                    searches={"ME/CFS": {"isrctn": [{"term": "chronic fatigue"}]}})
    shown = {"slack": unescape(" ".join(slack.readable(m) for m in
                                        slack.render(digest, threaded=True))),
             "email": email.render(digest).text, "terminal": text.render(digest)}
    for channel, page in shown.items():
        page = " ".join(page.split())
        assert "2 more not listed here (ME/CFS: 2)" in page, channel
        assert "search link per condition" not in page, channel
        assert "They stay pending and lead the next digest" in page, channel
        assert "ME/CFS: 2 on ISRCTN: no search link" in page, channel


@pytest.mark.parametrize("extra", [2_300, 6_000])
def test_a_long_query_s_held_back_search_stays_reachable_from_slack(extra):
    """A condition's PubMed terms can run to a few thousand characters (shipped depression's
    is 1,900 as a link). A link that fits a section is posted as a link; one that cannot is
    never replaced by 'see the email digest' (a Slack-only team has none): it becomes a
    search of the held studies' own PMIDs, which is short."""
    from watcher.digest import Digest, DigestItem, Section
    from watcher.events import NewStudy
    from watcher.models import Study
    from watcher.render import slack
    from watcher.render.held import held_links
    term = "ketamine[tiab] AND (" + " OR ".join(["depressi*[tiab]"] * (extra // 18)) + ")"
    items = [DigestItem(NewStudy.of(n), Study("pubmed", "publication", {"pmid": str(n)}, f"T{n}",
                                              entry_date="2026-12-01"), ["Depression"], [], n)
             for n in (1, 2)]
    digest = Digest("team", "2026-12-05T08:00:00+00:00", "2026-11-28T08:00:00+00:00",
                    [Section("Depression", items[:1])], [], overflow={"Depression": 1},
                    held={"Depression": items[1:]},
                    searches={"Depression": {"pubmed": [{"term": term}]}})
    [held] = held_links(digest)
    last = slack.render(digest, threaded=True)[-1]
    shown = " ".join(texts(type("P", (), last.payload())))
    assert "see the email digest" not in shown
    if len(held.url) < 2_900:
        assert "<https://pubmed.ncbi.nlm.nih.gov/?term=" in shown and \
            shown.count("[edat]") == 2, "the whole link"
    else:
        assert "<https://pubmed.ncbi.nlm.nih.gov/?term=2[pmid]&amp;sort=date|Depression: 1 on " \
            "PubMed (these studies)>" in shown


def test_a_held_back_correction_of_an_old_paper_does_not_stretch_the_search_to_its_year():
    """A retraction of a 1990 paper is news this week, but its PubMed entry date is 1990: the
    held-back search must not widen to 36 years of papers (it lists the week's)."""
    from watcher.digest import Digest, DigestItem, Section
    from watcher.events import Correction, NewStudy
    from watcher.models import Study
    from watcher.render.held import held_links
    old = Study("pubmed", "publication", {"pmid": "2100000"}, "Old", entry_date="1990-04-01")
    new = Study("pubmed", "publication", {"pmid": "2"}, "New", entry_date="2026-12-01")
    items = [DigestItem(Correction.of(1, "Retraction", "99999999"), old, ["Depression"], [], 1),
             DigestItem(NewStudy.of(2), new, ["Depression"], [], 2)]
    digest = Digest("team", "2026-12-05T08:00:00+00:00", "2026-11-28T08:00:00+00:00",
                    [Section("Depression", [])], [], overflow={"Depression": 2},
                    held={"Depression": items},
                    searches={"Depression": {"pubmed": [{"term": "ketamine"}]}})
    [held] = held_links(digest)
    term = parse_qs(urlsplit(held.url).query)["term"][0]
    assert term.endswith('("2026/11/28"[edat] : "2026/12/05"[edat])'), term
