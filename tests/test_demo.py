"""`watcher demo`: on a fresh clone, offline, it shows what the team will see: a realistic week
(dated relative to today) written as the email's HTML and Slack's Block Kit messages, files a
person opens, their paths printed. One demo run (a real process) is shared by these tests."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import ROOT, run_watcher
from watcher import config
from watcher.db import Store
from watcher.demo import write_renderings
from watcher.demo_corpus import MONTHS

BLOCK_TYPES = {"header", "section", "context", "divider", "actions", "rich_text", "image"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo as a user runs it: a fresh working directory, no network (every real source
    URL points at a closed port), the shipped queries."""
    cwd = tmp_path_factory.mktemp("clone")
    dead = "http://127.0.0.1:9/"
    result = run_watcher("demo", cwd=cwd, env={
        "WATCHER_QUERIES": str(ROOT / "queries"), "WATCHER_EUTILS_URL": dead,
        "WATCHER_CTGOV_URL": dead, "WATCHER_ISRCTN_URL": dead, "SLACK_BOT_TOKEN": "xoxb-real"})
    assert result.returncode == 0, result.stderr
    return cwd, result


def test_the_demo_writes_both_renderings_and_prints_where(demo):
    cwd, result = demo
    folder = cwd / "watcher-demo"
    for name in ("digest-email.html", "digest-slack.json", "digest-slack.txt"):
        path = folder / name
        assert str(path.resolve()) in result.stdout, f"{name}: path not printed"
        assert path.stat().st_size > 1000
    assert "weekly-email (email)" in result.stdout and "team-slack (slack)" in result.stdout


def test_the_email_holds_a_realistic_week(demo):
    cwd, _ = demo
    html = (cwd / "watcher-demo" / "digest-email.html").read_text(encoding="utf-8")
    title = re.search(r"<title>([^<]*)</title>", html).group(1)
    assert int(re.search(r"(\d+) new studies", title).group(1)) >= 33
    shown = {m for m in re.findall(r"pubmed\.ncbi\.nlm\.nih\.gov/(\d+)/", html)}
    trials = set(re.findall(r"clinicaltrials\.gov/study/(NCT\d{8})", html))
    assert len(shown - {"92000091", "92000093"}) + len(trials) >= 38  # 35 new, 2 corrected...
    assert "RETRACTED" in html
    assert "Recruiting → Active, not recruiting" in html  # status and enrolment changed
    assert "Not yet recruiting → Withdrawn" in html  # stopped
    assert "results posted" in html
    assert "NCT99000003" in html.split("pubmed.ncbi.nlm.nih.gov/92000023/", 1)[1][:3000], \
        "the paper reporting a demo trial names it"
    lowered = html.lower()
    for design in ("rct", "meta-analysis", "systematic review", "review", "case report",
                   "animal", "editorial", "letter", "erratum", "trial"):
        assert re.search(rf">[^<a-z0-9]*{design}[^<a-z0-9]*<", lowered), \
            f"no item labelled {design}"
    # a retraction is not a tag but a red-bordered entry that says so
    assert '<div class="item item-retracted"' in html and "⚠ RETRACTED: this paper" in html
    # The trial in both registries is one study, told once (in ClinicalTrials.gov's words).
    assert "ketamine-enhanced prolonged exposure therapy for ptsd" in lowered
    assert "prolonged exposure therapy for post-traumatic stress disorder" not in lowered
    conditions = [q.condition for q in config.load(ROOT / "queries").queries]
    assert sum(condition in html for condition in conditions) >= 8


def test_nothing_in_the_email_is_old_news(demo):
    """Every date shown (journal dates, trial dates, the receipt's windows) is within 60 days
    of today or later: no 2023 review or 2010 trial presented as new."""
    cwd, _ = demo
    html = (cwd / "watcher-demo" / "digest-email.html").read_text(encoding="utf-8")
    months = "|".join(MONTHS)
    found = [date(int(y), int(m), int(d))
             for y, m, d in re.findall(r"\b(20\d\d)-(\d\d)-(\d\d)\b", html)]
    found += [date(int(y), MONTHS.index(m) + 1, int(d))
              for y, m, d in re.findall(rf"\b(20\d\d) ({months}) (\d{{1,2}})\b", html)]
    found += [date(int(y), MONTHS.index(m) + 1, int(d))
              for d, m, y in re.findall(rf"\b(\d{{1,2}}) ({months}) (20\d\d)\b", html)]
    assert len(found) >= 35
    oldest = datetime.now(UTC).date() - timedelta(days=60)
    assert min(found) >= oldest, sorted(found)[:3]
    years = {int(y) for y in re.findall(r"(?<![\d.])((?:19|20)\d\d)(?![\d])", html)}
    assert min(years) >= oldest.year, sorted(years)


