"""The terminal: prints the plain-text digest (stdout for `run --once`, the log under serve)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, TextIO

from ..render import text
from .base import Context, DestinationOptions, DestinationSpec, Part

if TYPE_CHECKING:
    from ..digest import Digest


class Terminal(DestinationOptions):
    kind: Literal["terminal"]

    SENDS_EMPTY: ClassVar[bool] = True  # `run --once` always says what it found


class TerminalSender:
    def __init__(self, stream: TextIO):
        self.stream = stream

    def prepare(self, digest: Digest) -> list[Part]:
        rendered = text.render(digest)
        return [Part([i for item in digest.items for i in item.outbox_ids], rendered, rendered)]

    def send(self, part: Part) -> str | None:
        self.stream.write(part.body)
        self.stream.flush()
        return None


def _sender(destination: Any, settings: Any, context: Context) -> TerminalSender:
    return TerminalSender(context.stream)


SPEC = DestinationSpec("terminal", Terminal, _sender)  # reads no environment variable
