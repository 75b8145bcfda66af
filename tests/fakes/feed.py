"""A local feed server on 127.0.0.1 (only tests use it): journal tables of contents and
preprint feeds in the shapes publishers serve, answered with ``ETag`` and ``Last-Modified`` and
a ``304 Not Modified`` to a conditional GET that matches, and broken answers on demand.

Documents are built from :class:`Article` values by :func:`journal_rss` (RSS 1.0 as Nature
serves it: ``rdf:about``, ``content:encoded``, ``dc:creator`` per author, ``dc:identifier
doi:…``, ``prism:doi``, ``prism:publicationName``), :func:`publisher_rss` (RSS 2.0 as Wiley
and others serve it: ``guid``, ``pubDate``, ``dc:creator``, ``prism:doi``, links to
``/doi/…?af=R``), :func:`atom_feed` (Atom 1.0) and :func:`medrxiv_rss` (medRxiv's subject
feeds: RSS 1.0, the link ``/content/<doi>v1?rss=1``, every author in one ``dc:creator``,
``dc:identifier doi:…``, ``dc:date``). ``serve(path, document)`` publishes one; ``script(path,
...)`` queues raw answers (an HTML error page, a broken document, a slow answer) served first.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from watcher.clock import utc_now
from watcher.fakes.base import LocalServer


@dataclass(frozen=True)
class Article:
    title: str
    summary: str = ""
    doi: str | None = None
    authors: tuple[str, ...] = ("Jane Smith", "Bob Jones")
    date: str = "2026-06-01"  # ISO day
    link: str | None = None  # default: the publisher's page for the DOI
    guid: str | None = None  # an RSS 2.0 guid / Atom id, when not the link


def _link(article: Article, base: str) -> str:
    return article.link or f"{base}/{article.doi or escape(article.title[:20])}"


def journal_rss(journal: str, articles: list[Article]) -> str:
    """RSS 1.0 (RDF) as Nature's journals serve their tables of contents."""
    items, seq = [], []
    for a in articles:
        link = _link(a, "https://www.nature.com/articles")
        seq.append(f'<rdf:li rdf:resource="{escape(link)}"/>')
        creators = "".join(f"<dc:creator>{escape(name)}</dc:creator>" for name in a.authors)
        doi = (f"<dc:identifier>doi:{escape(a.doi)}</dc:identifier>"
               f"<prism:doi>{escape(a.doi)}</prism:doi>"
               f"<prism:url>https://doi.org/{escape(a.doi)}</prism:url>") if a.doi else ""
        source = f"{escape(journal)}, Published online: {a.date}" + (
            f"; doi:{escape(a.doi)}" if a.doi else "")
        items.append(
            f'<item rdf:about="{escape(link)}"><title><![CDATA[{a.title}]]></title>'
            f"<link>{escape(link)}</link><content:encoded><![CDATA[<p>{source}</p>"
            f"{a.summary}]]></content:encoded><dc:title><![CDATA[{a.title}]]></dc:title>"
            f"{creators}{doi}<dc:source>{source}</dc:source><dc:date>{a.date}</dc:date>"
            f"<prism:publicationName>{escape(journal)}</prism:publicationName>"
            f"<prism:publicationDate>{a.date}</prism:publicationDate></item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">'
        f'<channel rdf:about="https://www.nature.com/mp.rss"><title>{escape(journal)}</title>'
        f"<link>https://www.nature.com/mp</link><description>{escape(journal)} RSS feed of "
        f"online first articles</description><items><rdf:Seq>{''.join(seq)}</rdf:Seq></items>"
        f"</channel>{''.join(items)}</rdf:RDF>\n")


def publisher_rss(journal: str, articles: list[Article]) -> str:
    """RSS 2.0 as Wiley (and many publishers) serve a journal's table of contents."""
    items = []
    for a in articles:
        link = a.link or f"https://onlinelibrary.wiley.com/doi/{a.doi}?af=R"
        creators = ", ".join(a.authors)
        doi = f"<prism:doi>{escape(a.doi)}</prism:doi>" if a.doi else ""
        guid = a.guid or link
        items.append(
            f"<item><title>{escape(a.title)}</title><link>{escape(link)}</link>"
            f"<description>{escape(a.summary)}</description>"
            f'<guid isPermaLink="{str(guid == link).lower()}">{escape(guid)}</guid>'
            f"<pubDate>{_rfc822(a.date)}</pubDate><dc:creator>{escape(creators)}</dc:creator>"
            f"{doi}<prism:publicationName>{escape(journal)}</prism:publicationName></item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/"><channel>'
        f"<title>{escape(journal)}</title><link>https://onlinelibrary.wiley.com/journal/x"
        f"</link><description>Table of Contents for {escape(journal)}</description>"
        f"{''.join(items)}</channel></rss>\n")


def atom_feed(title: str, articles: list[Article]) -> str:
    """Atom 1.0: each entry's id, link, authors, published date and HTML summary."""
    entries = []
    for a in articles:
        link = _link(a, "https://doi.org")
        authors = "".join(f"<author><name>{escape(name)}</name></author>"
                          for name in a.authors)
        entries.append(
            f"<entry><id>{escape(a.guid or link)}</id><title>{escape(a.title)}</title>"
            f'<link rel="alternate" href="{escape(link)}"/>{authors}'
            f"<published>{a.date}T09:00:00Z</published><updated>{a.date}T09:00:00Z</updated>"
            f'<summary type="html">{escape(f"<p>{a.summary}</p>")}</summary></entry>')
    return ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{escape(title)}</title><id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6"
            f"</id><updated>2026-06-01T09:00:00Z</updated>{''.join(entries)}</feed>\n")


