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
from ..config import Config
from ..db.archive import read_archive
from ..feeds import feeds
from ..feeds import write as write_feeds
from .site import build_pages

#: The folder, inside the archive's, its Atom feeds are written to.
FEEDS_DIR = "feeds"


@dataclass(frozen=True)
class Written:
    """What an archive holds once written."""

    studies: int
    digests: int
    files: int


def write_archive(store: Any, folder: Path, names: Mapping[str, str], *,
                  charts: bool = True, config: Config | None = None) -> Written:
    """Write the archive of the database behind *store* (a Store) into *folder*; *names* maps
    query ids to their conditions. Each file is written beside itself and renamed into place,
    so a reader (or a web server) never sees half a page while `serve` rebuilds it. Given the
    *config*, the Atom feeds (watcher.feeds) are written beside it, in FEEDS_DIR, and the
    index links them."""
    data = read_archive(store)
    chart = None
    if charts:
        from .chart import studies_per_month as chart
    generated = stamp(utc_now())
    links: list[tuple[str, str]] = []
    if config is not None:
        all_feeds = feeds(config, store.delivered())
        write_feeds(folder / FEEDS_DIR, all_feeds, generated=generated)
        links = [(feed.info.title, f"{FEEDS_DIR}/{feed.path}") for feed in all_feeds]
    files = build_pages(data, names, generated=generated, chart=chart, feeds=links)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        part = folder / f".{name}.part"
        part.write_text(text, encoding="utf-8")
        os.replace(part, folder / name)
    return Written(len(data.studies), len(data.digests), len(files))
