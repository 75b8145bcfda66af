"""Pure writers for `watcher export` (RIS, BibTeX, CSV, JSON lines): stored studies in, the
file's text out. No database, no network: the command (watcher.cli_export) reads and writes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from . import bibtex, jsonl, ris, table
from .common import Exported, exported

#: Format name -> writer.
WRITERS: dict[str, Callable[[Iterable[Exported]], str]] = {
    "ris": ris.write, "bibtex": bibtex.write, "csv": table.write, "json": jsonl.write}

__all__ = ["WRITERS", "Exported", "exported"]
