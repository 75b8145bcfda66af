"""A run's cost must not grow with the history it keeps: every statement a poll and a digest
send to SQLite finds its rows through an index. Each statement of real runs (the pipeline
against the local E-utilities, ClinicalTrials.gov and Slack servers: a first run, a run with
one new study, one new trial and a changed trial, a failed delivery and its retry) is captured
as SQLite executed it and asked for its plan; a full scan of a table that grows with history
fails the test, naming the statement."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.helpers import FIXTURES, QUERIES_YAML, days_ago, renumbered
from tests.helpers.ctgov import ketamine_trial
from tests.helpers.email import Inbox, smtp_vars
from tests.helpers.slack import slack_vars
from watcher import pipeline
from watcher.db import Store
from watcher.fakes.crossref import CrossrefServer
from watcher.fakes.ctgov import CtgovServer

#: Tables that grow with every study, record, event and alert ever kept.
GROWING = {"outbox", "events", "studies", "study_ids", "source_records", "record_versions",
           "matches", "messages", "digests", "polls", "study_joins", "quarantine",
           "lookup_items", "runs"}

BOTH = """\
destinations:
  team:
    kind: slack
    channel: "#ketamine-watch"
  mail:
    kind: email
    to: [team@example.org]
defaults:
  destinations: [team, mail]
"""

TRIALS = """\
  - id: trials
    condition: Depression
    sources:
      clinicaltrials:
        condition: depression
        intervention: ketamine
"""


@contextmanager
def traced(store: Store) -> Iterator[list[str]]:
    """Every statement the store's connection executes, with its parameters bound."""
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        store.conn.set_trace_callback(None)


def aliases(sql: str) -> set[str]:
    """The aliases the statement gives growing tables ("FROM outbox o": o)."""
    return {alias for table, alias in re.findall(r"(?=\b(\w+) (?:AS )?(\w+)\b)", sql)
            if table in GROWING and alias.upper() not in KEYWORDS}


KEYWORDS = {"WHERE", "JOIN", "ON", "SET", "LEFT", "INNER", "GROUP", "ORDER", "LIMIT", "VALUES",
            "AND", "OR", "AS", "USING", "UNION", "WHEN", "THEN", "ELSE", "END", "NOT", "IN",
            "EXISTS", "SELECT", "FROM", "DEFAULT", "RETURNING", "INDEXED", "CROSS",
            "NATURAL", "OUTER", "HAVING", "WINDOW", "IS", "NULL", "BY"}


def explained(conn: sqlite3.Connection, sql: str) -> list[tuple]:
    """The statement's plan; a function the run's connection defines (a Python filter) is
    stood in for here, so the statement can be planned."""
    while True:
        try:
            return conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
        except sqlite3.OperationalError as exc:
            missing = re.match(r"no such function: (\w+)", str(exc))
            if not missing:
                raise
            conn.create_function(missing.group(1), -1, lambda *_: 1)


def full_scans(db: Path, statements: list[str]) -> dict[str, list[str]]:
    """Each distinct statement whose plan scans a growing table, with the scans."""
    found: dict[str, list[str]] = {}
    with closing(sqlite3.connect(db)) as conn:
        for sql in dict.fromkeys(statements):
            if not re.match(r"\s*(SELECT|UPDATE|DELETE|INSERT|WITH|REPLACE)\b", sql, re.I):
                continue
            try:
                plan = explained(conn, sql)
            except sqlite3.OperationalError as exc:
                # Temporary tables (a run's scratch lists, the write probe) live on the
                # run's connection only; every growing table is here.
                gone = re.match(r"no such table: (?:temp\.)?(\w+)", str(exc))
                assert gone and gone.group(1) not in GROWING, (sql, exc)
                continue
            # "SCAN t USING INDEX i" reads the whole index: as costly at a million rows
            # and an AUTOMATIC index is built by reading the whole table, for each statement
            scans = [detail for *_, detail in plan
                     if (m := re.match(r"(?:SCAN|SEARCH) (\w+)", detail))
                     and m.group(1) in GROWING | aliases(sql)
                     and (detail.startswith("SCAN") or "AUTOMATIC" in detail)]
            if scans:
                found[sql] = scans
    return found


@pytest.fixture
def runs(env, corpus_server, slack, unused_port):
    """The statements of three runs to Slack and email, with the look-ups after each poll:
    first, one new study and trial and a changed trial with a failed Slack post, its retry."""
    env.write_queries(QUERIES_YAML.replace("defaults:\n", BOTH) + TRIALS)
    statements: list[str] = []
    controller = Controller(Inbox(), hostname="127.0.0.1", port=unused_port)
    controller.start()
    with CtgovServer() as ctgov, CrossrefServer() as crossref:
        for n, nct in enumerate(("NCT09000101", "NCT09000102"), start=1):
            ctgov.add_study(ketamine_trial(nct), updated=days_ago(n))
        settings = env.settings(**slack_vars(slack), **smtp_vars(unused_port),
                                WATCHER_CTGOV_URL=ctgov.url, WATCHER_CROSSREF_URL=crossref.url)
        cfg = env.config()
        with closing(env.store()) as store, traced(store) as seen:
            assert pipeline.run_once(cfg, store, settings).ok
            corpus_server.add_article(
                renumbered(FIXTURES / "pubmed_metapub/38011560.xml", "99000001"),
                entry_date=days_ago(0))
            ctgov.add_study(ketamine_trial("NCT09000103"), updated=days_ago(0))
            ctgov.add_study(ketamine_trial("NCT09000101", status="COMPLETED"),
                            updated=days_ago(0))
            slack.fail_next("ratelimited")
            pipeline.run_once(cfg, store, settings)
            assert pipeline.run_once(cfg, store, settings).ok
            statements += seen
        assert crossref.asked(), "the look-ups ran"
    controller.stop()
    return env.db, statements


def test_every_statement_of_a_poll_and_a_digest_uses_an_index(runs):
    db, statements = runs
    assert any("UPDATE outbox" in s for s in statements), "a digest was delivered"
    assert any("INSERT INTO source_records" in s or "source_records" in s for s in statements)
    scans = full_scans(db, statements)
    assert not scans, "full table scans:\n" + "\n".join(
        f"{' / '.join(plan)}: {sql[:300]}" for sql, plan in scans.items())


def test_the_check_itself_catches_a_table_scan(runs):
    """The check would see a scan: a statement filtering the outbox on an unindexed column."""
    db, _ = runs
    assert full_scans(db, ["SELECT id FROM outbox WHERE last_error = 'x'"])
    # nor through an alias, joined on an unindexed column
    join = ("SELECT e.id FROM events e JOIN outbox o ON o.last_error = e.key"
            " WHERE e.study_id = 1")
    assert full_scans(db, [join]) == {join: ["SCAN o"]}
