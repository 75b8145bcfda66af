"""Archive benchmark: `watcher archive DIR` over a store of N real PubMed records (fixtures
renumbered, entry dates spread over a year), filled by the real pipeline and delivered in one
digest to the terminal, under two queries (two condition pages, two charts).

    .venv/bin/python benchmarks/bench_archive.py [N [KEEP_DIR]]

Prints how long the archive takes (read, pages, charts, written), its files and size. Figures
are recorded in benchmarks/README.md. With KEEP_DIR, the archive is copied there (to open
it in a browser).
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import PUBMED_FILES, renumbered  # noqa: E402
from watcher import config, pipeline  # noqa: E402
from watcher.cli import main as cli  # noqa: E402
from watcher.db import Store  # noqa: E402
from watcher.fakes.eutils import EutilsServer  # noqa: E402
from watcher.settings import Settings  # noqa: E402

QUERY = """\
queries:
  - id: everything
    condition: Everything
    lookback_days: 400
    sources:
      pubmed:
        terms: all[sb]
  - id: depression
    condition: Depression
    lookback_days: 400
    sources:
      pubmed:
        terms: depressi*[tiab] OR "Depression"[Mesh]
"""


def main(count: int, keep: Path | None = None) -> None:
    today = datetime.now(UTC).date()
    with EutilsServer() as server, tempfile.TemporaryDirectory() as tmp:
        templates = [p for p in PUBMED_FILES if b"<PubmedArticle>" in p.read_bytes()]
        for n in range(count):
            article = renumbered(templates[n % len(templates)], str(90_000_000 + n))
            server.add_article(article, entry_date=today - timedelta(days=n % 365))
        queries = Path(tmp) / "queries"
        queries.mkdir()
        (queries / "q.yaml").write_text(QUERY)
        env = {"WATCHER_QUERIES": str(queries), "WATCHER_DB": str(Path(tmp) / "w.db"),
               "WATCHER_EUTILS_URL": server.url, "NCBI_API_KEY": "benchmark"}
        settings = Settings.from_env(env)
        cfg = config.load(settings.queries)
        store = Store(settings.db)
        started = time.perf_counter()
        pipeline.poll(cfg, store, settings)
        outcome = pipeline.deliver(cfg, store, settings, stream=io.StringIO())[0]
        assert outcome.sent, outcome.error
        store.close()
        print(f"store filled and delivered: {time.perf_counter() - started:.1f}s")
        for charts in ((), ("--no-charts",)):
            out = Path(tmp) / f"site{len(charts)}"
            started = time.perf_counter()
            result = CliRunner().invoke(cli, ["archive", str(out), *charts], env=env,
                                        catch_exceptions=False)
            elapsed = time.perf_counter() - started
            assert result.exit_code == 0, result.output
            files = list(out.iterdir())
            size = sum(f.stat().st_size for f in files)
            print(f"archive {' '.join(charts) or '(with charts)'}: {elapsed:.2f}s, "
                  f"{len(files)} files, {size / 1e6:.1f} MB, search index "
                  f"{(out / 'search-index.js').stat().st_size / 1e6:.1f} MB")
            print("  " + result.output.strip())
            if keep and not charts:
                shutil.copytree(out, keep, dirs_exist_ok=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
         Path(sys.argv[2]) if len(sys.argv) > 2 else None)