def medrxiv_rss(subject: str, articles: list[Article]) -> str:
    """RSS 1.0 as medRxiv serves a subject collection (its DOIs under 10.1101 or 10.64898)."""
    items, seq = [], []
    for a in articles:
        link = a.link or f"https://www.medrxiv.org/content/{a.doi}v1?rss=1"
        seq.append(f'<rdf:li rdf:resource="{escape(link)}"/>')
        doi = f"<dc:identifier>doi:{escape(a.doi)}</dc:identifier>" if a.doi else ""
        items.append(
            f'<item rdf:about="{escape(link)}"><title>{escape(a.title)}</title>'
            f"<link>{escape(link)}</link><description>{escape(a.summary)}</description>"
            f"<dc:creator>{escape('; '.join(a.authors))}</dc:creator><dc:date>{a.date}"
            f"</dc:date>{doi}<dc:title>{escape(a.title)}</dc:title><dc:publisher>Cold Spring "
            f"Harbor Laboratory Press</dc:publisher><prism:publicationDate>{a.date}"
            f"</prism:publicationDate></item>")
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<rdf:RDF xmlns:admin="http://webns.net/mvcb/" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:prism="http://purl.org/rss/1.0/modules/prism/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel rdf:about="http://medrxiv.org">'
        f"<title>medrxiv Subject Collection: {escape(subject)}</title>"
        f"<link>http://medrxiv.org</link><description>This feed contains articles for medRxiv "
        f'Subject Collection "{escape(subject)}"</description><items><rdf:Seq>{"".join(seq)}'
        f"</rdf:Seq></items></channel>{''.join(items)}</rdf:RDF>\n")


def _rfc822(day: str) -> str:
    return f"{time.strftime('%a, %d %b %Y', time.strptime(day, '%Y-%m-%d'))} 08:00:00 +0000"


@dataclass
class Published:
    document: bytes
    content_type: str
    etag: str | None
    modified: str | None  # Last-Modified (RFC 1123), when the server sends one


@dataclass
class Scripted:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    delay: float = 0.0  # seconds before answering (a slow or hung feed)
    headers: dict[str, str] = field(default_factory=dict)


class FeedServer(LocalServer):
    """Start with ``with FeedServer() as server:``; a feed is at ``server.url(path)``."""

    def __init__(self) -> None:
        self.feeds: dict[str, Published] = {}
        self.scripts: dict[str, list[Scripted]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, request headers)
        self._lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def serve(self, path: str, document: str | bytes, *,
              content_type: str = "application/rss+xml; charset=utf-8", etag: bool = True,
              last_modified: bool = True) -> None:
        """Publish *document* at *path*: its ETag is a hash of its bytes; its Last-Modified is
        now (to the second) whenever the bytes change."""
        body = document.encode("utf-8") if isinstance(document, str) else document
        with self._lock:
            old = self.feeds.get("/" + path.lstrip("/"))
            modified = old.modified if old is not None and old.document == body else \
                format_datetime(utc_now().replace(microsecond=0), usegmt=True)
            self.feeds["/" + path.lstrip("/")] = Published(
                body, content_type,
                f'"{hashlib.sha256(body).hexdigest()[:16]}"' if etag else None,
                modified if last_modified else None)

    def script(self, path: str, status: int, body: str | bytes = b"", *,
               content_type: str = "text/html; charset=utf-8", delay: float = 0.0,
               times: int = 1) -> None:
        """Answer the next *times* requests for *path* so, before the published document."""
        raw = body.encode("utf-8") if isinstance(body, str) else body
        with self._lock:
            self.scripts.setdefault("/" + path.lstrip("/"), []).extend(
                Scripted(status, raw, content_type, delay) for _ in range(times))

    def requests_for(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [headers for p, headers in self.requests if p == "/" + path.lstrip("/")]

    def answer(self, path: str, headers: dict[str, str]) -> Scripted:
        with self._lock:
            self.requests.append((path, headers))
            queued = self.scripts.get(path)
            if queued:
                return queued.pop(0)
            feed = self.feeds.get(path)
        if feed is None:
            return Scripted(404, b"<html><body><h1>404 Not Found</h1></body></html>")
        validators = {name: value for name, value in (("ETag", feed.etag),
                                                      ("Last-Modified", feed.modified)) if value}
        if _not_modified(feed, headers):
            return Scripted(304, b"", feed.content_type, headers=validators)
        return Scripted(200, feed.document, feed.content_type, headers=validators)


def _not_modified(feed: Published, headers: dict[str, str]) -> bool:
    """RFC 9110: If-None-Match wins when sent; else If-Modified-Since against Last-Modified."""
    match = headers.get("if-none-match")
    if match is not None:
        return feed.etag is not None and feed.etag in [t.strip() for t in match.split(",")]
    since = headers.get("if-modified-since")
    if since and feed.modified:
        try:
            return parsedate_to_datetime(feed.modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.app.answer(urlsplit(self.path).path, headers)  # type: ignore[attr-defined]
        if answer.delay:
            time.sleep(answer.delay)
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.status != 304:
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if answer.status != 304:
                self.wfile.write(answer.body)
        except OSError:  # the client gave up waiting: that is what a slow answer tests
            pass

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


FeedServer.handler = _Handler  # the server answers through this handler
