"""Running for months unattended, compressed: `watcher serve` as a real process against local
E-utilities, ClinicalTrials.gov and Slack servers, polling every ~2 s and sending a digest every
3 s (``schedule: {every: 3s}``), while ClinicalTrials.gov fails every other search. Digests go
out on schedule, the failure is reported in them, every study reaches Slack exactly once, and
SIGTERM stops the worker within 30 s, leaving a consistent database."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter

import pytest

from tests.fakes.slack import SlackServer
from tests.helpers import PUBMED_FILES, days_ago
from tests.helpers.ctgov import ketamine_trial
from tests.helpers.serve import ServeProcess
from watcher.fakes.ctgov import CtgovServer
from watcher.fakes.eutils import records_from_xml
from watcher.render.slack import unescape

YAML = """\
destinations:
  team:
    kind: slack
    channel: "#ketamine-watch"
    max_items: 15
    schedule: {every: 3s}
defaults:
  destinations: [team]
  lookback_days: 30
queries:
  - id: everything
    condition: Everything in the corpus
    sources:
      pubmed:
        terms: all[sb]
  - id: trials
    condition: Depression trials
    sources:
      clinicaltrials:
        condition: depression
        intervention: ketamine
"""
TRIALS = ["NCT09300001", "NCT09300002", "NCT09300003"]


@pytest.fixture
def ctgov():
    with CtgovServer() as running:
        for nct in TRIALS:
            running.add_study(ketamine_trial(nct), updated=days_ago(1))
        yield running


def _delivered(slack: SlackServer) -> Counter[int]:
    """How many times each outbox item was carried by an accepted Slack message."""
    return Counter(i for m in slack.messages
                   for i in (m.metadata or {}).get("event_payload", {}).get("outbox_ids", []))


def _receipts(slack: SlackServer) -> list[str]:
    return [unescape(element.get("text", "")) for m in slack.top_level()
            for block in m.blocks for element in block.get("elements", [])
            if "Receipt" in element.get("text", "") or "FAILED" in element.get("text", "")]


def test_serve_polls_and_delivers_on_schedule_survives_a_flaky_source_and_stops_cleanly(
        env, corpus_server, ctgov, slack):
    pmids = {pmid for path in PUBMED_FILES for pmid, _ in records_from_xml(path.read_bytes())}
    env.write_queries(YAML)
    ctgov.fail_every_other("/studies", status=403)  # not retried: that poll fails
    worker = ServeProcess(env.vars(
        WATCHER_POLL_EVERY="0.033",  # minutes: about every 2 s
        WATCHER_CTGOV_URL=ctgov.url, SLACK_API_URL=slack.url, SLACK_BOT_TOKEN=slack.token,
        WATCHER_SLACK_INTERVAL="0.05"))
    worker.wait_for(r"scheduled team: every 3s")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and worker.process.poll() is None:
        if (len(_delivered(slack)) >= len(pmids) + len(TRIALS) and len(slack.top_level()) >= 2
                and any("ClinicalTrials.gov" in r and "FAILED" in r for r in _receipts(slack))):
            break
        time.sleep(0.1)
    started = time.monotonic()
    assert worker.stop(timeout=30) == 0, worker.out
    assert time.monotonic() - started < 30
    assert "stopped" in worker.lines[-1], worker.out

    # Polled and delivered on schedule: the poll job ran repeatedly, and more than one digest
    # reached Slack (the first could carry only 15 items; the rest led the next one).
    assert sum("polled 2 query/source pair(s)" in line for line in worker.lines) >= 2, worker.out
    assert len(slack.top_level()) >= 2, worker.out
    assert slack.rejected == []
    # The flaky source failed, and a digest said so, naming it.
    failing = [r for r in _receipts(slack) if "FAILED" in r]
    assert failing and all("ClinicalTrials.gov" in r for r in failing), _receipts(slack)
    assert "403" in failing[0]

    conn = sqlite3.connect(env.db)
    # Every study reached Slack exactly once: nothing twice, nothing lost.
    delivered = _delivered(slack)
    assert [i for i, n in delivered.items() if n > 1] == [], "no item sent twice"
    rows = conn.execute(
        "SELECT o.id, o.state, s.scheme, s.value FROM outbox o JOIN events e ON e.id = o.event_id"
        " JOIN study_ids s ON s.study_id = e.study_id WHERE o.destination = 'team'"
        " AND s.scheme IN ('pmid', 'nct')").fetchall()
    sent_pmids = {value for _, _, scheme, value in rows if scheme == "pmid"}
    sent_ncts = {value for _, _, scheme, value in rows if scheme == "nct"}
    assert sent_pmids == pmids and sent_ncts == set(TRIALS), "every study was queued"
    assert {state for _, state, _, _ in rows} == {"sent"}, "and sent"
    assert {i for i, *_ in rows} <= set(delivered), "by a message Slack accepted"

    # A consistent database after SIGTERM.
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM outbox WHERE state = 'sending'").fetchone()[0] == 0
    statuses = [s for (s,) in conn.execute("SELECT status FROM runs")]
    assert statuses and "running" not in statuses, statuses
    assert env.store().lease() is None, "a clean stop gives the lease up"
    status = env.cli("status", WATCHER_CTGOV_URL=ctgov.url).stdout
    assert "worker: none running" in status
    assert "trials / ClinicalTrials.gov: last success 20" in status and ", window 20" in status
    assert "destination team (slack): 0 pending, last sent 20" in status, status
