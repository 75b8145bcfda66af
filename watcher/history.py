"""What `watcher status` reads from the history: one study's story (`--study ID`: its ids, the
records it is merged from with every kept version, the queries that found it, what the team was
told and when), the window each query and source last covered, and the worker's lease."""

from __future__ import annotations

import re
from datetime import datetime

from .db import Store
from .errors import UsageError
from .models import normalize_id
from .runtime import utc_now
from .sources import label


def guess_scheme(ident: str) -> tuple[str, str]:
    """'NCT01234567', 'ISRCTN12345678', 'PMC123', '10.1/x' or '12345678' (a PMID)."""
    value = ident.strip()
    upper = value.upper()
    for prefix, scheme in (("NCT", "nct"), ("ISRCTN", "isrctn"), ("PMC", "pmcid")):
        if upper.startswith(prefix):
            return scheme, upper
    if upper.startswith("PMID:"):
        return "pmid", value[5:].strip()
    if "/" in value:
        return "doi", value
    if re.fullmatch(r"\d+", value):
        return "pmid", value
    raise UsageError(f"cannot tell what kind of id {ident!r} is (use a PMID, PMCID, DOI, "
                     "NCT or ISRCTN id)")


def study_history(store: Store, ident: str) -> list[str]:
    scheme, value = guess_scheme(ident)
    study_id = store.find_study({scheme: normalize_id(scheme, value)})
    if study_id is None:
        raise UsageError(f"no stored study has {scheme} {value}")
    study = store.get_study(study_id)
    lines = [f"study {study_id}: {study.title}", f"  kind: {study.kind}",
             "  ids: " + ", ".join(f"{s}:{v}" for s, v in study.ids.items())]
    for match in store.matches_of(study_id):
        lines.append(f"  found by query {match.query_id} through {label(match.source)}")
    lines.append("records (every kept version, oldest first):")
    for row in store.record_history(study_id):
        lines.append(f"  {label(row['source'])} {row['source_id']}: fetched {row['fetched']},"
                     f" content {row['content_hash'][:12]}")
    lines.append("events:")
    for event in store.events_of(study_id):
        what = "; ".join(str(c) for c in event.details.get("changes", []))
        lines.append(f"  {event.created} {event.kind}" + (f": {what}" if what else ""))
        for row in store.deliveries_of(event.id):
            sent = f"sent {row['sent_at']}" if row["state"] == "sent" else row["state"]
            lines.append(f"    to {row['destination']}: {sent}"
                         + (f" ({row['last_error']})" if row["last_error"] else ""))
    for conflict in store.id_conflicts():
        if study_id in (conflict["owner_study"], conflict["claimed_by_study"]):
            lines.append(f"id conflict: {conflict['scheme']}:{conflict['value']} belongs to "
                         f"study {conflict['owner_study']}, also claimed by "
                         f"study {conflict['claimed_by_study']}")
    return lines


def last_windows(store: Store) -> dict[tuple[str, str], tuple[str, str]]:
    """(query, source) -> (start, end) of the window its last successful poll covered."""
    rows = store.conn.execute(
        "SELECT query_id, source, window_start, window_end FROM polls WHERE id IN"
        " (SELECT MAX(id) FROM polls WHERE error IS NULL AND window_start IS NOT NULL"
        " GROUP BY query_id, source)")
    return {(query, source): (start, end) for query, source, start, end in rows}


def worker_line(store: Store) -> str:
    """Whether a `watcher serve` holds the database, and since when."""
    lease = store.lease()
    if lease is None:
        return "worker: none running (`watcher serve` gives its lease up when it stops)"
    line = (f"worker: {lease['holder']} since {lease['since']}, lease renewed "
            f"{lease['renewed']}")
    if datetime.fromisoformat(lease["expires"]) <= utc_now():
        line += f"; STALE: expired {lease['expires']}, is the worker running?"
    return line
