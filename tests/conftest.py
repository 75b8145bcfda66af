"""Shared test fixtures: a local E-utilities server with real PubMed records, a temporary
database and queries folder (helpers to use them are in tests/helpers/)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.slack import SlackServer
from tests.helpers import PUBMED_FILES, Env, days_ago
from watcher.fakes.eutils import EutilsServer

#: Longer than almost any one test takes on a loaded machine.
MIDNIGHT_MARGIN = timedelta(seconds=60)


@pytest.fixture(autouse=True)
def midnight_guard():
    """A test that starts in the last minute of a UTC day waits for the next one. Most tests
    run the real code at the real clock and then compare with `days_ago(0)`; a test that ran
    across midnight would compare today's window with yesterday's date (CI failed that way).
    Tests that set times themselves anchor them instead (see test_run, test_digest_states)."""
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    if midnight - now < MIDNIGHT_MARGIN:
        time.sleep((midnight - now).total_seconds() + 1)
    yield


@pytest.fixture
def server():
    with EutilsServer() as running:
        yield running


@pytest.fixture
def corpus_server(server):
    """The server holding every real fixture record, entered 1..N days ago (inside look-back)."""
    for n, path in enumerate(PUBMED_FILES, start=1):
        server.add_files([path], entry_date=days_ago(n))
    return server


@pytest.fixture
def env(tmp_path, server) -> Env:
    return Env(tmp_path, server)


@pytest.fixture
def unused_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound once, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def slack():
    with SlackServer(interval=0.05) as running:
        yield running
