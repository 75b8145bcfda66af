"""Local E-utilities and ClinicalTrials.gov servers in their own process, for the benchmarks.

    python benchmarks/bench_servers.py     # prints {"eutils": URL, "ctgov": URL}, serves until
                                           # its stdin closes

A subprocess, so the servers' CPU (rendering thousands of records) is not counted in the
client's figures. Both are the project's fakes (watcher.fakes) speaking the real protocols, with
two additions for benchmarking: a latency added to every answer (default 150 ms, slept after the
answer is computed, in the server's request thread, so concurrent requests overlap as on the
network), and NCBI's rate limit switched on (EutilsServer.rate_limit / keyed_rate_limit: more
than 3 requests in any second, 10 with an api_key, are answered 429 with NCBI's real body). The
ClinicalTrials.gov fake enforces no limit. The benchmark drives them over HTTP under /_bench/
(corpus, limits, reset, stats); ``Servers`` below is that client.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from watcher.fakes.ctgov import CtgovServer  # noqa: E402
from watcher.fakes.eutils import EutilsServer  # noqa: E402

OLD_PMID, NEW_PMID, BACKFILL_PMID = 30_000_000, 31_000_000, 40_000_000
OLD_AGE_DAYS = 6  # history records entered this many days (or more) before today


class BenchCtgov(CtgovServer):
    latency = 0.0

    def handle(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        answer = super().handle(path, params)
        if self.latency:
            time.sleep(self.latency)
        return answer


class BenchEutils(EutilsServer):
    """The E-utilities fake, plus latency and the /_bench/ control endpoints."""

    latency = 0.0
    ctgov: BenchCtgov

    def handle(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if "/_bench/" in path:
            try:
                answer = self.control(path.rsplit("/", 1)[-1], params)
            except Exception as exc:  # the benchmark prints it and stops
                return 500, {"Content-Type": "text/plain"}, repr(exc).encode()
            return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()
        answer = super().handle(path, params)
        if self.latency:
            time.sleep(self.latency)
        return answer

    def control(self, action: str, params: dict[str, str]) -> dict[str, Any]:
        if action == "limits":
            self.latency = self.ctgov.latency = float(params.get("latency", 0))
            self.rate_limit = int(params["rate"]) if params.get("rate") else None
            self.keyed_rate_limit = int(params["keyed"]) if params.get("keyed") else None
            return {}
        if action == "reset":
            with self._lock:
                self.requests.clear()
                self.throttled = 0
            self.ctgov.requests.clear()
            return {}
        if action == "stats":
            with self._lock:
                paths = [path for _, path, _ in self.requests]
                throttled = self.throttled
            calls = [name for name, _ in self.ctgov.requests]
            return {"eutils": {"esearch": sum(p.endswith("esearch.fcgi") for p in paths),
                               "efetch": sum(p.endswith("efetch.fcgi") for p in paths),
                               "requests": len(paths), "throttled": throttled},
                    "ctgov": {"studies": calls.count("studies"), "version": calls.count("version"),
                              "study": calls.count("study"), "requests": len(calls)}}
        if action == "corpus":
            return self.build(params)
        raise ValueError(f"unknown action {action!r}")

    def build(self, params: dict[str, str]) -> dict[str, Any]:
        """Replace both corpora: *old* history records (entered OLD_AGE_DAYS or more before
        *today*) and *new* ones entered today or yesterday, each in PubMed and as trials; or,
        with mode=backfill, *new* real (untouched) PubMed records spread over *days* days."""
        from bench_corpus import PubMedTemplates, trial, trial_bases

        today = date.fromisoformat(params["today"])
        old, new = int(params.get("old", 0)), int(params.get("new", 0))
        templates = PubMedTemplates.load()
        records = {}
        if params.get("mode") == "backfill":
            days = int(params.get("days", 28))
            for n in range(new):
                entered = today - timedelta(days=n * days // max(new, 1))
                record = templates.record(n, BACKFILL_PMID + n, entered, topical=False)
                records[record.pmid] = record
        else:
            for n in range(old):
                entered = today - timedelta(days=OLD_AGE_DAYS + n % 20)
                record = templates.record(n, OLD_PMID + n, entered)
                records[record.pmid] = record
            first = int(params.get("first_new", NEW_PMID))
            for n in range(new):
                record = templates.record(n, first + n, today - timedelta(days=n % 2))
                records[record.pmid] = record
        with self._lock:
            self.records = records
        bases = trial_bases()
        studies = {}
        if params.get("mode") != "backfill":
            for n in range(old // 5):
                nct = f"NCT07{n:06d}"
                studies[nct] = trial(bases, n, nct, today - timedelta(days=OLD_AGE_DAYS + n % 20))
            for n in range(new):
                nct = f"NCT08{n:06d}"
                studies[nct] = trial(bases, n, nct, today - timedelta(days=n % 2))
        with self.ctgov._lock:
            self.ctgov.studies = studies
        self.ctgov.data_timestamp = datetime(today.year, today.month, today.day, 6)
        return {"pubmed": len(records), "trials": len(studies)}


def serve() -> None:
    with BenchCtgov() as ctgov, BenchEutils() as eutils:
        eutils.ctgov = ctgov
        print(json.dumps({"eutils": eutils.url, "ctgov": ctgov.url}), flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin (or exits)


class Servers:
    """The server process, seen from the benchmark."""

    def __enter__(self) -> Servers:
        self.process = subprocess.Popen([sys.executable, str(Path(__file__))], cwd=ROOT,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark servers did not start")
        urls = json.loads(line)
        self.eutils, self.ctgov = urls["eutils"], urls["ctgov"]
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def control(self, action: str, **params: Any) -> dict[str, Any]:
        url = self.eutils + "_bench/" + action + "?" + urlencode(
            {k: v for k, v in params.items() if v is not None})
        with urllib.request.urlopen(url, timeout=600) as answer:
            return json.loads(answer.read())

    def limits(self, *, latency: float, rate: int | None, keyed: int | None) -> None:
        self.control("limits", latency=latency, rate=rate, keyed=keyed)

    def stats(self) -> dict[str, Any]:
        return self.control("stats")

    def reset(self) -> None:
        self.control("reset")


if __name__ == "__main__":
    threading.current_thread().name = "bench-servers"
    serve()
