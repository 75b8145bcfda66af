"""A local ClinicalTrials.gov API v2 server on 127.0.0.1 for tests, benchmarks and the demo.

It serves real v2 study JSON (the recorded fixtures, or copies of one under new NCT ids):

- ``GET /version``: ``{"apiVersion", "dataTimestamp"}``; studies whose last update was posted
  after the data timestamp's day are not served yet, as in the registry's daily snapshot;
- ``GET /studies``: ``query.cond`` / ``query.intr`` / ``query.term``, ``filter.advanced`` with
  ``AREA[LastUpdatePostDate]RANGE[a,b]`` (MIN/MAX allowed), ``filter.ids``, ``pageSize`` (at most
  1,000), ``pageToken``, ``countTotal`` (``totalCount`` on the first page only) and
  ``nextPageToken`` on every page but the last, in the v2 shape;
- ``GET /studies/{nct}``: one study, or a 404 text body as the registry sends.

What it approximates: the search terms are evaluated simply, as a case-insensitive OR of
alternatives (``a OR "b c"``), each alternative an AND of quoted phrases and bare words
(``AND`` may be written), matched on whole words with hyphens read as spaces. Essie's stemming,
synonyms and MeSH expansion, ``NOT``, parentheses and ``AREA[]`` inside the terms are not
modelled (the server answers 400 naming what it does not support). Areas: ``query.cond`` reads
conditions, keywords, titles, acronym, condition MeSH terms and the NCT id; ``query.intr``
intervention names, other names, arm-group intervention names and intervention MeSH terms;
``query.term`` all of these plus the brief summary and lead sponsor. Results are ordered by NCT
id, not by relevance.

Tests can script the next answers (any status, body and content type; for one page number
only), drop the nextPageToken after a page, serve an empty page, or keep paging past the end
(``extra_pages``: more pages repeating the studies, each with a fresh nextPageToken).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .base import LocalServer
from .ctgov_query import UnsupportedQuery, matches, parse_terms, texts, update_range

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 10
API_VERSION = "2.0.5"


@dataclass
class Scripted:
    """An answer served instead of the real one."""

    status: int
    body: str
    content_type: str = "text/plain"
    endpoint: str | None = "studies"  # "studies", "version", "study" or None for any
    page: int | None = None  # only the request for this page (1 = first); None: the next one
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)


def studies_in(path: str | Path) -> list[dict[str, Any]]:
    """The v2 studies in a recorded file: one study, or a search page's ``studies``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("studies"), list):
        return data["studies"]
    if isinstance(data, dict) and "protocolSection" in data:
        return [data]
    raise ValueError(f"{path}: not ClinicalTrials.gov v2 study JSON")


def nct_of(study: dict[str, Any]) -> str:
    return study.get("protocolSection", {}).get("identificationModule", {}).get("nctId", "")


def last_update(study: dict[str, Any]) -> date | None:
    value = (study.get("protocolSection", {}).get("statusModule", {})
             .get("lastUpdatePostDateStruct", {}).get("date"))
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def renumbered(study: dict[str, Any], nct: str, title: str | None = None) -> dict[str, Any]:
    """A deep copy of a real study under another NCT id (and, optionally, another title)."""
    copied = copy.deepcopy(study)
    ident = copied.setdefault("protocolSection", {}).setdefault("identificationModule", {})
    ident["nctId"] = nct
    if title is not None:
        ident["briefTitle"] = title
    return copied


