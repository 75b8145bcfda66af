"""Shared test fixtures: a local E-utilities server with real PubMed records, a temporary
database and queries folder (helpers to use them are in tests/helpers/)."""

from __future__ import annotations

import pytest

from tests.fakes.slack import SlackServer
from tests.helpers import PUBMED_FILES, Env, days_ago
from watcher.fakes.eutils import EutilsServer


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
