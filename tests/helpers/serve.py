"""`watcher serve` as a real process for tests, and the small YAML its tests start from."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

from tests.helpers import ROOT

ONE_QUERY = """\
queries:
  - id: depression
    condition: Depression
    sources:
      pubmed:
        terms: depressi*[tiab]
"""


WITH_OPS = """\
destinations:
  ops:
    kind: terminal
"""


class ServeProcess:
    """A `python -m watcher serve` process whose stdout is collected line by line."""

    def __init__(self, env_vars: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "watcher", "serve"], cwd=ROOT,
            env={**os.environ, **env_vars}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def out(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while sum(bool(re.search(pattern, line)) for line in self.lines) < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                err = self.process.stderr.read() if self.process.poll() is not None else ""
                raise AssertionError(f"no {pattern!r} (x{count}) in:\n{self.out}\n{err}")
            time.sleep(0.05)

    def stop(self, timeout: float = 30, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return self.process.returncode
