"""A local Europe PMC REST server on 127.0.0.1 for tests and the demo.

``GET /rest/search?query=...&format=json&resultType=core&pageSize=N&cursorMark=C`` answers in
the REST API's JSON shape (``version``, ``hitCount``, ``nextCursorMark``, ``request``,
``resultList.result``), paging with opaque cursor marks (``*`` first). The query is evaluated
as Europe PMC would, well enough for tests: ``AND``/``OR``/``NOT`` and parentheses, quoted
phrases and bare words (a trailing ``*`` a prefix) matched case-insensitively in a record's
title, abstract, authors and journal; ``SRC:PPR``, ``EXT_ID:123``, ``DOI:"10.x/y"`` and
``FIRST_IDATE:[2026-01-01 TO 2026-02-01]`` on the record's fields; ``TITLE:``/``ABSTRACT:``
on those. Tests can script the next answers (any status, body, content type) and make the
server misbehave: a cursor that stops advancing after the first page, a ``hitCount``
without ``resultList``, a ``hitCount`` smaller than what it sends, pages that never end.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .base import LocalServer

_TOKEN = re.compile(r'\s*(?:(?P<paren>[()])|(?P<field>[A-Z_]+):(?P<value>\[[^\]]*\]|"[^"]*"'
                    r'|[^\s()]+)|"(?P<phrase>[^"]*)"|(?P<word>[^\s()"]+))')
_RANGE = re.compile(r"^\[\s*(\S+)\s+TO\s+(\S+)\s*\]$")


def preprint(ppr: str, *, title: str, indexed: date, abstract: str = "",
             authors: tuple[str, ...] = ("Doe J",), server: str = "medRxiv",
             doi: str | None = None, published_as: tuple[str, str, str] | None = None,
             note: str = "CrossRef Pre-print loader") -> dict[str, Any]:
    """A ``source: PPR`` result in the shape of a real ``resultType=core`` answer. With
    *published_as* ``(pmid, reference, note)``-like ``(pmid, "Journal. 2026 Jan;1(1):1")`` it
    carries the "Preprint of" link Europe PMC adds once the published version is known.
    *doi* "" gives it none."""
    record: dict[str, Any] = {
        "id": ppr, "source": "PPR",
        "title": title, "authorString": ", ".join(authors) + ".",
        "authorList": {"author": [{"fullName": name, "lastName": name.rsplit(" ", 1)[0],
                                   "initials": name.rsplit(" ", 1)[-1]} for name in authors]},
        "pubYear": str(indexed.year), "abstractText": abstract,
        "bookOrReportDetails": {"publisher": server, "yearOfPublication": indexed.year},
        "pubTypeList": {"pubType": ["Preprint"]}, "citedByCount": 0,
        "firstIndexDate": indexed.isoformat(), "firstPublicationDate": indexed.isoformat()}
    if doi is None:  # a server DOI of the dated 10.1101 form
        doi = f"10.1101/{indexed:%Y.%m.%d}.{ppr[3:]:0>8}"
    if doi:
        record["doi"] = doi
    if published_as:
        pmid, reference = published_as[0], published_as[1]
        record["commentCorrectionList"] = {"commentCorrection": [{
            "source": "MED", "id": pmid, "reference": reference, "type": "Preprint of",
            "note": published_as[2] if len(published_as) > 2 else note, "orderIn": 10001}]}
    return record


def publication(pmid: str, *, title: str, indexed: date, journal: str = "J Demo",
                abstract: str = "", preprint_of: str | None = None,
                doi: str | None = None) -> dict[str, Any]:
    """A ``source: MED`` result; with *preprint_of* (a PPR id) its "Preprint in" link."""
    record: dict[str, Any] = {
        "id": pmid, "source": "MED", "pmid": pmid, "doi": doi or f"10.5555/demo.{pmid}",
        "title": title, "authorString": "Doe J.", "pubYear": str(indexed.year),
        "abstractText": abstract,
        "journalInfo": {"journal": {"title": journal}, "printPublicationDate":
                        indexed.isoformat()},
        "pubTypeList": {"pubType": ["Journal Article"]},
        "firstIndexDate": indexed.isoformat(), "firstPublicationDate": indexed.isoformat()}
    if preprint_of:
        record["commentCorrectionList"] = {"commentCorrection": [{
            "source": "PPR", "id": preprint_of, "type": "Preprint in",
            "note": "CrossRef Pre-print loader", "orderIn": 10001}]}
    return record


@dataclass
class Scripted:
    status: int
    body: str
    content_type: str = "application/json"


class EuropePMCServer(LocalServer):
    """Start with ``with EuropePMCServer() as server:``; point WATCHER_EUROPEPMC_URL at
    server.url. Misbehaviours (set as attributes): ``stuck_cursor`` (every page after the
    first says the cursor it was asked with), ``no_result_list`` (hitCount without resultList),
    ``hit_count`` (announce this hitCount instead of the true one), ``endless`` (every page
    hands out a fresh cursor and the first page's records again)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.scripted: list[Scripted] = []
        self.requests: list[dict[str, str]] = []
        self.stuck_cursor = False
        self.no_result_list = False
        self.endless = False
        self.hit_count: int | None = None
        self._lock = threading.Lock()

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.records = [r for r in self.records
                            if (r.get("source"), r.get("id")) != (record.get("source"),
                                                                  record.get("id"))]
            self.records.append(record)
        return record

    def fail(self, status: int, body: str = "", *, content_type: str = "application/json"
             ) -> None:
        self.scripted.append(Scripted(status, body, content_type))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/rest/"

    @property
    def queries(self) -> list[str]:
        return [params.get("query", "") for params in self.requests]

    def handle(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        with self._lock:
            self.requests.append(params)
            if self.scripted:
                answer = self.scripted.pop(0)
                return answer.status, answer.content_type, answer.body.encode("utf-8")
            records = list(self.records)
        if path.rstrip("/") != "/rest/search":
            return 404, "text/plain", b"Not found"
        query = params.get("query", "")
        size = min(int(params.get("pageSize") or 25), 1000)
        cursor = params.get("cursorMark") or "*"
        try:
            tree = _parse(query)
            hits = [r for r in records if _matches(tree, r)]
            offset = 0 if cursor == "*" or self.endless else _offset(cursor)
        except ValueError as exc:
            error = {"errCode": 400, "errMsg": f"Invalid query: {exc}"}
            return 200, "application/json", json.dumps({"errorBean": error}).encode()
        page = hits[offset:offset + size]
        answer: dict[str, Any] = {
            "version": "6.9",
            "hitCount": len(hits) if self.hit_count is None else self.hit_count,
            "request": {"queryString": query, "resultType": params.get("resultType", "lite"),
                        "cursorMark": cursor, "pageSize": size, "sort": "", "synonym": False}}
        if self.stuck_cursor:  # the first page's cursor, again and again
            answer["nextCursorMark"] = _mark(len(page)) if cursor == "*" else cursor
        elif self.endless:
            answer["nextCursorMark"] = _mark(len(self.requests) * size)
        elif offset + len(page) < len(hits):
            answer["nextCursorMark"] = _mark(offset + len(page))
        if not self.no_result_list:
            answer["resultList"] = {"result": page}
        return 200, "application/json;charset=UTF-8", json.dumps(answer).encode("utf-8")


def _mark(offset: int) -> str:
    """An opaque-looking cursor mark for *offset*."""
    return f"AoJ{offset:x}wq"


def _offset(mark: str) -> int:
    match = re.fullmatch(r"AoJ([0-9a-f]+)wq", mark)
    if not match:
        raise ValueError(f"unknown cursorMark {mark!r}")
    return int(match.group(1), 16)


# -- a small evaluator of Europe PMC query syntax ---------------------------------------------

def _parse(query: str) -> Any:
    tokens = []
    at = 0
    while at < len(query):
        match = _TOKEN.match(query, at)
        if not match or match.end() == at:
            if query[at:].strip():
                raise ValueError(f"cannot read {query[at:at + 20]!r}")
            break
        at = match.end()
        if match.group("paren"):
            tokens.append(("paren", match.group("paren")))
        elif match.group("field"):
            tokens.append(("field", (match.group("field"), match.group("value").strip('"'))))
        elif match.group("phrase") is not None:
            tokens.append(("text", match.group("phrase")))
        elif match.group("word") in ("AND", "OR", "NOT"):
            tokens.append(("op", match.group("word")))
        else:
            tokens.append(("text", match.group("word")))
    tree, rest = _or(tokens)
    if rest:
        raise ValueError(f"unexpected {rest[0][1]!r}")
    return tree


def _or(tokens: list) -> tuple[Any, list]:
    left, tokens = _and(tokens)
    while tokens and tokens[0] == ("op", "OR"):
        right, tokens = _and(tokens[1:])
        left = ("or", left, right)
    return left, tokens


def _and(tokens: list) -> tuple[Any, list]:
    left, tokens = _unary(tokens)
    while tokens and tokens[0] != ("op", "OR") and tokens[0] != ("paren", ")"):
        negate = tokens[0] == ("op", "NOT")
        if tokens[0] in (("op", "AND"), ("op", "NOT")):
            tokens = tokens[1:]
        right, tokens = _unary(tokens)
        left = ("and", left, ("not", right) if negate else right)
    return left, tokens


def _unary(tokens: list) -> tuple[Any, list]:
    if not tokens:
        raise ValueError("the query ends too early")
    kind, value = tokens[0]
    if (kind, value) == ("op", "NOT"):
        inner, rest = _unary(tokens[1:])
        return ("not", inner), rest
    if (kind, value) == ("paren", "("):
        inner, rest = _or(tokens[1:])
        if not rest or rest[0] != ("paren", ")"):
            raise ValueError("a '(' is not closed")
        return inner, rest[1:]
    if kind in ("text", "field"):
        return (kind, value), tokens[1:]
    raise ValueError(f"unexpected {value!r}")


def _matches(node: Any, record: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "or":
        return _matches(node[1], record) or _matches(node[2], record)
    if kind == "and":
        return _matches(node[1], record) and _matches(node[2], record)
    if kind == "not":
        return not _matches(node[1], record)
    if kind == "text":
        return _has(_text(record), node[1])
    name, value = node[1]
    if name == "SRC":
        return str(record.get("source", "")).upper() == value.upper()
    if name == "EXT_ID":
        return value.upper() in {str(record.get(k, "")).upper() for k in ("id", "pmid", "pmcid")}
    if name == "DOI":
        return str(record.get("doi", "")).lower() == value.lower()
    if name in ("FIRST_IDATE", "FIRST_PDATE"):
        match = _RANGE.match(value)
        day = record.get("firstIndexDate" if name == "FIRST_IDATE" else "firstPublicationDate")
        return bool(match and day and match.group(1) <= day <= match.group(2))
    if name == "TITLE":
        return _has(str(record.get("title", "")), value)
    if name == "ABSTRACT":
        return _has(str(record.get("abstractText", "")), value)
    return _has(_text(record), value)


def _text(record: dict[str, Any]) -> str:
    journal = (record.get("journalInfo") or {}).get("journal", {}).get("title", "")
    return " ".join(str(part) for part in (record.get("title", ""),
                                           record.get("abstractText", ""),
                                           record.get("authorString", ""), journal))


def _has(text: str, phrase: str) -> bool:
    words = re.sub(r"<[^>]+>", " ", text).lower()
    phrase = phrase.lower()
    if phrase.endswith("*"):
        return re.search(r"\b" + re.escape(phrase[:-1]), words) is not None
    return re.search(r"\b" + re.escape(phrase) + r"\b", words) is not None


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        status, content_type, body = self.app.handle(parts.path, params)  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


EuropePMCServer.handler = _Handler  # the server answers through this handler