class CtgovServer(LocalServer):
    """Start with ``with CtgovServer() as server:``; point WATCHER_CTGOV_URL at server.url."""


    def __init__(self, *, data_timestamp: datetime | None = None):
        self.studies: dict[str, dict[str, Any]] = {}
        self.data_timestamp = data_timestamp or datetime.now(UTC).replace(microsecond=0,
                                                                          tzinfo=None)
        self.scripted: list[Scripted] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.no_token_after: set[int] = set()  # pages served without their nextPageToken
        self.empty_pages: set[int] = set()  # pages served with "studies": []
        #: Pages served after the last one, repeating the studies under fresh nextPageTokens:
        #: a registry that never stops paging (finite, so a client that does not stop fails
        #: a test instead of hanging it).
        self.extra_pages = 0
        #: nct -> edit applied to the study as served (a broken record), the stored one kept.
        self.served: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- corpus -------------------------------------------------------------------------------

    def add_study(self, study: dict[str, Any], *, updated: date | None = None) -> str:
        """Serve a study (a copy); *updated* sets its last update (and, if it has none, its
        first posting) to that day."""
        study = copy.deepcopy(study)
        if updated is not None:
            status = study.setdefault("protocolSection", {}).setdefault("statusModule", {})
            status["lastUpdatePostDateStruct"] = {"date": updated.isoformat(), "type": "ACTUAL"}
            status.setdefault("studyFirstPostDateStruct",
                              {"date": updated.isoformat(), "type": "ACTUAL"})
        nct = nct_of(study)
        with self._lock:
            self.studies[nct] = study
        return nct

    def add_files(self, paths: Iterable[str | Path], *, updated: date | None = None
                  ) -> list[str]:
        return [self.add_study(s, updated=updated) for p in paths for s in studies_in(p)]

    def update(self, nct: str, change: Callable[[dict[str, Any]], None], *,
               updated: date) -> None:
        """Edit a study upstream and post the update on *updated*."""
        with self._lock:
            study = copy.deepcopy(self.studies[nct])
        change(study)
        study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {
            "date": updated.isoformat(), "type": "ACTUAL"}
        with self._lock:
            self.studies[nct] = study

    def fail(self, status: int, body: str = "", *, content_type: str = "text/plain",
             endpoint: str | None = "studies", page: int | None = None, times: int = 1,
             headers: dict[str, str] | None = None) -> None:
        self.scripted.append(Scripted(status, body, content_type, endpoint, page, times,
                                      headers or {}))

    def answer_next(self, body: str, *, content_type: str = "application/json",
                    endpoint: str = "studies", page: int | None = None) -> None:
        """Serve *body* with status 200 instead of the real answer."""
        self.fail(200, body, content_type=content_type, endpoint=endpoint, page=page)

    def calls(self, endpoint: str = "studies") -> list[dict[str, str]]:
        return [params for name, params in self.requests if name == endpoint]

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2/"


    # -- protocol -----------------------------------------------------------------------------

    def handle(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        route = path.rstrip("/").split("/api/v2", 1)[-1]
        if route == "/version":
            endpoint = "version"
        elif route == "/studies":
            endpoint = "studies"
        elif route.startswith("/studies/"):
            endpoint = "study"
        else:
            return _text(404, f"no such endpoint {route!r}")
        page = _page_number(params.get("pageToken")) if endpoint == "studies" else None
        with self._lock:
            self.requests.append((endpoint, params))
            scripted = self._scripted(endpoint, page)
        if scripted is not None:
            return (scripted.status, {"Content-Type": scripted.content_type, **scripted.headers},
                    scripted.body.encode("utf-8"))
        if endpoint == "version":
            return _json({"apiVersion": API_VERSION,
                          "dataTimestamp": self.data_timestamp.isoformat(timespec="seconds")})
        if endpoint == "study":
            nct = unquote(route.rsplit("/", 1)[-1]).upper()
            study = self._visible().get(nct)
            if study is None:
                return _text(404, f"NCT number {nct} not found")
            return _json(self._as_served(nct, study))
        try:
            return self._search(params)
        except UnsupportedQuery as exc:
            return _text(400, str(exc))

    def _scripted(self, endpoint: str, page: int | None) -> Scripted | None:
        for scripted in self.scripted:
            if scripted.endpoint not in (None, endpoint):
                continue
            if scripted.page is not None and scripted.page != page:
                continue
            scripted.times -= 1
            if scripted.times <= 0:
                self.scripted.remove(scripted)
            return scripted
        return None

    def _as_served(self, nct: str, study: dict[str, Any]) -> dict[str, Any]:
        edit = self.served.get(nct)
        if edit is None:
            return study
        study = copy.deepcopy(study)
        edit(study)
        return study

    def _visible(self) -> dict[str, dict[str, Any]]:
        """The registry as of its data timestamp: later updates are not published yet."""
        day = self.data_timestamp.date()
        with self._lock:
            return {nct: s for nct, s in self.studies.items()
                    if (last_update(s) or date.min) <= day}

    def _search(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if params.get("format", "json") != "json":
            raise UnsupportedQuery("only format=json is served by the local server")
        try:
            size = int(params.get("pageSize", DEFAULT_PAGE_SIZE))
        except ValueError:
            return _text(400, "pageSize must be a number")
        size = max(1, min(size, MAX_PAGE_SIZE))
        low, high = update_range(params.get("filter.advanced"))
        ids = {i.strip().upper() for i in re.split(r"[,|\s]+", params.get("filter.ids", ""))
               if i.strip()}
        areas = {area: parse_terms(params[f"query.{area}"]) for area in ("cond", "intr", "term")
                 if params.get(f"query.{area}")}
        found = []
        for nct, study in sorted(self._visible().items()):
            updated = last_update(study)
            if (low or high) and (updated is None or not (low or date.min) <= updated
                                  <= (high or date.max)):
                continue
            if ids and nct not in ids:
                continue
            if all(matches(expr, texts(study, area)) for area, expr in areas.items()):
                found.append(self._as_served(nct, study))
        key = _search_key(params)
        offset, number = 0, 1
        if params.get("pageToken"):
            offset, number, token_key = _read_token(params["pageToken"])
            if token_key != key or offset < 0:
                return _text(400, "pageToken is not valid for this search")
        chunk = [] if number in self.empty_pages else found[offset:offset + size]
        last = -(-len(found) // size)  # the search's real number of pages
        if found and number > last and number not in self.empty_pages:
            at = offset % len(found)  # an extra page: the studies again, from the start
            chunk = (found + found)[at:at + size]
        answer: dict[str, Any] = {"studies": chunk}
        if not params.get("pageToken") and params.get("countTotal", "").lower() == "true":
            answer["totalCount"] = len(found)
        more = offset + size < len(found) or (found and number < last + self.extra_pages)
        if more and number not in self.no_token_after:
            answer["nextPageToken"] = _make_token(offset + size, number + 1, key)
        return _json(answer)


def _search_key(params: dict[str, str]) -> str:
    kept = sorted((k, v) for k, v in params.items() if k not in ("pageToken", "countTotal"))
    return hashlib.sha256(json.dumps(kept).encode("utf-8")).hexdigest()[:8]


def _make_token(offset: int, page: int, key: str) -> str:
    """Opaque to the client; says where the next page starts, its number and its search."""
    return base64.urlsafe_b64encode(f"{offset}:{page}:{key}".encode()).decode().rstrip("=")


def _read_token(token: str) -> tuple[int, int, str]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset, page, key = text.split(":", 2)
        return int(offset), int(page), key
    except (ValueError, UnicodeDecodeError):
        return -1, 0, ""


def _page_number(token: str | None) -> int:
    """The number of the page a request asks for: 1 without a token."""
    return _read_token(token)[1] if token else 1


def _json(data: Any) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps(data).encode("utf-8")


def _text(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "text/plain"}, message.encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    app: CtgovServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        status, headers, body = self.app.handle(url.path, params)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


CtgovServer.handler = _Handler  # the server answers through this handler
