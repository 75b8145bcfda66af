"""Back-fill benchmark: a new query with a ten-year look-back over N small synthetic PubMed
records (the local server's add_synthetic), through the whole pipeline minus delivery.

    .venv/bin/python benchmarks/bench_backfill.py [N [EFETCH_BATCH]]

Prints wall time, requests and where the time goes (fetch: HTTP and parsing; store: the poll's
transaction). Figures are recorded in benchmarks/README.md.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher import config, pipeline  # noqa: E402
from watcher.db import Store  # noqa: E402
from watcher.fakes.eutils import EutilsServer  # noqa: E402
from watcher.settings import Settings  # noqa: E402
from watcher.sources.pubmed import EFETCH_BATCH, PubMedSource  # noqa: E402

QUERY = """\
queries:
  - id: backfill
    condition: Ten years back
    lookback_days: 3650
    sources:
      pubmed:
        terms: ketamine[tiab]
"""


class Timed(PubMedSource):
    """The real source, timing its fetch (so the rest of the poll is the store)."""

    fetching = 0.0

    def fetch(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return super().fetch(*args, **kwargs)
        finally:
            Timed.fetching += time.perf_counter() - started


def main(count: int, batch: int = EFETCH_BATCH) -> None:
    today = datetime.now(UTC).date()
    with EutilsServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.add_synthetic(count, first_pmid=30_000_000, newest=today, days=3650)
        queries = Path(tmp) / "queries"
        queries.mkdir()
        (queries / "q.yaml").write_text(QUERY)
        settings = Settings.from_env({"WATCHER_QUERIES": str(queries),
                                      "WATCHER_DB": str(Path(tmp) / "w.db"),
                                      "WATCHER_EUTILS_URL": server.url,
                                      "NCBI_API_KEY": "benchmark"})
        cfg = config.load(settings.queries)
        store = Store(settings.db)
        for label in ("back-fill (all new)", "next poll (nothing new)"):
            server.requests.clear()
            Timed.fetching = 0.0
            with pipeline.client_for(settings) as http:
                started = time.perf_counter()
                report = pipeline.poll(cfg, store, settings, http=http,
                                       sources={"pubmed": Timed(settings.source("pubmed"), http,
                                                                fetch_batch=batch)})
                elapsed = time.perf_counter() - started
            outcome = report.outcomes[0]
            assert not outcome.error, outcome.error
            print(f"{label}: {elapsed:.1f}s ({Timed.fetching:.1f}s fetch, "
                  f"{elapsed - Timed.fetching:.1f}s store), {outcome.seen} seen, "
                  f"{outcome.new} new, {len(server.requests)} requests "
                  f"({len(server.calls('efetch'))} efetch), 429s: {server.throttled}")
        store.close()
        print(f"database: {Path(settings.db).stat().st_size / 1e6:.1f} MB for {count} studies")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3])) if len(sys.argv) > 1 else main(25_000)
