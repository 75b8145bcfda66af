"""`watcher status --json` and `watcher health --json`: the same typed rows the text forms are
built from (watcher.db.report_rows, watcher.health), as one JSON document a monitor or a script
reads without parsing prose. The shape is documented in the README and only grows: a key once
shipped keeps its name and meaning. No secrets: settings appear only as the database path and
what a destination lacks (a variable's name, never its value)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from .config import Config
from .db import Store
from .destinations import KINDS
from .health import FailingSource, last_error, orphaned
from .settings import Settings
from .sources import label, polled

#: Bumped only if a key changes meaning (new keys do not bump it).
VERSION = 1


def status(config: Config | None, store: Store, settings: Settings,
           invalid: str | None = None) -> dict[str, Any]:
    """Everything `watcher status` prints, as data: the database, the worker's lease, each
    (query, source) with its window, last error and held records, each destination, orphaned
    destinations and id conflicts. *invalid*: why the YAML could not be loaded (then only what
    the database holds is listed)."""
    positions = {(p.query_id, p.source): p for p in store.positions()}
    windows = store.last_windows()
    held = store.held_records(states=("watching", "quarantined"))
    pairs = ([(q.id, name) for q in config.queries for name in q.sources] if config
             else list(positions))
    sources = []
    for query_id, name in pairs:
        p = positions.get((query_id, name))
        last = windows.get((query_id, name))
        sources.append({
            "query": query_id, "source": name, "label": label(name), "polled": polled(name),
            "last_success": p.last_success if p else None,
            "window_start": last.start if last else None,
            "window_end": (last.end if last else p.window_end) if p else None,
            "last_error_at": p.last_error_at if p else None,
            "last_error": p.last_error if p else None,
            "corrections_end": p.corrections_end if p else None,
            "corrections_at": p.corrections_at if p else None,
            "held": [asdict(r) for r in held if (r.query_id, r.source) == (query_id, name)]})
    lease = store.lease()
    exists = Path(settings.db).exists()
    return {
        "version": VERSION,
        "database": {"path": settings.db, "exists": exists,
                     "studies": store.count("studies") if exists else 0},
        "queries": {"folder": settings.queries, "valid": invalid is None, "error": invalid},
        "worker": asdict(lease) if lease else None,
        "sources": sources,
        "destinations": _destinations(config, store, settings),
        "orphaned": sorted(orphaned(config, store)) if config else [],
        "id_conflicts": [asdict(c) for c in store.id_conflicts()],
        "lookups": [asdict(row) for row in store.lookup_statuses()],
    }


def _destinations(config: Config | None, store: Store, settings: Settings
                  ) -> list[dict[str, Any]]:
    pending = store.pending_counts()
    if config is None:  # the YAML is invalid: what the database holds, by name
        return [{"name": name, "kind": None, "pending": count,
                 "last_sent": store.last_digest(name)[0]}
                for name, count in sorted(pending.items())]
    found = []
    for name, dest in config.all_destinations().items():
        names = (name, *dest.renamed_from)
        found.append({
            "name": name, "kind": dest.kind,
            "pending": sum(pending.get(n, 0) for n in names),
            "sending": sum(store.outbox_states(n).get("sending", 0) for n in names),
            "last_sent": max(filter(None, (store.last_digest(n)[0] for n in names)),
                             default=None),
            "schedule": dest.schedule.describe() if dest.schedule else None,
            "cannot_send": KINDS[dest.kind].missing(settings.destination(dest.kind)) or None,
            "last_error": last_error(store, dest)})
    return found


def health(problems: list[str], failing: list[FailingSource]) -> dict[str, Any]:
    """`watcher health --json`: ok, every problem's line (as the text form prints them), and
    the failing sources as data."""
    return {"version": VERSION, "ok": not problems, "problems": problems,
            "failing_sources": [asdict(f) for f in failing]}
