"""`watcher archive DIR`: the static archive (see watcher.archive), written from the database
alone (no network). The YAML names the conditions; when it cannot be read, each query id is its
own condition, so the history stays browsable whatever the queries folder holds."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .archive.writer import write_archive
from .cli_options import Context, paths
from .errors import ConfigError, UsageError, WatcherError
from .printable import one_line
from .redact import scrub


@click.command(name="archive")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-charts", is_flag=True, help="Skip the per-condition charts (matplotlib).")
@paths
@click.pass_obj
def archive(obj: Context, folder: Path, no_charts: bool) -> None:
    """Write a static archive to FOLDER: an index with search over titles and abstracts, a page
    per condition (studies newest first, a chart per month), per study and per digest sent.
    It works opened from disk (file://); nothing else in FOLDER is touched."""
    try:
        _write(obj, folder, charts=not no_charts)
    except WatcherError as exc:
        if obj.debug:
            raise
        for line in scrub(str(exc)).splitlines():
            click.echo(f"error: {one_line(line)}", err=True)
        sys.exit(exc.exit_code)


def _write(obj: Context, folder: Path, *, charts: bool) -> None:
    started = time.monotonic()
    if not Path(obj.settings.db).exists():  # a mistyped path must not write an empty archive
        raise UsageError(f"no database at {obj.settings.db} ({obj.db_setting})")
    names: dict[str, str] = {}
    config = None
    try:
        config = obj.config()
        names = config.conditions()
    except ConfigError as exc:
        click.echo(one_line(f"note: queries not read ({exc.problems[0]}); conditions are "
                            "named by query id, and no feeds are written"), err=True)
    store = obj.reader()
    try:
        written = write_archive(store, folder, names, charts=charts, config=config)
    except OSError as exc:  # a folder under a file, a read-only disk, a full one
        raise WatcherError(f"cannot write the archive to {folder}: {exc.strerror or exc}"
                           f" ({exc.filename})") from None
    finally:
        store.close()
    click.echo(one_line(f"wrote {written.studies} studies, {written.digests} digest(s) and "
                        f"{written.files} files to {folder} in "
                        f"{time.monotonic() - started:.1f}s; open {folder / 'index.html'}"))
