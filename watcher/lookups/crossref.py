"""Crossref's ``works``: a pure parser of its answers (every ``updated-by`` entry, a notice's
``update-to``, ``relation.has-preprint`` / ``is-preprint-of``) and a client that asks for many
DOIs in one request.

One request asks for up to BATCH DOIs: ``/works?filter=doi:A,doi:B,...&rows=N`` (the same
filter given several times is OR'ed; a DOI holding a comma cannot be written in a filter and
is asked alone, at ``/works/{doi}``). Requests carry ``mailto`` (Crossref's polite pool) and
are spaced by the configured rate, slowed further to what Crossref's ``X-Rate-Limit-Limit`` /
``X-Rate-Limit-Interval`` headers grant; a 429 is retried after its Retry-After by the
project's HTTP client, within the look-up's deadline.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..errors import SourceError
from ..http import HttpClient, RateLimiter
from ..versions import AUTHORITATIVE, VersionLink, clean_doi, doi_scheme
from .settings import LookupSettings

log = logging.getLogger(__name__)

#: DOIs asked in one request (and the answer's ``rows``): the URL stays a few kB long.
BATCH = 50
LABEL = "Crossref"

#: Crossref update types -> the correction RefType stem PubMed's path uses (the same event).
#: Others (addendum, clarification, new_version ...) are not corrections the team is told of.
UPDATE_STEMS = {
    "retraction": "Retraction", "withdrawal": "Retraction", "removal": "Retraction",
    "correction": "Erratum", "corrigendum": "Erratum", "erratum": "Erratum",
    "partial_retraction": "Erratum",
    "expression_of_concern": "ExpressionOfConcern",
}


@dataclass(frozen=True)
class Update:
    """One ``updated-by`` (or a notice's ``update-to``) entry."""

    kind: str  # Crossref's type, normalised: "retraction", "expression_of_concern" ...
    doi: str  # the other side: the notice's DOI (updated-by) or the corrected work's (update-to)
    source: str  # "retraction-watch", "publisher" ...
    label: str = ""
    date: str = ""
    record_id: str = ""  # Retraction Watch's record id

    @property
    def stem(self) -> str | None:
        """The correction this is (Retraction, Erratum, ExpressionOfConcern), or None."""
        return UPDATE_STEMS.get(self.kind)

    @property
    def retraction_watch(self) -> bool:
        return self.source == "retraction-watch"


@dataclass(frozen=True)
class Work:
    doi: str
    title: str = ""
    journal: str = ""
    published: str = ""  # ISO date, as precise as Crossref gives it
    updated_by: tuple[Update, ...] = ()
    update_to: tuple[Update, ...] = ()
    links: tuple[VersionLink, ...] = ()


def _date(value: Any) -> str:
    try:
        parts = [int(p) for p in value["date-parts"][0] if p is not None]
    except (KeyError, IndexError, TypeError, ValueError):
        return ""
    return "-".join(f"{p:02d}" if i else f"{p:04d}" for i, p in enumerate(parts[:3]))


def _first(value: Any) -> str:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), "")
    return " ".join(value.split()) if isinstance(value, str) else ""


def _updates(entries: Any) -> tuple[Update, ...]:
    """Every entry (not just the first), each with a DOI; malformed ones are skipped."""
    found = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        doi = clean_doi(str(entry.get("DOI") or ""))
        kind = re.sub(r"[\s-]+", "_", str(entry.get("type") or "").strip().lower())
        if not doi or not kind:
            continue
        found.append(Update(kind=kind, doi=doi, source=str(entry.get("source") or "publisher"),
                            label=str(entry.get("label") or ""),
                            date=_date(entry.get("updated")),
                            record_id=str(entry.get("record-id") or "")))
    return tuple(dict.fromkeys(found))


def _links(doi: str, item: dict[str, Any], journal: str, published: str,
           title: str) -> tuple[VersionLink, ...]:
    relation = item.get("relation") if isinstance(item.get("relation"), dict) else {}
    links = []
    for name in ("has-preprint", "is-preprint-of"):
        for entry in relation.get(name) or []:
            if not isinstance(entry, dict) or str(entry.get("id-type", "doi")) != "doi":
                continue
            other = clean_doi(str(entry.get("id") or ""))
            if not other or other == doi:
                continue
            note = name  # the identity core records "Crossref relation {note}"
            if entry.get("asserted-by"):
                note += f" (asserted by {entry['asserted-by']})"
            if name == "has-preprint":  # this work is the published version
                links.append(VersionLink(preprint=(doi_scheme(other), other),
                                         published=("doi", doi), basis=AUTHORITATIVE,
                                         via="crossref", note=note, journal=journal,
                                         published_date=published, title=title))
            else:  # this work is the preprint
                links.append(VersionLink(preprint=(doi_scheme(doi), doi),
                                         published=("doi", other), basis=AUTHORITATIVE,
                                         via="crossref", note=note))
    return tuple(dict.fromkeys(links))


