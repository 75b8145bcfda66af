"""CPU and memory per record: N real-sized PubMed records (the fixtures renumbered, as
bench_poll.py does) from efetch answer to stored study, without HTTP or rate limits.

    .venv/bin/python benchmarks/bench_records.py [N] [--batch 500] [--memory] [--profile]

Each answer of *batch* records is built on the fly (so the benchmark itself holds one answer
at a time), parsed by ``parse_efetch_records`` and stored by ``save_record`` inside one
transaction per answer, into a database file in a temporary folder. Prints CPU milliseconds
per record (``time.process_time``) for parsing and for storing, and the process's peak
resident memory. ``--memory`` also traces Python allocations (tracemalloc: slower, so its CPU
figures are not comparable) and prints the peak and what is still held after all answers;
``--profile`` prints cProfile's top functions by own time. Figures go to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import sys
import tempfile
import time
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import PUBMED_FILES, renumbered  # noqa: E402
from watcher.db import Store  # noqa: E402
from watcher.fakes.eutils import PUBMED_DOCTYPE  # noqa: E402
from watcher.parsers.pubmed import parse_efetch_records  # noqa: E402

_MARK = "77777777"  # a PMID no fixture uses, replaced by each record's own


def templates() -> list[str]:
    """Each real fixture record (with a PubmedArticle) as text, its PMID, DOI and PMCID marked."""
    paths = [p for p in PUBMED_FILES if b"<PubmedArticle>" in p.read_bytes()]
    return [ET.tostring(renumbered(p, _MARK), encoding="unicode") for p in paths]


def answers(count: int, batch: int, first: int = 90_000_000) -> Iterator[bytes]:
    """efetch answers of *batch* records each, *count* in all, built one at a time."""
    texts = templates()
    for start in range(0, count, batch):
        records = [texts[n % len(texts)].replace(_MARK, str(first + n))
                   for n in range(start, min(count, start + batch))]
        yield ('<?xml version="1.0" ?>\n' + PUBMED_DOCTYPE + "\n<PubmedArticleSet>\n"
               + "\n".join(records) + "\n</PubmedArticleSet>\n").encode("utf-8")


def run(count: int, batch: int, store: Store) -> tuple[float, float, int, int]:
    """Parse and store *count* records; returns CPU seconds parsing, storing, records stored
    and input bytes."""
    parse_cpu = store_cpu = 0.0
    stored = size = 0
    now = "2026-12-06T00:00:00+00:00"
    for answer in answers(count, batch):
        size += len(answer)
        started = time.process_time()
        records = parse_efetch_records(answer)
        parsed = time.process_time()
        with store.transaction():
            for record in records:
                # (getattr: the same script measures the code before records were held packed)
                payload = getattr(record, "packed", None) or record.raw
                store.save_record("pubmed", record.source_id, payload, record.study, now,
                                  modified=record.modified, parse_error=record.error)
                stored += 1
        store_cpu += time.process_time() - parsed
        parse_cpu += parsed - started
        del records, answer
    return parse_cpu, store_cpu, stored, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("count", type=int, nargs="?", default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "w.db")
        list(answers(1, 1))  # templates built once before measuring (imports, fixtures)
        if args.memory:
            tracemalloc.start()
        profile = cProfile.Profile() if args.profile else None
        wall = time.perf_counter()
        if profile:
            profile.enable()
        parse_cpu, store_cpu, stored, size = run(args.count, args.batch, store)
        if profile:
            profile.disable()
        wall = time.perf_counter() - wall
        per = 1000 / max(stored, 1)
        print(f"{stored} records ({size / stored / 1000:.1f} KB of XML each) in answers of "
              f"{args.batch}: parse {parse_cpu * per:.2f} ms CPU/record, store "
              f"{store_cpu * per:.2f} ms, total {(parse_cpu + store_cpu) * per:.2f} ms; "
              f"wall {wall:.1f} s")
        if args.memory:
            held, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"python allocations: peak {peak / 1e6:.1f} MB, still held after all "
                  f"answers {held / 1e6:.1f} MB")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"peak resident memory {rss / 1024:.0f} MB; database "
              f"{(Path(tmp) / 'w.db').stat().st_size / 1e6:.1f} MB")
        store.close()
        if profile:
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
