"""bioRxiv/medRxiv's own API: which journal article a preprint became. A pure parser of
``/pubs`` (and ``/details``) answers and a client asking ``/pubs/{server}/{doi}/na/json``.

Both servers share the 10.1101 DOI prefix (a medRxiv DOI's last part has 8 digits, a
bioRxiv one's 6, so the likelier server is asked first and the other only when the first
has no such preprint); medRxiv's newer DOIs carry the prefix 10.64898.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..errors import SourceError
from ..http import HttpClient, RateLimiter
from ..versions import AUTHORITATIVE, VersionLink, clean_doi, doi_scheme
from .settings import LookupSettings

LABEL = "bioRxiv"
_MEDRXIV_SUFFIX = re.compile(r"^10\.1101/(\d{4}\.\d{2}\.\d{2}\.)?\d{8}(v\d+)?$")


def servers_for(doi: str) -> tuple[str, ...]:
    """The servers a preprint DOI may belong to, likeliest first (none for another DOI)."""
    if doi.startswith("10.64898/"):
        return ("medrxiv",)
    if doi.startswith("10.1101/"):
        return ("medrxiv", "biorxiv") if _MEDRXIV_SUFFIX.match(doi) else ("biorxiv", "medrxiv")
    return ()


@dataclass(frozen=True)
class Answer:
    links: list[VersionLink]
    found: bool  # the server knows the preprint (a /details answer may say "not published")


def _status(data: Any) -> str:
    try:
        return str(data["messages"][0].get("status", "")).lower()
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""


def _collection(payload: bytes | str) -> tuple[list[dict[str, Any]], str]:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise SourceError("bioRxiv answered something that is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("collection"), list):
        raise SourceError("bioRxiv answered without a collection")
    status = _status(data)
    if status not in ("ok", "no posts found"):
        raise SourceError(f"bioRxiv answered status {status[:80]!r}")
    return [item for item in data["collection"] if isinstance(item, dict)], status


def parse_pubs(payload: bytes | str) -> Answer:
    """A ``/pubs`` answer: each preprint -> published mapping as a VersionLink."""
    items, status = _collection(payload)
    links = []
    for item in items:
        preprint = clean_doi(str(item.get("preprint_doi") or ""))
        published = clean_doi(str(item.get("published_doi") or ""))
        if not preprint or not published:
            continue
        platform = str(item.get("preprint_platform") or "bioRxiv")
        links.append(VersionLink(
            preprint=(doi_scheme(preprint), preprint), published=("doi", published),
            basis=AUTHORITATIVE, via="biorxiv", note=f"{platform} /pubs mapping",
            journal=" ".join(str(item.get("published_journal") or "").split()),
            published_date=str(item.get("published_date") or "")))
    return Answer(list(dict.fromkeys(links)), found=status == "ok" and bool(items))


def parse_details(payload: bytes | str) -> Answer:
    """A ``/details`` answer: every version of the preprint; its ``published`` DOI ("NA"
    while unpublished) as a VersionLink."""
    items, status = _collection(payload)
    links = []
    for item in items:
        preprint = clean_doi(str(item.get("doi") or ""))
        published = clean_doi(str(item.get("published") or ""))
        if preprint and published:
            links.append(VersionLink(
                preprint=(doi_scheme(preprint), preprint), published=("doi", published),
                basis=AUTHORITATIVE, via="biorxiv",
                note=f"{item.get('server') or 'bioRxiv'} /details published DOI"))
    return Answer(list(dict.fromkeys(links)), found=status == "ok" and bool(items))


class BiorxivClient:
    def __init__(self, settings: LookupSettings, http: HttpClient):
        self.base = settings.biorxiv_url.rstrip("/") + "/"
        self.http = http
        self.limiter = RateLimiter(settings.biorxiv_rate)
        self.requests = 0

    def published(self, doi: str) -> list[VersionLink]:
        """The published version(s) of preprint *doi* ([] while it has none, or when it is
        not a bioRxiv/medRxiv DOI)."""
        for server in servers_for(doi):
            self.requests += 1
            response = self.http.get(f"{self.base}pubs/{server}/{quote(doi, safe='/')}/na/json",
                                     limiter=self.limiter, service=LABEL)
            answer = parse_pubs(response.content)
            if answer.found:
                return answer.links
        return []
