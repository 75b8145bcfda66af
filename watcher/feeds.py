"""Which items each feed lists, and the files they are written to: one Atom feed per
destination (what it was told, newest first) and one per condition (every delivered item
filed under it, whichever destination it went to, once).

Items are read back as the digest carried them: a trial's change events sent in one digest
are one entry, and a change carried by the study's own new-study item is not an entry of its
own (see :func:`watcher.digest.merge_changes`). An item is filed under the conditions of the
queries that found it and did not exclude it (a query gone from the YAML: its id), "Other"
when none."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from .config import Config
from .db.rows import DeliveredItem, PendingItem
from .digest import DigestItem, merge_changes
from .render.feed import FeedInfo, FeedItem, atom

#: Where condition feeds go, under the feed folder.
CONDITIONS_DIR = "conditions"

#: File names Windows refuses whatever their extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)),
             *(f"lpt{n}" for n in range(10))}
_SIMPLE = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")


@dataclass(frozen=True)
class Feed:
    """One feed to write: where (relative to the folder), what it is, its items."""

    path: str
    info: FeedInfo
    items: list[FeedItem]


def file_stem(name: str) -> str:
    """A file name for any destination or condition name, the same every time: a simple
    lowercase name as is ('depression'), any other as its ASCII slug and a hash of the exact
    name ('Depression' -> 'depression--1b2c3d4e'), so two names never share a file, on a
    case-blind disk too, and nothing in it is a path, a dot file or a device name."""
    if _SIMPLE.fullmatch(name) and len(name) <= 60 and name not in _RESERVED:
        return name
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = "-".join(re.findall(r"[a-z0-9]+", ascii_name.lower()))[:60].strip("-") or "feed"
    return f"{slug}--{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def conditions_of(config: Config, delivered: DeliveredItem) -> list[str]:
    """The conditions an item is filed under, in YAML order (see the module's docstring)."""
    names = config.conditions()
    found = {m.query_id for m in delivered.matches} | (
        {delivered.event.query_id} if delivered.event.query_id else set())
    query_ids = [q for q in names if q in found] + sorted(found - set(names))
    return list(dict.fromkeys(names.get(q, q) for q in query_ids)) or ["Other"]


def _digest(delivered: DeliveredItem) -> int:
    return delivered.digest_id or 0


def as_told(config: Config, delivered: list[DeliveredItem]) -> list[FeedItem]:
    """*delivered* (one destination's, newest first) as its digests carried it: merged per
    digest (see the module's docstring), newest first."""
    out: list[tuple[FeedItem, int]] = []
    for _, group in groupby(sorted(delivered, key=_digest), key=_digest):
        rows = sorted(group, key=lambda d: d.outbox_id)
        by_outbox = {d.outbox_id: d for d in rows}
        pending = [PendingItem(d.outbox_id, d.event, d.study, d.matches) for d in rows]
        for entry, _others in merge_changes(pending):
            row = by_outbox[entry.outbox_id]
            labels = list(dict.fromkeys(label for m in row.matches for label in m.labels))
            item = DigestItem(entry.event, row.study, conditions_of(config, row), labels,
                              entry.outbox_id)
            out.append((FeedItem(item, row.sent_at), row.outbox_id))
    out.sort(key=lambda pair: (pair[0].sent, pair[1]), reverse=True)
    return [item for item, _ in out]


def feeds(config: Config, delivered: list[DeliveredItem]) -> list[Feed]:
    """Every feed: one per destination (configured, or told anything), one per condition
    (in the YAML, or filed under)."""
    destinations = list(dict.fromkeys([*config.all_destinations(),
                                       *sorted({d.destination for d in delivered})]))
    told = {name: as_told(config, [d for d in delivered if d.destination == name])
            for name in destinations}
    out = [Feed(f"{file_stem(name)}.atom",
                FeedInfo(f"feed/destination/{name}", f"watcher: {name}",
                         f"What watcher told {name}, newest first"), told[name])
           for name in destinations]
    by_condition: dict[str, dict[str, FeedItem]] = {
        name: {} for name in dict.fromkeys(config.conditions().values())}
    for entry in sorted((e for items in told.values() for e in items),
                        key=lambda e: e.sent):  # the first time it was told wins
        for condition in entry.item.conditions:
            by_condition.setdefault(condition, {}).setdefault(entry.item.event.key, entry)
    for name, entries in by_condition.items():
        items = sorted(entries.values(), key=lambda e: e.sent, reverse=True)
        out.append(Feed(f"{CONDITIONS_DIR}/{file_stem(name)}.atom",
                        FeedInfo(f"feed/condition/{name}", f"watcher: {name}",
                                 f"Studies watcher told under {name}, newest first"), items))
    return out


def write(folder: Path, all_feeds: list[Feed], *, generated: str) -> list[Path]:
    """Write each feed under *folder*, each file replaced whole (a reader fetching it never
    sees half a feed); returns the files written."""
    written = []
    for feed in all_feeds:
        path = folder / feed.path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(atom(feed.info, feed.items, generated=generated))
        os.replace(partial, path)
        written.append(path)
    return written
