"""RSS and Atom feeds (a journal's table of contents, a preprint server's subject feed, a
registry's feed): the body of a feed the project fetched into one record per entry, and a kept
record back into its study. Pure: feedparser reads bytes it is handed (it never fetches).

Each entry is kept as JSON (the feed's title and link, and everything feedparser read of the
entry, dates as ISO text), so ``parse_records`` re-reads it offline. Its ids are normalised: a
DOI from ``prism:doi``, ``dc:identifier``, the entry's id, its link or its text (a preprint
server's DOI under ``preprint_doi``), a PMID from a PubMed link or identifier, a trial's NCT or
ISRCTN number from a registry link (trials an article names in its text are linked ids). An
entry without any id is still kept, under a source id made from its own id, else its link,
else a hash of its text.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import feedparser

from ..errors import ParseError
from ..models import SourceRecord, Study
from ..printable import one_line
from ..versions import clean_doi, doi_in, doi_scheme
from .pubmed_fields import registry_ids_in_text

SOURCE = "feed"
#: A PMID in a PubMed link or an identifier ("pmid:123", "pubmed:123", "info:pmid/123").
_PMID = re.compile(r"(?:pubmed\.ncbi\.nlm\.nih\.gov/|ncbi\.nlm\.nih\.gov/pubmed/|^pmid:\s*"
                   r"|^pubmed:\s*|^info:pmid/)(\d{1,9})\b", re.IGNORECASE)
_NCT_LINK = re.compile(r"clinicaltrials\.gov/(?:study|ct2/show)/(NCT\d{8})\b", re.IGNORECASE)
_ISRCTN_LINK = re.compile(r"isrctn\.com/(ISRCTN\d{8})\b", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_VERSION = re.compile(r"v\d+$")
#: What a publisher's page adds after the DOI in its address (/doi/10.1002/x/abstract).
_PAGE = re.compile(r"/(abstract|full|fulltext|pdf|epdf|html|summary)$", re.IGNORECASE)
#: A preprint server's subject feed ("medrxiv Subject Collection: ...") names the server.
_SERVERS = {"medrxiv": "medRxiv", "biorxiv": "bioRxiv"}
_BENIGN = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
_DATE_KEYS = ("published", "prism_publicationdate", "prism_coverdate", "created", "updated")


@dataclass
class FeedAnswer:
    """One fetched feed: its title, a record per distinct entry, and what to tell about it."""

    title: str
    records: list[SourceRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def shown_url(url: str) -> str:
    """A feed's address as messages show it: no user info, query or fragment (a private
    feed's token is often there)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}" if host else one_line(url)[:100]


def parse_feed(content: bytes, *, url: str, content_type: str = "") -> FeedAnswer:
    """Every entry of the feed *content* fetched from *url*. A body that is not a feed (an HTML
    page, an empty answer, a JSON error) or a broken one with no readable entry is a
    ParseError; a broken feed whose entries could be read keeps them, with one warning."""
    where = f"feed {shown_url(url)}"
    headers = {"content-location": shown_url(url),
               "content-type": content_type or "application/xml"}
    parsed = feedparser.parse(io.BytesIO(content), response_headers=headers,
                              sanitize_html=True, resolve_relative_uris=True)
    # a fragment of a cut-off entry carries nothing to tell (no title, text, link or id)
    entries = [entry for entry in parsed.get("entries") or []
               if any(entry.get(key) for key in ("title", "summary", "content", "link", "id"))]
    problem = parsed.get("bozo_exception")
    # A feed served as text/html, or in another encoding than it declares, reads whole.
    broken = parsed.get("bozo") and not isinstance(problem, _BENIGN)
    if not parsed.get("version") and not entries:
        raise ParseError(f"{where}: the answer is not an RSS or Atom feed ({_what(content)})")
    if broken and not entries:
        raise ParseError(f"{where}: malformed feed, no entry could be read "
                         f"({one_line(problem)[:120]})")
    feed = parsed.get("feed") or {}
    info = {"title": one_line(feed.get("title") or ""),
            "link": feed.get("link") or shown_url(url)}
    answer = FeedAnswer(title=info["title"])
    if broken:
        answer.warnings.append(f"{where} is malformed ({one_line(problem)[:120]}); "
                               f"{_count(len(entries))} that could be read kept")
    seen: set[str] = set()
    repeated = 0
    for entry in entries:
        raw = json.dumps({"feed": info, "entry": _plain(entry)}, sort_keys=True,
                         ensure_ascii=False)
        record = record_of(raw, url)
        if record.source_id in seen:
            repeated += 1
            continue
        seen.add(record.source_id)
        answer.records.append(record)
    if repeated:
        answer.warnings.append(f"{where} lists {_count(repeated)} again under an id it "
                               "already used; each is kept once")
    return answer


def _count(n: int) -> str:
    return f"{n} entr{'y' if n == 1 else 'ies'}"


def _what(content: bytes) -> str:
    text = content[:2000].decode("utf-8", "replace").strip()
    if not text:
        return "an empty answer"
    if text[:200].lower().lstrip("\ufeff").startswith(("<!doctype html", "<html")):
        return "an HTML page"
    return f"it begins {one_line(text)[:60]!r}"


