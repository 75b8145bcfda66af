"""A local Crossref REST API on 127.0.0.1 for tests and the demo, serving works in Crossref's
real JSON shapes.

``GET /works?filter=doi:A,doi:B&rows=N`` answers a ``work-list`` holding the works it has among
those DOIs (the same filter repeated is OR'ed, as Crossref documents; other filters are not
modelled); ``GET /works/{doi}`` one ``work`` or 404. Every answer carries
``X-Rate-Limit-Limit`` / ``X-Rate-Limit-Interval``; a client asking faster than that is
answered 429 with ``Retry-After`` (counted in ``throttled``). Tests can also script the next
answers (a status and body; a scripted 429 carries Retry-After too), make answers slow
(``delay``), and read every request with the time it arrived (``requests``).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .base import LocalServer


@dataclass
class Request:
    path: str
    params: dict[str, str]
    at: float  # time.monotonic() when it arrived
    dois: list[str] = field(default_factory=list)  # asked for by this request


def work(doi: str, *, title: str = "", journal: str = "", updated_by: list[dict] | None = None,
         relation: dict | None = None, issued: tuple[int, ...] = (2024, 1, 15)) -> dict:
    """A ``work`` item in Crossref's shape (the fields watcher reads)."""
    item: dict[str, Any] = {"DOI": doi, "title": [title or f"Work {doi}"],
                            "container-title": [journal] if journal else [],
                            "issued": {"date-parts": [list(issued)]},
                            "type": "journal-article", "relation": relation or {}}
    if updated_by:
        item["updated-by"] = updated_by
    return item


def update(kind: str, notice_doi: str, *, source: str = "publisher", label: str = "",
           record_id: str = "") -> dict:
    """An ``updated-by`` entry as Crossref writes it (a Retraction Watch one has a record id)."""
    entry: dict[str, Any] = {"DOI": notice_doi, "type": kind,
                             "label": label or kind.replace("_", " ").capitalize(),
                             "source": source,
                             "updated": {"date-parts": [[2025, 3, 6]],
                                         "date-time": "2025-03-06T00:00:00Z"}}
    if record_id:
        entry["record-id"] = record_id
    return entry


class CrossrefServer(LocalServer):
    """``with CrossrefServer() as server:``; point WATCHER_CROSSREF_URL at ``server.url``."""

    def __init__(self, *, limit: int = 50, interval: int = 1, retry_after: int = 1) -> None:
        self.works: dict[str, dict] = {}  # lower-case DOI -> work item
        self.limit, self.interval, self.retry_after = limit, interval, retry_after
        self.scripted: list[tuple[int, str]] = []
        self.delay = 0.0  # seconds before each answer (a slow upstream)
        self.requests: list[Request] = []
        self.throttled = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def add(self, item: dict) -> str:
        """Serve *item* (a work as ``work()`` makes it, or a recorded answer's ``message``)."""
        with self._lock:
            self.works[item["DOI"].lower()] = copy.deepcopy(item)
        return item["DOI"]

    def add_answer(self, answer: dict) -> str:
        """Serve the work of a recorded ``/works/{doi}`` answer."""
        return self.add(answer["message"])

    def fail(self, status: int, body: str = "", times: int = 1) -> None:
        self.scripted.extend([(status, body)] * times)

    def asked(self) -> list[str]:
        """Every DOI asked for, in order."""
        return [doi for request in self.requests for doi in request.dois]

    def handle(self, path: str, params: dict[str, str]) -> tuple[int, dict, dict[str, str]]:
        now = time.monotonic()
        headers = {"X-Rate-Limit-Limit": str(self.limit),
                   "X-Rate-Limit-Interval": f"{self.interval}s"}
        if path.startswith("/works/"):
            dois = [unquote(path[len("/works/"):]).lower()]
        else:
            dois = [part[4:].lower() for part in params.get("filter", "").split(",")
                    if part.startswith("doi:")]
        with self._lock:
            request = Request(path, params, now, dois)
            self.requests.append(request)
            recent = [r for r in self.requests if now - r.at < self.interval]
            if len(recent) > self.limit or (self.scripted and self.scripted[0][0] == 429):
                if len(recent) <= self.limit:
                    self.scripted.pop(0)
                self.throttled += 1
                return 429, {"status": "error", "message": "rate limited"}, {
                    **headers, "Retry-After": str(self.retry_after)}
            if self.scripted:
                status, body = self.scripted.pop(0)
                return status, {"status": "error", "message": body or "scripted"}, headers
            works = dict(self.works)
        if path.startswith("/works/"):
            if dois[0] not in works:
                return 404, {"status": "error", "message": "Resource not found."}, headers
            return 200, {"status": "ok", "message-type": "work", "message-version": "1.0.0",
                         "message": works[dois[0]]}, headers
        if path.rstrip("/") != "/works":
            return 404, {"status": "error", "message": "Resource not found."}, headers
        rows = int(params.get("rows") or 20)
        items = [works[doi] for doi in dois if doi in works][:rows]
        return 200, {"status": "ok", "message-type": "work-list", "message-version": "1.0.0",
                     "message": {"facets": {}, "total-results": len(items), "items": items,
                                 "items-per-page": rows, "query": {"start-index": 0,
                                                                   "search-terms": None}}}, headers


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        app = self.app  # type: ignore[attr-defined]
        status, answer, headers = app.handle(parts.path, params)
        if app.delay:
            time.sleep(app.delay)
        body = json.dumps(answer).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            pass

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


CrossrefServer.handler = _Handler  # the server answers through this handler
