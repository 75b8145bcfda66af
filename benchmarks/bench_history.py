"""Poll and digest over a stored history of 1,000 and of 1,000,000 studies (bench_requests.py's
"history" part).

The history is built once and cached under /tmp/watcher-bench/ (named by the schema version, so
a new migration rebuilds it):

1. the seed (through the Store, as a poll writes it): the twelve queries' first poll, a day
   before the measured one, of 1,000 real PubMed records (bench_corpus), then digests to the
   terminal until nothing is pending, so every event is delivered history;
2. for 1,000,000: the seed's rows copied 999 times by the FIXTURE BUILDER below (benchmark-only
   SQL, INSERT ... SELECT into the Store's own tables after the Store ran its migrations): each
   copy k gets ids shifted by k x STRIDE, PMIDs by k x 1,000 (DOIs and PMCIDs suffixed), its
   dates k days earlier, so the history spans about three years, and its own run (the seed's
   runs copied, matches pointing at the copy's run: a real history's matches are spread over
   its runs, and the query-health check counts the matches of recent runs); the FTS index is
   filled by the schema's own triggers. The rows are the Store's own rows, renumbered, so their
   shapes (payloads, parsed JSON, events, sent outbox rows, joins) are exactly
   what the Store writes.

The measured run, in a fresh child process (peak memory is its own): 50 new records on the local
E-utilities server (new PMIDs each time, so the cached 1,000,000 can be reused: each run adds
its 50, which is noise at that size; the 1,000 is copied fresh), one logged poll of the twelve
PubMed queries (key, latency and NCBI's limit on), then the digest to the terminal.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_corpus import write_queries

from watcher import config as config_module
from watcher import pipeline
from watcher.db import Store
from watcher.db.schema import MIGRATIONS
from watcher.settings import Settings

CACHE = Path(os.environ.get("WATCHER_BENCH_CACHE", "/tmp/watcher-bench"))
SEED = 1000
STRIDE = 10_000  # id offset per copy: above any id of the seed
#: The fixture builder's version, in the cache's name: a change to it rebuilds the history.
FIXTURE = 2
NEW = 50


def _env(eutils: str, queries: Path, db: Path, *, fast: bool) -> dict[str, str]:
    """The measured run's environment: the corrections search in every run, so the run over
    1,000 (a fresh copy of the seed, whose last corrections search was a day ago) and the run
    over 1,000,000 (a cached file an earlier measured run may have searched today) send the
    same requests."""
    from bench_requests import env_for

    return {**env_for(eutils, queries, db, key=True, fast=fast),
            "WATCHER_CORRECTIONS_EVERY_HOURS": "0"}


def _next_run(db: Path) -> int:
    """Counts the measured runs on a cached history, so each run's new PMIDs are new to it
    (the history keeps what earlier runs added)."""
    meta_path = Path(str(db) + ".json")
    meta = json.loads(meta_path.read_text())
    meta["runs"] = meta.get("runs", 0) + 1
    meta_path.write_text(json.dumps(meta))
    return meta["runs"]


def _day(name: str) -> date:
    """The measured day of a cached history (its seed was polled the day before)."""
    return date.fromisoformat(json.loads(Path(name + ".json").read_text())["day"])


def seed(servers: Any, folder: Path) -> Path:
    """The 1,000-study seed, built through the Store (cached)."""
    path = CACHE / f"seed-{SEED}-schema{len(MIGRATIONS)}.db"
    if Path(str(path) + ".json").exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    day = datetime.now(UTC).date()
    queries = write_queries(folder / "q-history", ("pubmed",)).parent
    servers.limits(latency=0, rate=None, keyed=None)
    servers.control("corpus", today=day.isoformat(), old=SEED, new=0)
    env = _env(servers.eutils, queries, path, fast=True)
    settings = Settings.from_env(env)
    cfg = config_module.load(settings.queries)
    before = datetime.combine(day - timedelta(days=1), datetime.min.time(), UTC).replace(hour=12)
    store = Store(path)
    try:
        report = pipeline.poll_run(cfg, store, settings, now=before)
        assert not report.failures, report.error_lines()
        for _ in range(100):  # the terminal takes a page of items per digest
            sent = pipeline.deliver(cfg, store, settings, stream=io.StringIO(), now=before)
            if not any(o.items for o in sent):
                break
    finally:
        store.close()
    Path(str(path) + ".json").write_text(json.dumps({"day": day.isoformat(), "studies": SEED}))
    return path


# --- FIXTURE BUILDER: benchmark-only bulk SQL into the Store's own tables ----------------------

#: Per table, the columns to rewrite in copy k (:off = k * STRIDE, :pm = k * SEED, :k = k,
#: :runs = k * the seed's highest run id);
#: every other column is copied as is. Tables not named here are not per-study history.
SHIFTS: dict[str, dict[str, str]] = {
    "studies": {"id": "id + :off", "entry_date": "date(entry_date, :days)",
                "first_seen": "{ts:first_seen}", "updated": "{ts:updated}"},
    "study_ids": {"study_id": "study_id + :off",
                  "value": "CASE scheme WHEN 'pmid' THEN CAST(CAST(value AS INTEGER) + :pm AS TEXT)"
                           " ELSE value || '-h' || :k END"},
    "runs": {"id": "id + :runs", "started": "{ts:started}", "finished": "{ts:finished}"},
    "matches": {"study_id": "study_id + :off", "run_id": "run_id + :runs",
                "first_matched": "{ts:first_matched}"},
    "source_records": {"id": "id + :off", "study_id": "study_id + :off",
                       "source_id": "CAST(CAST(source_id AS INTEGER) + :pm AS TEXT)",
                       "fetched": "{ts:fetched}", "updated": "{ts:updated}"},
    "events": {"id": "id + :off", "study_id": "study_id + :off",
               "key": "CASE kind WHEN 'new' THEN 'new:' || (study_id + :off)"
                      " ELSE key || '#h' || :k END", "created": "{ts:created}"},
    "outbox": {"id": "id + :off", "event_id": "event_id + :off", "queued_at": "{ts:queued_at}",
               "sent_at": "{ts:sent_at}"},
    "study_joins": {"id": "id + :off", "study_id": "study_id + :off",
                    "merged_study": "merged_study + :off",
                    "source_id": "CAST(CAST(source_id AS INTEGER) + :pm AS TEXT)",
                    "joined": "{ts:joined}"},
}


def _expression(expr: str) -> str:
    if expr.startswith("{ts:"):
        column = expr[4:-1]
        return (f"CASE WHEN {column} IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S', "
                f"substr({column}, 1, 19), :days) || substr({column}, 20) END")
    return expr


def replicate(path: Path, copies: int) -> None:
    """Add *copies* renumbered copies of every per-study row of the seed at *path*."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")  # one big write, no WAL to checkpoint
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -400000")
        assert conn.execute("SELECT max(id) FROM studies").fetchone()[0] < STRIDE
        runs = conn.execute("SELECT max(id) FROM runs").fetchone()[0]
        for check in ("study_ids WHERE scheme = 'pmid' AND value", "source_records WHERE source_id",
                      "study_joins WHERE source_id"):  # PubMed only: ids are PMIDs
            bad = conn.execute(f"SELECT count(*) FROM {check} GLOB '*[^0-9]*'").fetchone()[0]
            assert bad == 0, f"{check}: the seed holds a non-PMID id"
        conn.execute("BEGIN")
        for table, shifts in SHIFTS.items():
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            conn.execute(f"CREATE TEMP TABLE seed_{table} AS SELECT * FROM {table}")
            select = ", ".join(_expression(shifts.get(c, c)) for c in columns)
            sql = (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} "
                   f"FROM temp.seed_{table}")
            for k in range(1, copies + 1):
                conn.execute(sql, {"off": k * STRIDE, "pm": k * SEED, "k": k,
                                   "runs": k * runs, "days": f"-{k} days"})
        conn.execute("COMMIT")
        # A million trigger inserts in one transaction leave the FTS index in many segments
        # that a history written poll by poll would have merged (FTS5's automerge) as it went.
        conn.execute("INSERT INTO studies_fts (studies_fts) VALUES ('optimize')")
        conn.execute("PRAGMA journal_mode = WAL")  # as the Store leaves it
    finally:
        conn.close()


