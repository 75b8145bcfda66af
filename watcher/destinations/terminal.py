"""The terminal: prints the plain-text digest (stdout for `run --once`, the log under serve)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from ..digest import Digest
from ..render import text

if TYPE_CHECKING:
    from . import Part


class TerminalSender:
    def __init__(self, stream: TextIO):
        self.stream = stream

    def prepare(self, digest: Digest) -> list[Part]:
        from . import Part

        rendered = text.render(digest)
        return [Part([i for item in digest.items for i in item.outbox_ids], rendered, rendered)]

    def send(self, part: Part) -> str | None:
        self.stream.write(part.body)
        self.stream.flush()
        return None
