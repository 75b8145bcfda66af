"""A local E-utilities server on 127.0.0.1 for tests, benchmarks and ``watcher demo``.

It serves a corpus of real PubMed records: esearch honours the term (see pubmed_query), the
entry-date window (datetype edat/crdt, mindate/maxdate), the modification-date window (datetype
mdat: each Record's ``modified``, which tests set when they revise a record), retstart/retmax
and the 9,999 paging limit; efetch returns the records asked for by id. Tests can add a record,
make the next calls fail (status, headers, body), truncate the next answer, or enforce NCBI's
requests-per-second limit with NCBI's real 429 body. A phrase in ``phrases_not_found`` that a
search uses is answered as PubMed does, with <ErrorList><PhraseNotFound>; the QueryTranslation
ends, as PubMed's does, with the date window searched ("AND 2026/01/01:2026/01/31[Date - Entry]").
``add_synthetic`` holds tens of
thousands of small records cheaply (one shared search document, XML kept as text), for tests of
long back-fills.
"""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from .base import LocalServer
from .pubmed_query import Document, document_of, matches

ESEARCH_DOCTYPE = ('<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
                   '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">')
PUBMED_DOCTYPE = ('<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January '
                  '2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">')
# PubMed writes MathML with the mml: prefix; keep it when records are re-serialized.
ET.register_namespace("mml", "http://www.w3.org/1998/Math/MathML")

RATE_LIMIT_BODY = ('{"error":"API rate limit exceeded","api-key":"127.0.0.1",'
                   '"count":"%d","limit":"%d"}')


@dataclass
class Record:
    pmid: str
    entry_date: date
    element: ET.Element | None  # None for a synthetic record (see text)
    document: Document
    modified: date | None = None  # last modification (esearch datetype=mdat); None: entry date
    text: str | None = None  # the record's XML, kept as text by add_synthetic (no re-serializing)

    @property
    def modified_on(self) -> date:
        return self.modified or self.entry_date

    def xml(self) -> str:
        return self.text if self.text is not None else ET.tostring(self.element,
                                                                    encoding="unicode")


@dataclass
class Failure:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    endpoint: str | None = None  # "esearch", "efetch" or None for any
    truncate: bool = False  # serve a real answer cut in half instead of an error
    delay: float = 0.0  # seconds to wait before a real answer


SYNTHETIC = ("<PubmedArticle><MedlineCitation Status=\"MEDLINE\" Owner=\"NLM\">"
             "<PMID Version=\"1\">{pmid}</PMID><Article PubModel=\"Print\"><Journal>"
             "<JournalIssue CitedMedium=\"Internet\"><PubDate><Year>{year}</Year></PubDate>"
             "</JournalIssue><Title>Journal of Synthetic Records</Title></Journal>"
             "<ArticleTitle>{title} {pmid}</ArticleTitle><Language>eng</Language>"
             "<PublicationTypeList><PublicationType UI=\"D016428\">Journal Article"
             "</PublicationType></PublicationTypeList></Article></MedlineCitation><PubmedData>"
             "<History><PubMedPubDate PubStatus=\"entrez\"><Year>{year}</Year>"
             "<Month>{month}</Month><Day>{day}</Day></PubMedPubDate></History>"
             "<PublicationStatus>ppublish</PublicationStatus><ArticleIdList>"
             "<ArticleId IdType=\"pubmed\">{pmid}</ArticleId></ArticleIdList></PubmedData>"
             "</PubmedArticle>")


def records_from_xml(xml: bytes | str) -> list[tuple[str, ET.Element]]:
    """Split an efetch PubmedArticleSet into (pmid, PubmedArticle element) pairs."""
    root = ET.fromstring(xml)
    return [(article.findtext("MedlineCitation/PMID", "").strip(), article)
            for article in root.findall("PubmedArticle")]


