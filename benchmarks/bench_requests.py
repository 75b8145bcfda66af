"""Requests, rate-limit floor, memory and CPU of a watcher run, against what the protocol and
NCBI's rate limit allow and against the plain Biopython loop a researcher would write.

    .venv/bin/python benchmarks/bench_requests.py            # requests and history scenarios
    .venv/bin/python benchmarks/bench_requests.py --quick    # 0 and 50 new, history 1,000 only
    .venv/bin/python benchmarks/bench_requests.py --parts backfill --backfill 25000,100000

Not part of the test run. Writes benchmarks/results/<UTC time>-<commit>.json and .md (the
tables, with the machine, command, date and commit) and prints the tables. The definitions
(protocol minimum, rate-limit floor) are in benchmarks/README.md and in ``minimum_*``/``floor``
below. The servers run in a subprocess (bench_servers.py); the history and back-fill figures
are measured in a fresh child process each, so peak memory is that run's own.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench_corpus import QUERY_IDS, everything_query, per_query, write_queries  # noqa: E402
from bench_servers import Servers  # noqa: E402

from watcher import config as config_module  # noqa: E402
from watcher import pipeline  # noqa: E402
from watcher.db import Store  # noqa: E402
from watcher.settings import Settings  # noqa: E402

RESULTS = HERE / "results"
NCBI_RATE = {False: 3, True: 10}  # requests/s NCBI allows without / with an api_key
CTGOV_RATE = 1.0  # requests/s assumed for ClinicalTrials.gov (the watcher's default)
EFETCH_IDS = 500  # ids per efetch the minimum assumes (the watcher's batch)
ESEARCH_IDS = 9999  # ids one esearch lists at most: a back-fill needs one search per 9,999
CTGOV_PAGE = 1000  # the API's largest page
HISTORY_OLD = 120  # PubMed records (and 24 trials) already stored before the measured run
#: The stored history's last poll was this many hours before the measured run: an hourly or
#: few-hourly schedule, within the day of its corrections search (see minimum_pubmed).
WARMUP_HOURS_AGO = 6
NCBI = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"


# --- definitions -----------------------------------------------------------------------------

def minimum_pubmed(queries: int, unknown: int, *, corrections: bool = False) -> int:
    """One esearch per query, one efetch per 500 unknown ids across the run (no query here
    lists more than esearch's 9,999 ids), and the corrections search only when one is due
    (once a day: WATCHER_CORRECTIONS_EVERY_HOURS)."""
    return queries + (1 if corrections else 0) + math.ceil(unknown / EFETCH_IDS)


def minimum_ctgov(found: dict[str, int]) -> tuple[int, int]:
    """(requests, longest chain): one /version per run (the registry's data day bounds the
    window), then per query one /studies page per 1,000 studies found (at least one)."""
    pages = [max(1, math.ceil(n / CTGOV_PAGE)) for n in found.values()]
    return 1 + sum(pages), 1 + max(pages)


def floor(requests: int, rate: float, latency: float, chain: int) -> float:
    """The least wall time: *requests* sent at *rate* (the first at once), plus one latency
    per step that must wait for an answer (*chain*: esearch then efetch = 2)."""
    return max(requests - 1, 0) / rate + chain * latency


def per_second_floor(requests: int, rate: float, latency: float, chain: int) -> float:
    """The least wall time when the limit is counted per second, as NCBI counts it: up to the
    rate in each second, the first at once (12 at 3/s go in the seconds 0, 1, 2 and 3), plus
    the same latencies. Stricter than *floor*, which spaces every request evenly."""
    return max(math.ceil(requests / max(1, int(rate))) - 1, 0) + chain * latency


def add_per_second_floors(rows: list[dict[str, Any]], latency: float) -> None:
    """Each PubMed row's per-second floor and its wall against it."""
    for row in rows:
        if row["source"] == "pubmed":
            least = per_second_floor(row["minimum"], NCBI_RATE[bool(row["api_key"])], latency,
                                     2 if row["new"] else 1)
            row["floor_per_second_s"] = round(least, 2)
            row["wall_over_floor_per_second"] = round(row["wall_s"] / least, 2)


# --- one scenario ----------------------------------------------------------------------------

def env_for(eutils: str, queries: Path, db: Path, *, key: bool, ctgov: str = "http://127.0.0.1:9/",
            fast: bool = False) -> dict[str, str]:
    """The watcher's environment for one run against the local servers."""
    env = {
        "WATCHER_QUERIES": str(queries), "WATCHER_DB": str(db),
        "WATCHER_EUTILS_URL": eutils, "WATCHER_CTGOV_URL": ctgov,
        "NCBI_EMAIL": "bench@example.org",
        # The look-ups after a poll (Crossref, bioRxiv, Europe PMC) are not this protocol.
        "WATCHER_LOOKUPS_PER_RUN": "0",
        "WATCHER_CROSSREF_URL": "http://127.0.0.1:9/", "WATCHER_BIORXIV_URL": "http://127.0.0.1:9/",
        "WATCHER_EUROPEPMC_URL": "http://127.0.0.1:9/rest/",
        "WATCHER_ISRCTN_URL": "http://127.0.0.1:9/api/",
        "SLACK_BOT_TOKEN": "", "SLACK_WEBHOOK_URL": "", "SMTP_HOST": "",
    }
    if key:
        env["NCBI_API_KEY"] = "benchmark-key"
    if fast:  # building history, not measured: the local servers need no sparing
        env.update(WATCHER_NCBI_RATE="1000", WATCHER_CTGOV_RATE="1000")
    return env


def run_poll(env: dict[str, str], now: datetime) -> tuple[float, Any]:
    settings = Settings.from_env(env)
    cfg = config_module.load(settings.queries)
    store = Store(settings.db)
    try:
        started = time.perf_counter()
        report = pipeline.poll_run(cfg, store, settings, now=now)
        return time.perf_counter() - started, report
    finally:
        store.close()


def outcome_summary(report: Any) -> dict[str, Any]:
    return {"seen": sum(getattr(o, "seen", 0) for o in report.outcomes),
            "new": sum(getattr(o, "new", 0) for o in report.outcomes),
            "errors": sorted({o.error for o in report.outcomes if o.error})}


def biopython_loop(url: str, terms: dict[str, str], start: date, end: date,
                   key: bool) -> dict[str, Any]:
    """What a researcher writes: per query, Entrez.esearch over the window then Entrez.efetch of
    every id found, Entrez.read on both; Biopython's own throttle (0.37 s between requests, 0.1 s
    with an api_key) and retries (a 429 waits Entrez.sleep_between_tries, 15 s)."""
    from Bio import Entrez

    Entrez.email = "bench@example.org"
    Entrez.api_key = "benchmark-key" if key else None
    original = Entrez._build_request

    def local(cgi: str, *args: Any, **kwargs: Any) -> Any:  # Bio.Entrez hard-codes NCBI's URL
        return original(cgi.replace(NCBI, url), *args, **kwargs)

    Entrez._build_request = local
    fetched, unique = 0, set()
    started = time.perf_counter()
    try:
        for term in terms.values():
            with Entrez.esearch(db="pubmed", term=term, datetype="edat", retmax=10000,
                                mindate=start.strftime("%Y/%m/%d"),
                                maxdate=end.strftime("%Y/%m/%d")) as handle:
                ids = Entrez.read(handle)["IdList"]
            if not ids:
                continue
            with Entrez.efetch(db="pubmed", id=list(ids), retmode="xml") as handle:
                articles = Entrez.read(handle)["PubmedArticle"]
            fetched += len(articles)
            unique.update(str(a["MedlineCitation"]["PMID"]) for a in articles)
    finally:
        Entrez._build_request = original
        Entrez.api_key = None
    return {"wall": time.perf_counter() - started, "records": fetched, "unique": len(unique),
            "duplicates": fetched - len(unique)}


def requests_part(servers: Servers, tmp: Path, sizes: list[int], keys: list[bool],
                  latency: float, biopython: bool) -> list[dict[str, Any]]:
    today = datetime.now(UTC).date()
    now = datetime.combine(today, datetime.min.time(), UTC).replace(hour=12)
    both = write_queries(tmp / "q-both")
    pubmed_only = write_queries(tmp / "q-pubmed", ("pubmed",)).parent
    ctgov_only = write_queries(tmp / "q-ctgov", ("clinicaltrials",)).parent
    terms = {q.id: q.search("pubmed").terms
             for q in config_module.load(pubmed_only).queries}
    # The history: a run WARMUP_HOURS_AGO stored HISTORY_OLD records and trials (its first
    # poll, so its corrections position is its window's end); built once, fast.
    warm = tmp / "warm.db"
    servers.limits(latency=0, rate=None, keyed=None)
    servers.control("corpus", today=today.isoformat(), old=HISTORY_OLD, new=0)
    warmed = now - timedelta(hours=WARMUP_HOURS_AGO)
    _, report = run_poll(env_for(servers.eutils, both.parent, warm, key=True,
                                 ctgov=servers.ctgov, fast=True), warmed)
    assert not report.failures, report.error_lines()
    start = warmed.date() - timedelta(days=2)  # the measured window: overlap 2 days
    rows: list[dict[str, Any]] = []
    if 0 in sizes:  # the day's run whose corrections search is due, nothing new
        servers.control("corpus", today=today.isoformat(), old=HISTORY_OLD, new=0)
        for key in keys:
            db = tmp / f"daily-{key}.db"
            shutil.copy(warm, db)
            servers.limits(latency=latency, rate=NCBI_RATE[False], keyed=NCBI_RATE[True])
            servers.reset()
            env = env_for(servers.eutils, pubmed_only, db, key=key)
            env["WATCHER_CORRECTIONS_EVERY_HOURS"] = "0"  # due now, as once a day
            wall, report = run_poll(env, now)
            stats = servers.stats()
            minimum = minimum_pubmed(len(QUERY_IDS), 0, corrections=True)
            least = floor(minimum, NCBI_RATE[key], latency, 1)
            rows.append({"kind": "watcher", "source": "pubmed", "new": 0, "api_key": key,
                         "corrections_due": True, "requests": stats["eutils"]["requests"],
                         "by_endpoint": stats["eutils"], "minimum": minimum,
                         "requests_over_minimum": round(stats["eutils"]["requests"] / minimum,
                                                        2),
                         "http_429": stats["eutils"]["throttled"], "wall_s": round(wall, 2),
                         "floor_s": round(least, 2), "wall_over_floor": round(wall / least, 2),
                         **outcome_summary(report)})
            print(_line(rows[-1]), flush=True)
            os.unlink(db)
    for new in sizes:
        servers.limits(latency=0, rate=None, keyed=None)
        servers.control("corpus", today=today.isoformat(), old=HISTORY_OLD, new=new)
        found = per_query(new)
        for key in keys:
            servers.limits(latency=latency, rate=NCBI_RATE[False], keyed=NCBI_RATE[True])
            runs = [("pubmed", pubmed_only)] + ([("clinicaltrials", ctgov_only)]
                                               if key == keys[0] else [])
            db = tmp / f"run-{new}-{key}.db"
            shutil.copy(warm, db)
            for source, queries in runs:
                servers.reset()
                wall, report = run_poll(env_for(servers.eutils, queries, db, key=key,
                                                ctgov=servers.ctgov), now)
                stats = servers.stats()
                if source == "pubmed":
                    counted = stats["eutils"]
                    minimum = minimum_pubmed(len(QUERY_IDS), new)
                    rate, chain = NCBI_RATE[key], (2 if new else 1)
                else:
                    counted = stats["ctgov"]
                    minimum, chain = minimum_ctgov(found)
                    rate = CTGOV_RATE
                least = floor(minimum, rate, latency, chain)
                rows.append({"kind": "watcher", "source": source, "new": new,
                             "api_key": key if source == "pubmed" else None,
                             "requests": counted["requests"], "by_endpoint": counted,
                             "minimum": minimum, "requests_over_minimum":
                                 round(counted["requests"] / minimum, 2),
                             "http_429": stats["eutils"]["throttled"] if source == "pubmed"
                             else 0, "wall_s": round(wall, 2), "floor_s": round(least, 2),
                             "wall_over_floor": round(wall / least, 2),
                             **outcome_summary(report)})
                print(_line(rows[-1]), flush=True)
            os.unlink(db)
            if biopython:
                servers.reset()
                loop = biopython_loop(servers.eutils, terms, start, today, key)
                stats = servers.stats()["eutils"]
                minimum = minimum_pubmed(len(QUERY_IDS), new)
                least = floor(minimum, NCBI_RATE[key], latency, 2 if new else 1)
                rows.append({"kind": "biopython", "source": "pubmed", "new": new, "api_key": key,
                             "requests": stats["requests"], "by_endpoint": stats,
                             "minimum": minimum,
                             "requests_over_minimum": round(stats["requests"] / minimum, 2),
                             "http_429": stats["throttled"], "wall_s": round(loop["wall"], 2),
                             "floor_s": round(least, 2),
                             "wall_over_floor": round(loop["wall"] / least, 2),
                             "records": loop["records"], "unique": loop["unique"],
                             "duplicates": loop["duplicates"]})
                print(_line(rows[-1]), flush=True)
    add_per_second_floors(rows, latency)
    return rows


def _line(row: dict[str, Any]) -> str:
    key = {True: "key", False: "no key", None: "-"}[row.get("api_key")]
    extra = (f", {row['records']} records ({row['duplicates']} duplicates)"
             if row["kind"] == "biopython" else f", {row.get('new', 0)} stored"
             + (f", ERRORS {row['errors']}" if row.get("errors") else ""))
    due = " (corrections due)" if row.get("corrections_due") else ""
    return (f"  {row['kind']:9} {row['source']:14} new={row['new']:<5}{due} {key:6} "
            f"{row['requests']} requests (min {row['minimum']}), {row['http_429']} x 429, "
            f"{row['wall_s']:.1f} s (floor {row['floor_s']:.1f} s, x{row['wall_over_floor']})"
            f"{extra}")


# --- back-fill: one poll of N real-sized records, in a child process --------------------------

def peak_rss_mb() -> float:
    """This process's peak resident memory since it started (Linux VmHWM). Not ru_maxrss: a
    child keeps the ru_maxrss of the parent it was forked from (exec does not reset it), so
    after a big parent every child would report at least the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def backfill_child(eutils: str, count: int, latency: float) -> dict[str, Any]:
    """Runs in a fresh process: one query (all[sb]) whose first poll finds *count* records."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        queries = everything_query(tmp / "q").parent
        env = env_for(eutils, queries, tmp / "w.db", key=True)
        before = peak_rss_mb()
        profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
        cpu = time.process_time()
        if profile:  # BENCH_PROFILE=file.prof: where the poll's CPU goes (slower, so not timed)
            profile.enable()
        wall, report = run_poll(env, datetime.now(UTC))
        cpu = time.process_time() - cpu
        if profile:
            profile.disable()
            profile.dump_stats(os.environ["BENCH_PROFILE"])
        peak = peak_rss_mb()
        summary = outcome_summary(report)
        size = (tmp / "w.db").stat().st_size
    return {"kind": "backfill", "records": count, **summary, "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1), "cpu_ms_per_record": round(1000 * cpu / max(count, 1), 2),
            "peak_rss_mb": peak, "rss_before_mb": before,
            "database_mb": round(size / 1e6, 1)}


def backfill_part(servers: Servers, sizes: list[int], latency: float) -> list[dict[str, Any]]:
    rows = []
    today = datetime.now(UTC).date()
    for count in sizes:
        servers.limits(latency=0, rate=None, keyed=None)
        servers.control("corpus", today=today.isoformat(), new=count, mode="backfill", days=28)
        servers.limits(latency=latency, rate=NCBI_RATE[False], keyed=NCBI_RATE[True])
        servers.reset()
        row = _child(["backfill", servers.eutils, str(count), str(latency)])
        stats = servers.stats()["eutils"]
        # A first poll: no corrections search (nothing stored to correct).
        minimum = math.ceil(count / ESEARCH_IDS) + math.ceil(count / EFETCH_IDS)
        least = floor(minimum, NCBI_RATE[True], latency, 2)
        row.update(requests=stats["requests"], http_429=stats["throttled"], by_endpoint=stats,
                   minimum=minimum, floor_s=round(least, 2),
                   wall_over_floor=round(row["wall_s"] / least, 2))
        rows.append(row)
        print(f"  back-fill of {count:,}: {row['wall_s']} s, {row['requests']} requests, "
              f"{row['http_429']} x 429, CPU {row['cpu_ms_per_record']} ms/record, peak "
              f"{row['peak_rss_mb']} MB (before the poll {row['rss_before_mb']} MB)", flush=True)
    servers.control("corpus", today=today.isoformat(), new=0)  # free the server's memory
    return rows


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(Path(__file__)), "--child", *args], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"child {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- output ----------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()

    return {"cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "load_average": os.getloadavg(),
            "commit": git("rev-parse", "HEAD"), "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def _per_second(row: dict[str, Any]) -> str:
    if "floor_per_second_s" not in row:
        return ""
    return f"{row['wall_over_floor_per_second']} ({row['floor_per_second_s']:.1f} s)"


def tables(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [f"Measured {result['started']} on {m['cores']} cores ({m['platform']}, Python "
             f"{m['python']}, load average at start {m['load_average'][0]:.2f}), commit "
             f"{m['commit'][:10]}{' (uncommitted changes)' if m['dirty'] else ''} "
             f"({m['branch']}); command `{result['command']}`; latency "
             f"{result['latency_s'] * 1000:.0f} ms per request.", ""]
    rows = result.get("requests", [])
    if rows:
        lines += ["PubMed (12 queries; NCBI's limit 3/s, 10/s with a key):", "",
                  "| new | key | watcher requests (min) | 429s | wall (floor) | wall ÷ floor "
                  "| ÷ per-second floor | Biopython loop requests | 429s | wall | wall ÷ floor "
                  "| ÷ per-second floor | records (duplicates) |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
                  "| --- |"]
        for row in rows:
            if row["kind"] != "watcher" or row["source"] != "pubmed":
                continue
            loop = next((r for r in rows if r["kind"] == "biopython" and r["new"] == row["new"]
                         and r["api_key"] == row["api_key"]), None)
            due = " (daily run: corrections due)" if row.get("corrections_due") else ""
            left = (f"| {row['new']:,}{due} | {'yes' if row['api_key'] else 'no'} | "
                    f"{row['requests']} ({row['minimum']}) = {row['requests_over_minimum']}× | "
                    f"{row['http_429']} | {row['wall_s']:.1f} s ({row['floor_s']:.1f} s) | "
                    f"{row['wall_over_floor']} | {_per_second(row)} |")
            right = (f" {loop['requests']} | {loop['http_429']} | {loop['wall_s']:.1f} s | "
                     f"{loop['wall_over_floor']} | {_per_second(loop)} | "
                     f"{loop['records']:,} ({loop['duplicates']:,}) |"
                     if loop else " | | | | | |")
            lines.append(left + right)
        lines += ["", "ClinicalTrials.gov (12 queries; 1 request/s assumed, no key):", "",
                  "| new | requests (min) | wall (floor) | wall ÷ floor | studies listed |",
                  "| --- | --- | --- | --- | --- |"]
        for row in rows:
            if row["source"] == "clinicaltrials":
                lines.append(f"| {row['new']:,} | {row['requests']} ({row['minimum']}) = "
                             f"{row['requests_over_minimum']}× | {row['wall_s']:.1f} s "
                             f"({row['floor_s']:.1f} s) | {row['wall_over_floor']} | "
                             f"{row['seen']:,} |")
    history = result.get("history", [])
    if history:
        lines += ["", "50 new records (PubMed, 12 queries, key) over a stored history:", "",
                  "| stored studies | poll (its CPU) | requests | digest (its CPU) | peak memory "
                  "| database |", "| --- | --- | --- | --- | --- | --- |"]
        for row in history:
            lines.append(f"| {row['stored']:,} | {row['poll_s']:.2f} s ({row['poll_cpu_s']:.2f} s) "
                         f"| {row['requests']} | {row['digest_s']:.2f} s "
                         f"({row['digest_cpu_s']:.2f} s, {row['digest_items']} items) | "
                         f"{row['peak_rss_mb']:.0f} MB | {row['database_mb']:,.0f} MB |")
    backfill = result.get("backfill", [])
    if backfill:
        lines += ["", "One poll of N new real-sized records (one query, all[sb], key):", "",
                  "| records | wall (floor) | requests (min) | 429s | CPU per record | peak memory "
                  "| database |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for row in backfill:
            lines.append(f"| {row['records']:,} | {row['wall_s']:.0f} s ({row['floor_s']:.1f} s) "
                         f"| {row['requests']} ({row['minimum']}) | "
                         f"{row['http_429']} | {row['cpu_ms_per_record']} ms | "
                         f"{row['peak_rss_mb']:,.0f} MB | {row['database_mb']:,.0f} MB |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="0 and 50 new records, history over 1,000 only (a back-fill: 5,000)")
    parser.add_argument("--parts", default="requests,history",
                        help="comma-separated: requests, history, backfill (default: the first "
                             "two; the back-fill takes minutes: --parts backfill)")
    parser.add_argument("--sizes", default="0,50,1000,5000", help="new records per scenario")
    parser.add_argument("--keys", default="no,yes", help="without and/or with an API key")
    parser.add_argument("--history", default="1000,1000000", help="stored studies")
    parser.add_argument("--backfill", default="25000", help="records of one back-fill poll")
    parser.add_argument("--latency", type=float, default=0.15, help="seconds added per request")
    parser.add_argument("--no-biopython", action="store_true")
    parser.add_argument("--retable", metavar="JSON",
                        help="re-derive a results file's floors and rewrite its tables")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.retable:
        path = Path(args.retable)
        result = json.loads(path.read_text())
        add_per_second_floors(result.get("requests", []), result["latency_s"])
        path.write_text(json.dumps(result, indent=1) + "\n")
        path.with_suffix(".md").write_text(tables(result))
        print(tables(result))
        return
    if args.child:
        kind, *rest = args.child
        if kind == "backfill":
            print(json.dumps(backfill_child(rest[0], int(rest[1]), float(rest[2]))))
        elif kind == "history":
            from bench_history import history_child
            print(json.dumps(history_child(*rest)))
        return
    parts = set(args.parts.split(","))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    history = [int(s) for s in args.history.split(",") if s]
    backfill = [int(s) for s in args.backfill.split(",") if s]
    if args.quick:
        sizes, history, backfill = [0, 50], [1000], [5000]
    keys = [{"no": False, "yes": True}[k] for k in args.keys.split(",")]
    started = datetime.now(UTC)
    result: dict[str, Any] = {"started": started.strftime("%Y-%m-%d %H:%M UTC"),
                              "command": "python benchmarks/bench_requests.py "
                                         + " ".join(argv), "latency_s": args.latency,
                              "machine": machine(), "queries": QUERY_IDS}
    with Servers() as servers, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "requests" in parts:
            print("requests: 12 queries x PubMed and ClinicalTrials.gov", flush=True)
            result["requests"] = requests_part(servers, tmp, sizes, keys, args.latency,
                                               not args.no_biopython)
        if "history" in parts:
            from bench_history import history_part
            print("history: 50 new records over stored studies", flush=True)
            result["history"] = history_part(servers, tmp, history, args.latency, _child)
        if "backfill" in parts and backfill:
            print("back-fill: one poll of N real-sized records", flush=True)
            result["backfill"] = backfill_part(servers, backfill, args.latency)
    result["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    result["load_average_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    name = f"{started:%Y%m%dT%H%M%S}-{result['machine']['commit'][:8]}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    text = tables(result)
    (RESULTS / f"{name}.md").write_text(text)
    print("\n" + text)
    print(f"written: benchmarks/results/{name}.json and .md")


if __name__ == "__main__":
    main(sys.argv[1:])
