"""`watcher search TEXT`: the kept studies matching words in their title, abstract, authors,
journal or conditions, newest first, as text or JSON (the query itself is in db/search.py)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from .cli_options import Context, paths
from .db import SearchHit
from .db.export import matched_query_ids
from .errors import ConfigError, UsageError, WatcherError
from .printable import one_line
from .redact import scrub

#: How many authors a text line names before "et al.".
_AUTHORS_SHOWN = 3
#: Under the title, past the date ("2026-11-22 ").
_INDENT = " " * 11


@click.command()
@click.argument("text")
@click.option("--condition", "conditions", multiple=True, metavar="QUERY",
              help="Only studies this query found (its id, or its condition as the YAML names "
                   "it); may be repeated.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="Only studies listed on or after this date.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="At most this many studies.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (see README).")
@paths
@click.pass_obj
def search(obj: Context, text: str, conditions: tuple[str, ...], since: datetime | None,
           limit: int, as_json: bool) -> None:
    """Search the kept studies' titles, abstracts, authors, journals and conditions, newest
    first. Words are matched whole (stemmed: 'depressive' finds 'depression'); "a phrase",
    word* (a prefix), OR and NOT work as in SQLite FTS5."""
    try:
        store = obj.reader()
        try:
            query_ids = _query_ids(obj, conditions, matched_query_ids(store))
            hits = store.search(text, conditions=query_ids or None, limit=limit,
                                since=since.date().isoformat() if since else None)
        finally:
            store.close()
    except WatcherError as exc:
        if obj.debug:
            raise
        click.echo(f"error: {one_line(scrub(str(exc)))}", err=True)
        sys.exit(exc.exit_code)
    if as_json:
        click.echo(json.dumps({"version": 1, "query": text,
                               "studies": [hit.to_json() for hit in hits]}, indent=2))
        return
    for hit in hits:
        for line in _lines(hit):
            click.echo(line)
    missing = "" if Path(obj.settings.db).exists() else f" (no database at {obj.settings.db} yet)"
    click.echo(f"{len(hits)} stud{'y' if len(hits) == 1 else 'ies'} found{missing}"
               + (f" (the newest {limit}; --limit shows more)" if len(hits) == limit else ""))


def _query_ids(obj: Context, conditions: tuple[str, ...], stored: list[str]) -> list[str]:
    """--condition values as query ids: a condition's name as the YAML gives it is read as its
    query's id; a query id the YAML or the database (*stored*: a query since removed from the
    YAML) knows is taken as is. The YAML is not needed: an invalid one only loses the names.
    Anything else is a UsageError, never an empty answer that reads as "nothing found"."""
    if not conditions:
        return []
    try:
        names = obj.config().conditions()
    except ConfigError:
        names = {}
    named = {name.casefold(): qid for qid, name in names.items()}
    known = set(names) | set(stored)
    chosen = []
    for condition in conditions:
        query_id = named.get(condition.casefold(), condition)
        if query_id not in known:
            shown = ", ".join(sorted(set(names.values()), key=str.casefold)) or "none"
            raise UsageError(f"unknown condition {condition!r} (known: {shown}; or a query "
                             f"id: {', '.join(sorted(known)) or 'none'})")
        chosen.append(query_id)
    return chosen


def _lines(hit: SearchHit) -> list[str]:
    """A study as two or three lines: date and title; who, where and which ids; the snippet."""
    authors = ", ".join(hit.authors[:_AUTHORS_SHOWN]) + (
        " et al." if len(hit.authors) > _AUTHORS_SHOWN else "")
    ids = " ".join(f"{scheme.upper()} {value}" for scheme, value in hit.ids.items())
    facts = " · ".join(part for part in (authors, hit.journal, ids,
                                         ", ".join(hit.conditions)) if part)
    lines = [one_line(f"{hit.date or '----------'}  {hit.title}"),
             _INDENT + one_line(facts + (f" · {hit.url}" if hit.url else ""))]
    if hit.snippet and "[" in hit.snippet:
        lines.append(_INDENT + one_line(hit.snippet))
    return lines