def set_entry_date(article: ET.Element, when: date) -> None:
    """Make the record's History say it entered PubMed on *when* (entrez and pubmed dates)."""
    data = article.find("PubmedData")
    if data is None:
        data = ET.SubElement(article, "PubmedData")
    history = data.find("History")
    if history is None:
        history = ET.Element("History")
        data.insert(0, history)
    for status in ("entrez", "pubmed"):
        node = history.find(f"PubMedPubDate[@PubStatus='{status}']")
        if node is None:
            node = ET.SubElement(history, "PubMedPubDate", {"PubStatus": status})
        for child in list(node):
            node.remove(child)
        for tag, value in (("Year", when.year), ("Month", when.month), ("Day", when.day)):
            ET.SubElement(node, tag).text = str(value)


def _entry_date(article: ET.Element) -> date:
    for status in ("entrez", "pubmed"):
        node = article.find(f"PubmedData/History/PubMedPubDate[@PubStatus='{status}']")
        if node is not None:
            return date(int(node.findtext("Year")), int(node.findtext("Month")),
                        int(node.findtext("Day")))
    return date(1900, 1, 1)


class EutilsServer(LocalServer):
    """Start with ``with EutilsServer() as server:``; point WATCHER_EUTILS_URL at server.url."""


    def __init__(self, *, rate_limit: int | None = None, keyed_rate_limit: int | None = None,
                 max_results: int = 9999):
        self.records: dict[str, Record] = {}
        self.failures: deque[Failure] = deque()
        self.requests: list[tuple[float, str, dict[str, str]]] = []
        # Requests/s answered before NCBI's 429 (NCBI: 3, and 10 with api_key); None: no limit,
        # as a test of something else wants.
        self.rate_limit = rate_limit
        self.keyed_rate_limit = keyed_rate_limit
        self.throttled = 0
        self.max_results = max_results  # esearch cannot page past this many ids
        self.never_return: set[str] = set()  # PMIDs esearch lists but efetch leaves out
        #: Phrases PubMed would not find: a search using one gets <PhraseNotFound> for it.
        self.phrases_not_found: set[str] = set()
        #: Search term -> the QueryTranslation to answer (default: the term itself).
        self.translations: dict[str, str] = {}
        #: Date types esearch refuses -> its ERROR (a backend that cannot search by that date).
        self.refused_datetypes: dict[str, str] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- corpus -----------------------------------------------------------------------------

    def add_xml(self, xml: bytes | str, entry_date: date | None = None) -> list[str]:
        """Add every PubmedArticle in an efetch document; optionally re-date their entry."""
        added = []
        for pmid, article in records_from_xml(xml):
            self.add_article(article, entry_date)
            added.append(pmid)
        return added

    def add_article(self, article: ET.Element, entry_date: date | None = None, *,
                    modified: date | None = None) -> str:
        """Add (or replace, as an upstream revision does) a record; *modified* is its new
        modification date, so an mdat search lists it."""
        if entry_date is not None:
            set_entry_date(article, entry_date)
        pmid = article.findtext("MedlineCitation/PMID", "").strip()
        with self._lock:
            self.records[pmid] = Record(pmid, _entry_date(article), article, document_of(article),
                                        modified)
        return pmid

    def add_synthetic(self, count: int, *, first_pmid: int, newest: date, days: int,
                      title: str = "Synthetic ketamine record") -> list[str]:
        """Add *count* minimal records (PMIDs from *first_pmid*), their entry dates spread
        evenly over the *days* days up to *newest*. They share one search document (all match
        the same terms) and keep their XML as text, so 25,000 cost a second, not minutes."""
        template = SYNTHETIC.replace("{title}", escape(title))
        document = document_of(ET.fromstring(template.format(pmid=1, year=2000, month=1, day=1)))
        added = []
        with self._lock:
            for n in range(count):
                pmid = str(first_pmid + n)
                entered = date.fromordinal(newest.toordinal() - n * days // max(count, 1))
                text = template.format(pmid=pmid, year=entered.year, month=entered.month,
                                       day=entered.day)
                self.records[pmid] = Record(pmid, entered, None, document, text=text)
                added.append(pmid)
        return added

    def add_files(self, paths: Iterable[str | Path], entry_date: date | None = None) -> list[str]:
        return [pmid for path in paths for pmid in self.add_xml(Path(path).read_bytes(),
                                                                 entry_date)]

    def fail_next(self, status: int, *, times: int = 1, body: str = "",
                  headers: dict[str, str] | None = None, endpoint: str | None = None) -> None:
        for _ in range(times):
            self.failures.append(Failure(status, body, headers or {}, endpoint))

    def truncate_next(self, endpoint: str = "efetch") -> None:
        self.failures.append(Failure(200, endpoint=endpoint, truncate=True))

    def slow_next(self, seconds: float, endpoint: str = "efetch") -> None:
        self.failures.append(Failure(200, endpoint=endpoint, delay=seconds))

    def calls(self, endpoint: str) -> list[dict[str, str]]:
        return [params for _, path, params in self.requests if path.endswith(endpoint + ".fcgi")]

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/entrez/eutils/"


    # -- protocol ---------------------------------------------------------------------------

    def handle(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        now = time.monotonic()
        with self._lock:
            self.requests.append((now, path, params))
            limit = self.keyed_rate_limit if params.get("api_key") else self.rate_limit
            if limit:
                recent = [t for t, _, _ in self.requests if now - t < 1.0]
                if len(recent) > limit:
                    self.throttled += 1
                    body = RATE_LIMIT_BODY % (len(recent), limit)
                    return 429, {"Content-Type": "application/json"}, body.encode()
            endpoint = path.rsplit("/", 1)[-1].removesuffix(".fcgi")
            failure = None
            if self.failures and self.failures[0].endpoint in (None, endpoint):
                failure = self.failures.popleft()
        if failure and failure.delay:
            time.sleep(failure.delay)
        elif failure and not failure.truncate:
            return failure.status, failure.headers, failure.body.encode()
        if endpoint == "esearch":
            status, body = self._esearch(params)
        elif endpoint == "efetch":
            status, body = self._efetch(params)
        else:
            status, body = 404, f"<ERROR>Unknown utility {escape(endpoint)}</ERROR>"
        data = body.encode("utf-8")
        if failure and failure.truncate:
            data = data[: len(data) // 2]
        return status, {"Content-Type": "text/xml; charset=UTF-8"}, data

    def _esearch(self, params: dict[str, str]) -> tuple[int, str]:
        if params.get("db", "pubmed") != "pubmed":
            return 200, _esearch_error("Invalid db name specified: " + params.get("db", ""))
        refused = self.refused_datetypes.get(params.get("datetype", ""))
        if refused is not None:
            return 200, _esearch_error(refused)
        term = params.get("term", "")
        retstart = int(params.get("retstart", 0))
        retmax = int(params.get("retmax", 20))
        if retstart > self.max_results - 1:
            return 200, _esearch_error(
                f"Search Backend failed: Exception:\n'retstart' cannot be larger than "
                f"{self.max_results - 1}. For PubMed, ESearch can only retrieve the first "
                f"{self.max_results:,} records matching the query.")
        try:
            low = _parse_date(params.get("mindate"), date.min)
            high = _parse_date(params.get("maxdate"), date.max)
        except ValueError as exc:
            return 200, _esearch_error(str(exc))
        with self._lock:
            records = list(self.records.values())
            missing = sorted(p for p in self.phrases_not_found if p and p in term)
            translation = self.translations.get(term, term)
        # An entry-date range in the term ("2020/01/01"[edat] : "2020/12/31"[edat]) is applied
        # to each record's entry date, the rest of the term as usual.
        for first, last in _EDAT_RANGE.findall(term):
            entered = (_parse_date(first, date.min), _parse_date(last, date.max))
            records = [r for r in records if entered[0] <= r.entry_date <= entered[1]]
        term = _EDAT_RANGE.sub("all[sb]", term)
        modified = params.get("datetype") == "mdat"
        if params.get("mindate") and params.get("maxdate"):  # PubMed adds the window it read
            translation += (f" AND {params['mindate']}:{params['maxdate']}"
                            f"[Date - {'Modification' if modified else 'Entry'}]")
        verdicts: dict[int, bool] = {}  # per search document: synthetic records share one

        def found_by_term(record: Record) -> bool:
            key = id(record.document)
            if key not in verdicts:
                verdicts[key] = matches(term, record.document)
            return verdicts[key]

        try:
            found = [r for r in records
                     if low <= (r.modified_on if modified else r.entry_date) <= high
                     and found_by_term(r)]
        except ValueError as exc:
            return 200, _esearch_error(f"Invalid query: {exc}")
        found.sort(key=lambda r: (r.entry_date, int(r.pmid)), reverse=True)
        page = found[retstart:min(retstart + min(retmax, 10000), self.max_results)]
        ids = "".join(f"<Id>{r.pmid}</Id>" for r in page)
        errors = "".join(f"<PhraseNotFound>{escape(p)}</PhraseNotFound>" for p in missing)
        if errors:
            errors = f"<ErrorList>{errors}</ErrorList>"
            if not found:
                errors += ("<WarningList><OutputMessage>No items found.</OutputMessage>"
                           "</WarningList>")
        return 200, (f'<?xml version="1.0" encoding="UTF-8" ?>\n{ESEARCH_DOCTYPE}\n'
                     f"<eSearchResult><Count>{len(found)}</Count><RetMax>{len(page)}</RetMax>"
                     f"<RetStart>{retstart}</RetStart><IdList>{ids}</IdList><TranslationSet/>"
                     f"<QueryTranslation>{escape(translation)}</QueryTranslation>{errors}"
                     "</eSearchResult>\n")

    def _efetch(self, params: dict[str, str]) -> tuple[int, str]:
        if params.get("db", "pubmed") != "pubmed":
            return 400, "<ERROR>Invalid db name specified</ERROR>"
        ids = [i.strip() for i in params.get("id", "").split(",") if i.strip()]
        return 200, self.efetch_xml(ids).decode("utf-8")

    def efetch_xml(self, ids: Iterable[str]) -> bytes:
        """The efetch answer body for *ids* (unknown ids left out), without going over HTTP."""
        with self._lock:
            articles = [self.records[i].xml() for i in ids
                        if i in self.records and i not in self.never_return]
        return ('<?xml version="1.0" ?>\n' + PUBMED_DOCTYPE + "\n<PubmedArticleSet>\n"
                + "\n".join(articles) + "\n</PubmedArticleSet>\n").encode("utf-8")


_EDAT_RANGE = re.compile(r'"([\d/]+)"\[edat\]\s*:\s*"([\d/]+)"\[edat\]', re.IGNORECASE)


def _esearch_error(message: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8" ?>\n{ESEARCH_DOCTYPE}\n'
            f"<eSearchResult><ERROR>{escape(message)}</ERROR></eSearchResult>\n")


def _parse_date(value: str | None, default: date) -> date:
    if not value:
        return default
    parts = [int(p) for p in value.replace("-", "/").split("/")]
    if len(parts) == 1:
        parts += [1 if default == date.min else 12]
    if len(parts) == 2:
        parts += [1 if default == date.min else 28]
    return date(*parts[:3])


class _Handler(BaseHTTPRequestHandler):
    app: EutilsServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        url = urlsplit(self.path)
        self._answer(url.path, parse_qs(url.query))

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode("utf-8")
        url = urlsplit(self.path)
        params = parse_qs(url.query)
        params.update(parse_qs(body))
        self._answer(url.path, params)

    def _answer(self, path: str, raw: dict[str, list[str]]) -> None:
        params = {k: v[-1] for k, v in raw.items()}
        status, headers, body = self.app.handle(path, params)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # A client that gave up waiting (slow_next past its deadline) is gone: no traceback
            # on the test's stderr, as a real server would not print one either.
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


EutilsServer.handler = _Handler  # the server answers through this handler
