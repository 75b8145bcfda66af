"""`watcher export`: the stored studies as RIS, BibTeX, CSV or JSON lines, for Zotero, EndNote,
a spreadsheet or a script. Read from the database alone (no network); the YAML only names the
conditions, and when it cannot be read each query id stands for its condition."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import click

from .cli_options import Context, paths
from .db.export import ExportFilter, matched_query_ids, stored_studies
from .errors import ConfigError, UsageError, WatcherError
from .export import WRITERS, exported
from .printable import one_line
from .redact import scrub


@click.command(name="export")
@click.option("--format", "fmt", type=click.Choice(sorted(WRITERS)), required=True,
              help="ris and bibtex for reference managers, csv (one row per study), json "
                   "(JSON lines: everything stored about each study).")
@click.option("--since", metavar="DATE", help="Only studies first stored on or after DATE "
                                              "(YYYY-MM-DD, UTC).")
@click.option("--query", "query_ids", multiple=True, metavar="ID",
              help="Only studies this query found (repeatable).")
@click.option("--condition", "conditions", multiple=True, metavar="NAME",
              help="Only studies the queries of this condition found (as the YAML names it; "
                   "repeatable).")
@click.option("--kind", type=click.Choice(["publication", "trial"]),
              help="Only papers (preprints included) or only registered trials.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Write to FILE (default: standard output).")
@paths
@click.pass_obj
def export(obj: Context, fmt: str, since: str | None, query_ids: tuple[str, ...],
           conditions: tuple[str, ...], kind: str | None, output: Path | None) -> None:
    """Export stored studies (oldest stored first) with their ids, conditions and corrections.
    Studies every query's filters set aside are left out, as in the digests."""
    try:
        text, count = _export(obj, fmt, since, query_ids, conditions, kind)
        if output is None:  # written as is: click.echo would hide a reader gone (EPIPE)
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        _write(output, text)
        click.echo(one_line(f"wrote {count} stud{'y' if count == 1 else 'ies'} as {fmt} to "
                            f"{output}"), err=True)
    except BrokenPipeError:  # `watcher export ... | head`: stop quietly, like cat
        with contextlib.suppress(OSError, ValueError):  # Python's own flush at exit too
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except WatcherError as exc:
        if obj.debug:
            raise
        for line in scrub(str(exc)).splitlines():
            click.echo(f"error: {one_line(line)}", err=True)
        sys.exit(exc.exit_code)


def _export(obj: Context, fmt: str, since: str | None, query_ids: tuple[str, ...],
            conditions: tuple[str, ...], kind: str | None) -> tuple[str, int]:
    day = _day(since) if since is not None else None
    if not Path(obj.settings.db).exists():  # a mistyped path must not export an empty file
        raise UsageError(f"no database at {obj.settings.db} ({obj.db_setting})")
    names: dict[str, str] = {}
    try:
        names = obj.config().conditions()
    except ConfigError as exc:
        if conditions:
            raise UsageError(f"--condition needs the queries, which cannot be read: "
                             f"{exc.problems[0]}") from None
        click.echo(one_line(f"note: queries not read ({exc.problems[0]}); conditions are "
                            "named by query id"), err=True)
    store = obj.reader()
    try:
        chosen = _chosen(names, matched_query_ids(store), query_ids, conditions)
        wanted = ExportFilter(since=day, query_ids=chosen, kind=kind)
        items = [exported(s, names) for s in stored_studies(store, wanted)]
    finally:
        store.close()
    return WRITERS[fmt](items), len(items)


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise UsageError(f"--since {text!r} is not a date: write it as YYYY-MM-DD, such as "
                         f"{datetime.now(UTC).date().replace(day=1).isoformat()}") from None


def _chosen(names: dict[str, str], stored: list[str], query_ids: tuple[str, ...],
            conditions: tuple[str, ...]) -> tuple[str, ...] | None:
    """The query ids --query and --condition name (None: no such option, every query). A name
    neither the YAML nor the database knows is an error, never an empty file."""
    if not query_ids and not conditions:
        return None
    known = sorted(set(names) | set(stored))
    chosen: list[str] = []
    for query_id in query_ids:
        if query_id not in known:
            raise UsageError(f"unknown query {query_id!r} (known: {', '.join(known) or 'none'})")
        chosen.append(query_id)
    for condition in conditions:
        found = [q for q, name in names.items() if name.casefold() == condition.casefold()]
        if not found:
            shown = ", ".join(sorted(set(names.values()), key=str.casefold)) or "none"
            raise UsageError(f"unknown condition {condition!r} (known: {shown})")
        chosen.extend(found)
    return tuple(dict.fromkeys(chosen))


def _write(path: Path, text: str) -> None:
    """Write *path* whole or not at all: a failed export leaves an older file as it was. A
    symlink's file is written (the link kept); a device or a pipe (/dev/stdout, a FIFO) is
    written into, never replaced by a file."""
    try:
        path = Path(os.path.realpath(path))
        if path.exists() and not path.is_file():
            with open(path, "w", encoding="utf-8", newline="") as out:
                out.write(text)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        raise WatcherError(f"cannot write {path}: {exc.strerror or exc}") from None
