"""A process killed mid-run (SIGKILL, no chance to clean up) loses nothing: no window advanced
for what was not stored, and the next run delivers everything exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.helpers import QUERIES_YAML, ROOT


def start_and_kill_when(env, server, endpoint: str) -> None:
    process = subprocess.Popen([sys.executable, "-m", "watcher", "run", "--once"], cwd=ROOT,
                               env={**os.environ, **env.vars()}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not server.calls(endpoint) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.calls(endpoint), "the run reached the server"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def test_sigkill_during_fetch_then_next_run_delivers_everything_once(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    corpus_server.slow_next(30, endpoint="efetch")  # the first efetch hangs; we kill the run
    start_and_kill_when(env, corpus_server, "efetch")

    store = env.store()
    assert store.count("studies") == 0
    assert all(p.window_end is None for p in store.positions())
    assert store.conn.execute("SELECT status FROM runs").fetchall() == [("running",)], \
        "the killed run stays visible as unfinished"
    store.close()

    corpus_server.failures.clear()
    after = env.cli("run", "--once")
    assert after.exit_code == 0, after.stderr
    assert after.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 19
    again = env.cli("run", "--once")
    assert "Nothing new" in again.stdout