# --- the measured run -------------------------------------------------------------------------

def history_db(servers: Any, folder: Path, stored: int) -> Path:
    """A database holding *stored* studies (a multiple of 1,000): a fresh copy of the seed for
    1,000, the cached replicated file otherwise (built once)."""
    base = seed(servers, folder)
    if stored == SEED:
        work = folder / "history-1000.db"
        shutil.copy(base, work)
        shutil.copy(str(base) + ".json", str(work) + ".json")
        return work
    path = CACHE / f"history-{stored}-schema{len(MIGRATIONS)}-fixture{FIXTURE}.db"
    if not Path(str(path) + ".json").exists():
        started = time.perf_counter()
        print(f"  building the cached history of {stored:,} studies (once) ...", flush=True)
        for stale in CACHE.glob(f"history-{stored}-schema*.db*"):  # an older schema's: 17 GB
            stale.unlink()
        shutil.copy(base, path)
        replicate(path, stored // SEED - 1)
        shutil.copy(str(base) + ".json", str(path) + ".json")
        print(f"  built in {time.perf_counter() - started:.0f} s: {path} "
              f"({path.stat().st_size / 1e9:.1f} GB)", flush=True)
    return path


def history_child(eutils: str, db: str, queries: str) -> dict[str, Any]:
    """In a fresh process: one logged poll (12 PubMed queries, 50 new), then the digest."""
    from bench_requests import peak_rss_mb

    day = _day(db)
    now = datetime.combine(day, datetime.min.time(), UTC).replace(hour=12)
    env = _env(eutils, Path(queries), Path(db), fast=False)
    settings = Settings.from_env(env)
    cfg = config_module.load(settings.queries)
    store = Store(db)  # migrations (if any) run here, outside the timings
    try:
        stored = store.conn.execute("SELECT count(*) FROM studies").fetchone()[0]
        cpu, started = time.process_time(), time.perf_counter()
        report = pipeline.poll_run(cfg, store, settings, now=now)
        poll_s, poll_cpu = time.perf_counter() - started, time.process_time() - cpu
        assert not report.failures, report.error_lines()
        cpu, started = time.process_time(), time.perf_counter()
        sent = pipeline.deliver(cfg, store, settings, stream=io.StringIO(), now=now)
        digest_s, digest_cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        store.close()
    return {"stored": stored, "poll_s": round(poll_s, 3), "poll_cpu_s": round(poll_cpu, 3),
            "new": sum(o.new for o in report.outcomes), "digest_s": round(digest_s, 3),
            "digest_cpu_s": round(digest_cpu, 3), "digest_items": sum(o.items for o in sent),
            "peak_rss_mb": peak_rss_mb(),
            "database_mb": round(Path(db).stat().st_size / 1e6, 1)}


def history_part(servers: Any, folder: Path, sizes: list[int], latency: float,
                 child: Callable[[list[str]], dict[str, Any]]) -> list[dict[str, Any]]:
    from bench_servers import NEW_PMID

    queries = write_queries(folder / "q-history", ("pubmed",)).parent
    rows = []
    for stored in sizes:
        db = history_db(servers, folder, stored)
        day = _day(str(db))
        first = NEW_PMID + 1_000_000 + NEW * _next_run(db)
        servers.limits(latency=0, rate=None, keyed=None)
        servers.control("corpus", today=day.isoformat(), old=SEED, new=NEW, first_new=first)
        servers.limits(latency=latency, rate=3, keyed=10)
        servers.reset()
        row = child(["history", servers.eutils, str(db), str(queries)])
        stats = servers.stats()["eutils"]
        row.update(requests=stats["requests"], http_429=stats["throttled"])
        rows.append(row)
        print(f"  {row['stored']:,} stored: poll {row['poll_s']:.2f} s (CPU {row['poll_cpu_s']:.2f}"
              f" s, {row['requests']} requests, {row['new']} new), digest {row['digest_s']:.2f} s"
              f" ({row['digest_items']} items), peak {row['peak_rss_mb']:.0f} MB", flush=True)
    return rows
