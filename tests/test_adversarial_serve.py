"""`watcher serve` against a hostile operator and a flaky upstream: signals at awkward moments,
a clock gone wrong. Each test is a defect found by trying; see test_serve.py for the rest."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.helpers import ROOT
from tests.helpers.serve import ONE_QUERY

# Run the real worker in a process, with a SIGTERM delivered at a chosen start-up moment.
STOP_DURING_START_UP = """\
import os, signal, sys
from watcher import scheduler
from watcher.settings import Settings

scheduler.configure_logging("text")
worker = scheduler.Worker(Settings.from_env(os.environ))
moment = sys.argv[1]
if moment == "catch-up":  # after the handlers are installed, before the scheduler starts
    catch_up = worker.catch_up
    def stopped_catch_up():
        os.kill(os.getpid(), signal.SIGTERM)
        catch_up()
    worker.catch_up = stopped_catch_up
else:  # just as the scheduler starts: after run() checked for a stop
    start = worker.scheduler.start
    def stopped_start(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        start(*args, **kwargs)
    worker.scheduler.start = stopped_start
worker.run()
"""


def test_a_stop_during_start_up_exits_0_at_once_without_a_traceback(env, corpus_server):
    """SIGTERM while `serve` starts (a deploy stopping a worker it just started): the worker
    must stop cleanly, not print a thread's traceback nor hang in a scheduler nobody stops."""
    env.write_queries(ONE_QUERY)
    for moment in ("catch-up", "start"):
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(STOP_DURING_START_UP), moment], cwd=ROOT,
            env={**env.vars(WATCHER_POLL_EVERY="60"), "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, (moment, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout, (moment, done.stderr)
        assert "stopped" in done.stdout, (moment, done.stdout)
        assert env.store().lease() is None, "a clean stop gives the lease up"
