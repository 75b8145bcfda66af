"""Poll benchmark: one query over a window holding N real PubMed records (fixtures renumbered),
through the local E-utilities server, the real HTTP layer, parser and database.

    .venv/bin/python benchmarks/bench_poll.py [N]

Prints wall time of the first (full) poll and of the second (incremental, nothing new) poll,
requests sent, and the database size. Figures are recorded in benchmarks/README.md.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import PUBMED_FILES, renumbered  # noqa: E402
from watcher import config, pipeline  # noqa: E402
from watcher.db import Store  # noqa: E402
from watcher.fakes.eutils import EutilsServer  # noqa: E402
from watcher.settings import Settings  # noqa: E402

QUERY = """\
queries:
  - id: everything
    condition: Everything
    lookback_days: 30
    sources:
      pubmed:
        terms: all[sb]
"""


def main(count: int) -> None:
    today = datetime.now(UTC).date()
    with EutilsServer() as server, tempfile.TemporaryDirectory() as tmp:
        templates = [p for p in PUBMED_FILES if b"<PubmedArticle>" in p.read_bytes()]
        for n in range(count):
            article = renumbered(templates[n % len(templates)], str(90_000_000 + n))
            server.add_article(article, entry_date=today - timedelta(days=n % 28))
        queries = Path(tmp) / "queries"
        queries.mkdir()
        (queries / "q.yaml").write_text(QUERY)
        settings = Settings.from_env({"WATCHER_QUERIES": str(queries),
                                      "WATCHER_DB": str(Path(tmp) / "w.db"),
                                      "WATCHER_EUTILS_URL": server.url,
                                      "NCBI_API_KEY": "benchmark"})
        cfg = config.load(settings.queries)
        store = Store(settings.db)
        for label in ("first poll (all new)", "second poll (nothing new)"):
            server.requests.clear()
            started = time.perf_counter()
            report = pipeline.poll(cfg, store, settings)
            elapsed = time.perf_counter() - started
            outcome = report.outcomes[0]
            assert not outcome.error, outcome.error
            print(f"{label}: {elapsed:.2f}s, {outcome.seen} seen, {outcome.new} new, "
                  f"{len(server.requests)} requests, {outcome.seen / elapsed:,.0f} records/s")
        started = time.perf_counter()
        digest = pipeline.build_digest(cfg, store, "terminal", now=datetime.now(UTC)).digest
        print(f"build digest of {digest.total} pending: {time.perf_counter() - started:.2f}s")
        started = time.perf_counter()
        out = io.StringIO()
        outcome = pipeline.deliver(cfg, store, settings, stream=out)[0]
        assert outcome.sent, outcome.error
        print(f"deliver {outcome.items} items to the terminal (outbox states recorded): "
              f"{time.perf_counter() - started:.2f}s")
        started = time.perf_counter()
        counts = pipeline.reparse(cfg, store)
        print(f"reparse {counts['records']} kept raw records offline: "
              f"{time.perf_counter() - started:.2f}s")
        store.close()
        print(f"database: {Path(settings.db).stat().st_size / 1e6:.1f} MB for {count} studies")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
