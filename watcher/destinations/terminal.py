"""The terminal: prints the plain-text digest (stdout for `run --once`, the log under serve)."""

from __future__ import annotations

from typing import TextIO

from ..digest import Digest
from ..render import text


class TerminalSender:
    def __init__(self, stream: TextIO):
        self.stream = stream

    def send(self, digest: Digest) -> None:
        self.stream.write(text.render(digest))
        self.stream.flush()
