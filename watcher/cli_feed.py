"""`watcher feed DIR`: write the Atom feeds (one per destination, one per condition) of what
the team was told, from the database alone, no network. Registered in cli.py."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli_options import Context, paths
from .clock import stamp, utc_now
from .errors import UsageError, WatcherError
from .feeds import feeds, write
from .printable import one_line
from .redact import scrub


@click.command(name="feed")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@paths
@click.pass_obj
def feed(obj: Context, folder: Path) -> None:
    """Write an Atom feed per destination (DIR/NAME.atom) and per condition
    (DIR/conditions/NAME.atom) of the items delivered, newest first; a feed reader subscribes
    to the file, or to it served from anywhere. Safe to run after every digest: an entry keeps
    its id, so readers never show it twice."""
    try:
        if not Path(obj.settings.db).exists():  # a mistyped path must not empty the feeds
            raise UsageError(f"{obj.db_setting} {obj.settings.db}: no database there; nothing "
                             "was written")
        store = obj.reader()
        try:
            all_feeds = feeds(obj.config(), store.delivered())
        finally:
            store.close()
        try:
            written = write(folder, all_feeds, generated=stamp(utc_now()))
        except OSError as exc:  # a folder under a file, a read-only disk, a full one
            raise WatcherError(f"cannot write the feeds to {folder}: {exc.strerror or exc}"
                               f" ({exc.filename})") from None
    except WatcherError as exc:
        if obj.debug:
            raise
        for line in scrub(str(exc)).splitlines():
            click.echo(f"error: {one_line(line)}", err=True)
        sys.exit(exc.exit_code)
    for path in written:
        click.echo(one_line(f"wrote {path}"))