def _plain(value: Any) -> Any:
    """What feedparser read, as JSON: dicts, lists and text, dates as ISO text, the
    ``*_detail`` copies of fields left out."""
    if isinstance(value, time.struct_time):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not str(k).endswith("_detail")}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def record_of(raw: str, url: str = "") -> SourceRecord:
    """One kept entry (the JSON ``parse_feed`` wrote) as a record with its study."""
    try:
        data = json.loads(raw)
        entry, info = data["entry"], data.get("feed") or {}
        if not isinstance(entry, dict):
            raise TypeError("the entry is not a mapping")
    except (ValueError, KeyError, TypeError) as exc:
        return SourceRecord("", raw, None, error=f"feed entry: not a kept feed entry ({exc})")
    source_id = source_id_of(entry, info.get("link") or shown_url(url))
    try:
        study = study_of(entry, info)
    except (TypeError, AttributeError, ValueError) as exc:
        return SourceRecord(source_id, raw, None, error=f"feed entry {source_id}: {exc}")
    return SourceRecord(source_id, raw, study, modified=_text(entry.get("updated_parsed"))[:10]
                        or None)


def parse_records(raws: list[str]) -> list[SourceRecord]:
    """Kept entries re-read offline (``watcher reparse``): one record per raw entry."""
    return [record_of(raw) for raw in raws]


def source_id_of(entry: dict[str, Any], feed_link: str) -> str:
    """A stable id for an entry: its own id (qualified by its feed's address when it is not
    already global, such as a bare number), else its link, else a hash of its text."""
    own = one_line(entry.get("id") or "")
    if own:
        return own if ":" in own else f"{feed_link.rstrip('/')}#{own}"
    link = one_line(entry.get("link") or "")
    if link:
        return link
    text = "\n".join(_text(entry.get(key)) for key in ("title", "summary"))
    return "entry-" + hashlib.sha256(f"{feed_link}\n{text}".encode()).hexdigest()[:16]


def study_of(entry: dict[str, Any], info: dict[str, Any]) -> Study:
    summary = _summary(entry)
    title = one_line(_strip(_text(entry.get("title")))) or (
        summary[:120] + ("…" if len(summary) > 120 else "")) or "(untitled feed entry)"
    links = [_text(entry.get("link")), *(_text(link.get("href")) for link in
                                         entry.get("links") or [] if isinstance(link, dict))]
    identifiers = [_text(entry.get(key)) for key in ("prism_doi", "dc_identifier", "id")]
    ids = _ids(identifiers, links, [title, summary, _text(entry.get("dc_source"))])
    kind = "publication"
    if "nct" in ids or "isrctn" in ids:
        kind = "trial"
    elif "preprint_doi" in ids:
        kind = "preprint"
    linked = {scheme: [v for v in values if ids.get(scheme) != v]
              for scheme, values in registry_ids_in_text(f"{title} {summary}").items()}
    day = next((value[:10] for key in _DATE_KEYS
                if re.match(r"\d{4}-\d{2}-\d{2}", value := _date(entry, key))), "")
    journal = one_line(_text(entry.get("prism_publicationname")) or info.get("title") or "")
    journal = next((name for key, name in _SERVERS.items() if key in journal.lower()), journal)
    url = next((link for link in links if link.startswith(("http://", "https://"))), "")
    return Study(source=SOURCE, kind=kind, ids=ids, title=title, abstract=summary,
                 authors=_authors(entry), journal=journal, published=day,
                 year=int(day[:4]) if day else None, entry_date=day or None, url=url,
                 linked_ids={k: v for k, v in linked.items() if v},
                 details={"feed": one_line(info.get("title") or ""),
                          "feed_link": _text(info.get("link"))})


def _ids(identifiers: list[str], links: list[str], texts: list[str]) -> dict[str, str]:
    ids: dict[str, str] = {}
    doi = None
    for value in identifiers:
        value = value.strip()
        if value.lower().startswith(("http://", "https://")):
            links = [*links, value]
        else:
            doi = doi or clean_doi(value.removeprefix("info:doi/"))
    for link in links:
        path = link.split("?", 1)[0].split("#", 1)[0]
        for pattern, scheme in ((_NCT_LINK, "nct"), (_ISRCTN_LINK, "isrctn")):
            if (match := pattern.search(path)) and scheme not in ids:
                ids[scheme] = match.group(1).upper()
        doi = doi or _link_doi(path)
    for value in [*identifiers, *links]:
        if (match := _PMID.search(value.strip())) and "pmid" not in ids:
            ids["pmid"] = match.group(1)
    if doi is None and not ids:
        doi = next((found for text in texts if (found := doi_in(text))), None)
    if doi:
        ids[doi_scheme(doi)] = doi
    return ids


def _link_doi(path: str) -> str | None:
    """The DOI in a link's path (a resolver's, a publisher's /doi/ page, a preprint server's
    /content/ page, whose version suffix is not part of the DOI)."""
    found = doi_in(path)
    found = _PAGE.sub("", found) if found else None
    if found and doi_scheme(_VERSION.sub("", found)) == "preprint_doi":
        return _VERSION.sub("", found)
    return found


def _summary(entry: dict[str, Any]) -> str:
    content = entry.get("content") or []
    longest = max((_text(c.get("value")) for c in content if isinstance(c, dict)), key=len,
                  default="")
    summary = _text(entry.get("summary"))
    return one_line(_strip(longest if len(longest) > len(summary) else summary))


def _authors(entry: dict[str, Any]) -> list[str]:
    names = [_text(a.get("name")) for a in entry.get("authors") or [] if isinstance(a, dict)]
    names = [n for n in names if n.strip()] or [_text(entry.get("author"))]
    split = [part for name in names for part in re.split(r"\s*;\s*", name)]
    return [one_line(name) for name in split if one_line(name)]


def _date(entry: dict[str, Any], key: str) -> str:
    parsed = _text(entry.get(f"{key}_parsed"))
    return parsed or _text(entry.get(key)).strip()


def _strip(text: str) -> str:
    return html.unescape(_TAG.sub(" ", text))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