def parse_work(item: Any) -> Work | None:
    """One work of an answer, or None when it has no usable DOI."""
    if not isinstance(item, dict):
        return None
    doi = clean_doi(str(item.get("DOI") or ""))
    if not doi:
        return None
    title, journal = _first(item.get("title")), _first(item.get("container-title"))
    published = _date(item.get("published")) or _date(item.get("issued"))
    return Work(doi=doi, title=title, journal=journal, published=published,
                updated_by=_updates(item.get("updated-by")),
                update_to=_updates(item.get("update-to")),
                links=_links(doi, item, journal, published, title))


def parse_answer(payload: bytes | str) -> list[Work]:
    """The works of a ``/works/{doi}`` (``work``) or ``/works?filter=`` (``work-list``) answer.
    Anything else (an error message, a stub, not JSON) raises SourceError: a look-up that
    could not be read is retried, never taken for "no updates"."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise SourceError("Crossref answered something that is not JSON") from None
    if not isinstance(data, dict) or data.get("status") != "ok" or \
            not isinstance(data.get("message"), dict):
        what = data.get("message") if isinstance(data, dict) else None
        raise SourceError(f"Crossref answered an error: {str(what)[:160]}")
    kind, message = data.get("message-type"), data["message"]
    if kind == "work":
        items = [message]
    elif kind == "work-list" and isinstance(message.get("items"), list):
        items = message["items"]
    else:
        raise SourceError(f"Crossref answered a {kind!r} where works were expected")
    return [work for work in map(parse_work, items) if work is not None]


class CrossrefClient:
    """Works by DOI, many per request, within Crossref's rate."""

    def __init__(self, settings: LookupSettings, http: HttpClient, *, batch: int = BATCH):
        self.base = settings.crossref_url.rstrip("/") + "/"
        self.mailto = settings.mailto
        self.http = http
        self.batch = batch
        self.limiter = RateLimiter(settings.crossref_rate)
        self.requests = 0

    def works(self, dois: Iterable[str]) -> dict[str, Work]:
        """DOI -> its work, for each DOI Crossref holds (one it does not is simply absent)."""
        dois = list(dict.fromkeys(d for d in map(clean_doi, dois) if d))
        found: dict[str, Work] = {}
        listable = [d for d in dois if "," not in d]
        for start in range(0, len(listable), self.batch):
            chunk = listable[start:start + self.batch]
            params = {"filter": ",".join(f"doi:{d}" for d in chunk), "rows": str(len(chunk))}
            found.update(self._ask(self.base + "works", params))
        for doi in dois:
            if "," in doi:
                found.update(self._ask(self.base + "works/" + quote(doi, safe="/()"), {}))
        return {doi: found[doi] for doi in dois if doi in found}

    def _ask(self, url: str, params: dict[str, str]) -> dict[str, Work]:
        if self.mailto:
            params = {**params, "mailto": self.mailto}
        self.requests += 1
        response = self.http.get(url, params=params, limiter=self.limiter, service=LABEL)
        self._obey(response.headers)
        return {work.doi: work for work in parse_answer(response.content)}

    def _obey(self, headers: Any) -> None:
        """Slow down to what Crossref says this pool may ask (``X-Rate-Limit-Limit`` requests
        per ``X-Rate-Limit-Interval``, e.g. "1s"), never speed up past the configured rate."""
        try:
            limit = float(headers.get("X-Rate-Limit-Limit", ""))
            interval = float(str(headers.get("X-Rate-Limit-Interval", "")).rstrip("s"))
        except ValueError:
            return
        if limit > 0 and interval > 0:
            wanted = 1.1 * interval / limit  # the same margin as RateLimiter's own
            if wanted > self.limiter.interval:
                log.debug("Crossref grants %g requests per %gs: slowing down", limit, interval)
                self.limiter.slow_to(wanted)