def test_the_slack_json_is_the_block_kit_messages_slack_accepts(demo):
    cwd, _ = demo
    messages = json.loads((cwd / "watcher-demo" / "digest-slack.json").read_text("utf-8"))
    assert len(messages) >= 2 and not messages[0]["thread_reply"]
    assert all(m["thread_reply"] for m in messages[1:]), "the studies go in the thread"
    for message in messages:
        assert isinstance(message["text"], str) and message["text"]
        assert 0 < len(message["blocks"]) <= 50
        total = 0
        for block in message["blocks"]:
            assert block["type"] in BLOCK_TYPES
            texts = [block["text"]] if "text" in block else list(block.get("elements", []))
            for text in texts:
                assert text["type"] in ("mrkdwn", "plain_text")
                limit = 150 if block["type"] == "header" else 3000
                assert len(text["text"]) <= limit
                total += len(text["text"])
        assert total <= 13000, "Slack answers msg_blocks_too_long past about 13,000"
    thread = json.dumps([m["blocks"] for m in messages[1:]], ensure_ascii=False)
    conditions = [q.condition for q in config.load(ROOT / "queries").queries]
    assert sum(condition in thread for condition in conditions) >= 8
    readable = (cwd / "watcher-demo" / "digest-slack.txt").read_text("utf-8")
    assert "RETRACTED" in readable and readable.count("--- thread reply") == len(messages) - 1


def test_an_empty_slack_digest_is_not_written_as_if_it_were_sent(tmp_path):
    """Nothing pending: Slack (heartbeat off) would send nothing, so no Slack file claims
    otherwise; the email, sent even when empty, is written."""
    cfg = config.load(ROOT / "queries")
    store = Store(str(tmp_path / "empty.db"))
    try:
        written = {w.destination: w for w in write_renderings(cfg, store, tmp_path / "out",
                                                              datetime.now(UTC))}
    finally:
        store.close()
    slack, email = written["team-slack"], written["weekly-email"]
    if not cfg.all_destinations()["team-slack"].sends_empty:
        assert slack.files == [] and "not sent" in slack.note
        assert not list((tmp_path / "out").glob("digest-slack*"))
    assert [p.name for p in email.files] == ["digest-email.html"]
    assert Path(email.files[0]).read_text("utf-8").count("<html") == 1


def test_the_demo_never_replaces_a_database_it_did_not_make(env, tmp_path):
    """`--db` naming an existing file (the team's real database, by a slip) is refused, the
    file untouched: the demo starts from an empty database of its own."""
    real = tmp_path / "watcher.db"
    real.write_bytes(b"the team's history")
    result = env.cli("demo", "--db", str(real), "--out", str(tmp_path / "out"),
                     WATCHER_QUERIES=str(ROOT / "queries"))
    assert result.exit_code == 2 and "exists" in result.stderr
    assert real.read_bytes() == b"the team's history"
    assert not (tmp_path / "out").exists()


def test_the_demo_run_outside_the_clone_says_how_to_point_it_at_the_queries(tmp_path):
    """From another folder there is no queries/ beside it: the error names the option the
    demo itself offers (--queries), not only the environment variable."""
    result = run_watcher("demo", "--out", str(tmp_path / "out"), cwd=tmp_path, env={})
    assert result.returncode == 2
    assert "queries folder not found" in result.stderr and "--queries" in result.stderr
    result = run_watcher("demo", "--queries", str(ROOT / "queries"), "--out",
                         str(tmp_path / "out"), cwd=tmp_path, env={
                             "WATCHER_EUTILS_URL": "http://127.0.0.1:9/"})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "digest-email.html").is_file()


def test_the_week_s_preprints_are_in_the_email_and_the_anaesthesia_noise_is_not(demo):
    """Europe PMC preprints of the week reach the digest, named by their server; the
    anaesthesia preprint whose only "depression" is respiratory does not."""
    cwd, result = demo
    html = (cwd / "watcher-demo" / "digest-email.html").read_text(encoding="utf-8")
    for ppr in ("PPR9900001", "PPR9900002", "PPR9900003"):
        assert f"europepmc.org/article/PPR/{ppr}" in html, ppr
    assert "Research Square" in html and "medRxiv" in html
    assert "PPR9900004" not in html and "procedural sedation in children" not in html
    assert "Europe PMC" in result.stderr


def test_last_week_s_preprint_published_this_week_is_one_now_published_item(demo):
    """The demo shows issue 19's "now published": a preprint told last week whose paper
    appears this week is one item saying so (journal, the preprint's title), not a new study."""
    cwd, result = demo
    text = (cwd / "watcher-demo" / "digest-slack.txt").read_text(encoding="utf-8")
    assert "1 now published" in result.stdout
    assert text.count("pubmed.ncbi.nlm.nih.gov/92000095/)  `now published`") == 1
    assert "now published in J Affect Disord" in text and "was a medRxiv preprint" in text
    assert "title was “Ketamine versus electroconvulsive therapy" in text
    assert "europepmc.org/article/PPR/PPR9900005" in text
