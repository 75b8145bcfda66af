"""Merge precision: does the project join two records into one study exactly when they are one?

    .venv/bin/python benchmarks/bench_merge.py [--json OUT] [--only CATEGORY]

The labelled set, benchmarks/merge_pairs/pairs.jsonl (written by merge_pairs/generate.py,
committed), holds record pairs in the real upstreams' shapes (PubMed XML, Europe PMC JSON,
ClinicalTrials.gov v2 JSON, ISRCTN XML, a feed entry) with the truth: one study or two.

For each pair, a fresh Store on a temporary file; record A, then record B, each parsed by its
source's own parser and kept by the poll's own code (``poll_apply.keep``: ``save_record``,
corrections, conflicts, and whatever joining the identity core does on save); then the pair's
look-up answers (bioRxiv ``/pubs``, Crossref ``works``) are turned into version links and
handed to ``watcher.identity.apply_link``. The question is then asked of the store: do A's and
B's kept records belong to one study?

A pair whose source has no parser on this branch (or whose links need an identity core that is
not there yet) is *skipped* and listed, never counted either way. Prints TP/FP/FN/TN,
precision and recall, per category, and every false join and miss by pair id; ``--json`` also
writes them as JSON. tests/test_merge_precision.py runs the same code and fails on any false
join. Figures are recorded in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from watcher import config as config_module  # noqa: E402
from watcher.config import Config, Query  # noqa: E402
from watcher.db import Store  # noqa: E402
from watcher.models import SourceRecord  # noqa: E402
from watcher.poll_apply import Kept, keep  # noqa: E402
from watcher.sources import REGISTRY, FetchResult  # noqa: E402
from watcher.sources.base import identified  # noqa: E402
from watcher.versions import VersionLink  # noqa: E402

SET = Path(__file__).resolve().parent / "merge_pairs" / "pairs.jsonl"
NOW = "2026-12-05T12:00:00+00:00"
FEED_URL = "https://feeds.example.org/toc.rss"  # where a feed payload is said to come from


class Skip(Exception):
    """The pair needs a part of the project this branch does not have yet."""


@dataclass
class Outcome:
    id: str
    category: str
    same: bool  # the truth
    joined: bool | None  # what the project did; None when skipped
    reason: str
    note: str = ""  # why it was skipped, or what each record became
    errors: list[str] = field(default_factory=list)  # a record its parser could not read

    @property
    def verdict(self) -> str:
        if self.joined is None:
            return "skipped"
        return {(True, True): "TP", (False, True): "FP", (True, False): "FN",
                (False, False): "TN"}[(self.same, self.joined)]


@dataclass
class Figures:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    skipped: int = 0

    def add(self, verdict: str) -> None:
        name = verdict.lower()
        setattr(self, name, getattr(self, name) + 1)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall}


@dataclass
class Measurement:
    outcomes: list[Outcome]
    seconds: float = 0.0
    total: Figures = field(default_factory=Figures)
    categories: dict[str, Figures] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for outcome in self.outcomes:
            self.total.add(outcome.verdict)
            self.categories.setdefault(outcome.category, Figures()).add(outcome.verdict)

    def of(self, verdict: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.verdict == verdict]

    def to_dict(self) -> dict[str, Any]:
        return {"pairs": len(self.outcomes), "seconds": round(self.seconds, 2),
                "total": self.total.to_dict(),
                "categories": {name: figures.to_dict()
                               for name, figures in self.categories.items()},
                "false_joins": [asdict(o) for o in self.of("FP")],
                "misses": [asdict(o) for o in self.of("FN")],
                "skipped": [{"id": o.id, "note": o.note} for o in self.of("skipped")],
                "unreadable": [asdict(o) for o in self.outcomes if o.errors]}


# --- the set -----------------------------------------------------------------------------------

def load_pairs(path: Path = SET) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


# --- parsing a payload by its source's own parser ----------------------------------------------

def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def parse_payload(source: str, payload: str) -> SourceRecord:
    """The one record *payload* holds, read by the source's own parser. A feed payload is a
    whole feed document (what the feed source fetches); every other source's is one raw record
    as the source keeps it (``SourceSpec.parse_records``)."""
    spec = REGISTRY.get(source)
    if source == "feed":
        records = _feed_records(payload)
    elif spec is None or spec.parse_records is None:
        raise Skip(f"no {source} parser on this branch")
    else:
        records = spec.parse_records([payload])
    if len(records) != 1:
        raise ValueError(f"{source}: expected one record, the parser returned {len(records)}")
    return identified(records[0])


def _feed_records(payload: str) -> list[SourceRecord]:
    parser = _optional("watcher.parsers.feed")
    if parser is None or not hasattr(parser, "parse_feed"):
        raise Skip("no feed parser on this branch")
    return list(parser.parse_feed(payload.encode("utf-8"), url=FEED_URL).records)


# --- look-up answers into version links, by the look-up step's own parsers ---------------------

def links_from_lookup(via: str, payload: str) -> list[VersionLink]:
    """The version links a look-up answer asserts (bioRxiv ``/pubs``, Crossref ``works``),
    read by the parsers the post-poll look-up step uses (``watcher.lookups``)."""
    if via == "biorxiv":
        biorxiv = _optional("watcher.lookups.biorxiv")
        if biorxiv is None:
            raise Skip("no bioRxiv look-up parser on this branch")
        return list(biorxiv.parse_pubs(payload).links)
    if via == "crossref":
        crossref = _optional("watcher.lookups.crossref")
        if crossref is None:
            raise Skip("no Crossref look-up parser on this branch")
        return [link for work in crossref.parse_answer(payload) for link in work.links]
    raise ValueError(f"unknown look-up {via!r}")


# --- one pair ----------------------------------------------------------------------------------

def _apply_link() -> Callable[..., Any]:
    identity = _optional("watcher.identity")
    if identity is None or not hasattr(identity, "apply_link"):
        raise Skip("no watcher.identity.apply_link on this branch")
    return identity.apply_link


def run_pair(pair: dict[str, Any], config: Config, query: Query, folder: Path) -> Outcome:
    outcome = Outcome(pair["id"], pair["category"], pair["same"], None, pair["reason"])
    try:
        records = [parse_payload(side["source"], side["payload"])
                   for side in (pair["a"], pair["b"])]
        apply_link = _apply_link() if pair.get("lookups") else None
        links = [link for lookup in pair.get("lookups") or []
                 for link in links_from_lookup(lookup["via"], lookup["payload"])]
    except Skip as exc:
        outcome.note = str(exc)
        return outcome
    store = Store(folder / f"{pair['id']}.db")
    try:
        for side, record in zip((pair["a"], pair["b"]), records, strict=True):
            source = side["source"]
            result = FetchResult(scheme=REGISTRY[source].scheme if source in REGISTRY else "",
                                 matched=[record.source_id], records=[record])
            keep(config, query, source, result, store, NOW, Kept())
        for link in links:
            apply_link(store, config, link, NOW)
        studies = [_study_of(store, side["source"], record.source_id)
                   for side, record in zip((pair["a"], pair["b"]), records, strict=True)]
    finally:
        store.conn.close()
    outcome.errors = [record.error or "" for record in records if record.study is None]
    outcome.joined = studies[0] is not None and studies[0] == studies[1]
    outcome.note = "; ".join(
        f"{side['source']} {record.source_id}: "
        + (f"study {study}" if study is not None else f"no study ({record.error})")
        for side, record, study in zip((pair["a"], pair["b"]), records, studies, strict=True))
    return outcome


def _study_of(store: Store, source: str, source_id: str) -> int | None:
    """The study the kept record belongs to now (after any merge)."""
    for row in store.records(source):
        if row["source_id"] == source_id:
            return row["study_id"]
    return None


def measure(pairs: Iterable[dict[str, Any]] | None = None) -> Measurement:
    pairs = load_pairs() if pairs is None else list(pairs)
    config = config_module.load(ROOT / "queries")
    query = config.queries[0]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_merge_") as folder:
        outcomes = [run_pair(pair, config, query, Path(folder)) for pair in pairs]
    return Measurement(outcomes, time.perf_counter() - started)


# --- report ------------------------------------------------------------------------------------

def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def report(measurement: Measurement) -> str:
    lines = [f"{len(measurement.outcomes)} pairs in {measurement.seconds:.1f} s", "",
             "| category | pairs | TP | FP | FN | TN | skipped | precision | recall |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    rows = sorted(measurement.categories.items()) + [("**all**", measurement.total)]
    for name, f in rows:
        count = f.tp + f.fp + f.fn + f.tn + f.skipped
        lines.append(f"| {name} | {count} | {f.tp} | {f.fp} | {f.fn} | {f.tn} | {f.skipped} |"
                     f" {_pct(f.precision)} | {_pct(f.recall)} |")
    for title, verdict in (("False joins (two studies made one)", "FP"),
                           ("Misses (one study left as two)", "FN")):
        found = measurement.of(verdict)
        lines += ["", f"{title}: {len(found)}"]
        lines += [f"- {o.id}: {o.reason} [{o.note}]" for o in found]
    unreadable = [o for o in measurement.outcomes if o.errors]
    if unreadable:
        lines += ["", f"Records their parser could not read: {len(unreadable)}"]
        lines += [f"- {o.id}: {'; '.join(o.errors)}" for o in unreadable]
    skipped = measurement.of("skipped")
    if skipped:
        reasons: dict[str, int] = {}
        for o in skipped:
            reasons[o.note] = reasons.get(o.note, 0) + 1
        lines += ["", f"Skipped: {len(skipped)}"]
        lines += [f"- {count}: {note}" for note, count in sorted(reasons.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--only", help="one category only")
    args = parser.parse_args(argv)
    pairs = [p for p in load_pairs() if not args.only or p["category"] == args.only]
    measurement = measure(pairs)
    print(report(measurement))
    if args.json:
        args.json.write_text(json.dumps(measurement.to_dict(), indent=1) + "\n")
    return 1 if measurement.total.fp else 0


if __name__ == "__main__":
    sys.exit(main())
