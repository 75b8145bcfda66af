"""Writing the archive: read the database (db.archive), build the pages (site.py, pure), draw
the charts and write every file into one folder. Used by `watcher archive DIR` and, after each
digest, by `serve` when WATCHER_ARCHIVE_DIR names a folder."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import stamp, utc_now
from ..db.archive import read_archive
from .site import build_pages


@dataclass(frozen=True)
class Written:
    """What an archive holds once written."""

    studies: int
    digests: int
    files: int


def write_archive(store: Any, folder: Path, names: Mapping[str, str], *,
                  charts: bool = True) -> Written:
    """Write the archive of the database behind *store* (a Store) into *folder*; *names* maps
    query ids to their conditions. Each file is written beside itself and renamed into place,
    so a reader (or a web server) never sees half a page while `serve` rebuilds it."""
    data = read_archive(store)
    chart = None
    if charts:
        from .chart import studies_per_month as chart
    files = build_pages(data, names, generated=stamp(utc_now()), chart=chart)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        part = folder / f".{name}.part"
        part.write_text(text, encoding="utf-8")
        os.replace(part, folder / name)
    return Written(len(data.studies), len(data.digests), len(files))
