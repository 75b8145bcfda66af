"""RSS and Atom feeds named in the YAML (journals' tables of contents, a preprint server's
subject feed, a registry's feed): the YAML options, the settings (request rate), the fetcher and
the registry entry.

A poll asks each of the query's feed URLs through the project's HTTP client (its deadline and
size cap apply) with a conditional GET: the ``ETag`` and ``Last-Modified`` of the last
successful fetch of each URL are the query's cursor, sent back as ``If-None-Match`` and
``If-Modified-Since``; a ``304 Not Modified`` is a successful poll with nothing new. A feed lists
every article of a journal, so its entries are filtered to those whose title or summary
mentions the query's feed terms (see watcher.sources.feed_terms); only those are kept and told.
An entry carrying the DOI or PMID of a study already stored (from PubMed, say) is that study,
never a second alert. One failing URL fails the poll, naming the URL: the cursor is kept, so
every feed is asked again in full next time. Edited terms forget the cursor (the feeds are read
whole again, so entries the new terms match are found).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from ..errors import SourceError
from ..http import HttpClient, RateLimiter
from ..models import SourceRecord
from ..parsers.feed import parse_feed, parse_records, shown_url
from ..terms import Terms
from ..variables import EnvSettings, Variable, is_http_url
from .base import FetchContext, FetchResult, Search, SourceOptions, SourceSpec, Window, terms_hash
from .feed_terms import FeedMatcher, problem

#: The id scheme of ``FetchResult.matched``: the entries' own source ids (each fetch returns
#: the record of every entry it matched, so none is looked up by this scheme).
SCHEME = "feed"


def _http_url(value: str) -> str:
    value = value.strip()
    if not is_http_url(value):
        raise ValueError(f"{shown_url(value)!r} is not an http(s) URL with a host")
    return value


#: A feed's address in the YAML: http(s) with a host (shown without its query in messages).
FeedUrl = Annotated[str, AfterValidator(_http_url)]


@dataclass(frozen=True)
class FeedSettings(EnvSettings):
    rate: float = 1.0  # requests per second, to all feeds together, shared by a run's queries

    variables = {
        "rate": Variable.number("WATCHER_FEED_RATE", 1.0, zero_ok=False,
                                unit="requests per second"),
    }


class FeedOptions(SourceOptions):
    """A query's feeds: their URLs, and the words an entry must mention to be told (with the
    shared intervention's ``feed`` words, when it has them)."""

    urls: list[FeedUrl] = Field(min_length=1)
    terms: Terms | None = None

    @field_validator("urls")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("terms")
    @classmethod
    def _plain_terms(cls, value: str | None) -> str | None:
        if value is not None and (found := problem(value)):
            raise ValueError(found)
        return value

    def search_terms(self, intervention: str | None) -> str:
        """The feeds asked and the words an entry must mention: a change restarts the query
        (its cursor is forgotten, so every feed is read whole again)."""
        words = " AND ".join(f"({group})" for group in (intervention, self.terms) if group)
        return f"{' '.join(map(shown_url, self.urls))} | {words}"

    def problems(self, intervention: str | None) -> list[str]:
        if intervention and (found := problem(intervention)):
            return [f"cannot use its shared intervention's feed terms: {found}"]
        if not (self.terms or intervention):
            return ["has no feed terms: a feed lists every article of its journal, so set "
                    "'terms' here or 'feed' in the shared intervention"]
        return []


class FeedSource:
    name = "feed"
    label = "Feeds"

    def __init__(self, settings: FeedSettings, http: HttpClient):
        self.http = http
        self.limiter = RateLimiter(settings.rate)

    def fetch(self, search: Search[FeedOptions], window: Window, context: FetchContext
              ) -> FetchResult:
        options = search.options
        matcher = FeedMatcher.of(search.intervention, options.terms)
        terms = terms_hash(search.terms)
        before = _cursor(context.cursor)
        known = before.get("feeds", {}) if before.get("terms") == terms else {}
        state: dict[str, dict[str, str]] = {}
        records: dict[str, SourceRecord] = {}
        warnings: list[str] = []
        for url in options.urls:
            key = _key(url)
            last = known.get(key)
            response = self._get(url, last if isinstance(last, dict) else {})
            if response is None:  # 304: nothing new since the last successful fetch
                state[key] = last  # type: ignore[assignment]
                continue
            answer = parse_feed(response.content, url=url,
                                content_type=response.headers.get("content-type", ""))
            warnings += answer.warnings
            for record in answer.records:
                study = record.study
                if record.source_id not in records and (
                        study is None or matcher.matches(study.title, study.abstract)):
                    records[record.source_id] = record
            state[key] = {name: value for name, value in (
                ("etag", response.headers.get("etag", "")),
                ("modified", response.headers.get("last-modified", ""))) if value}
        kept = list(records.values())
        return FetchResult(scheme=SCHEME, matched=[r.source_id for r in kept if r.study],
                           records=kept, warnings=warnings,
                           cursor=json.dumps({"terms": terms, "feeds": state}, sort_keys=True))

    def _get(self, url: str, known: dict[str, str]) -> Any:
        """The feed's answer, or None when it has not changed since *known* (a 304)."""
        headers = {}
        if known.get("etag"):
            headers["If-None-Match"] = known["etag"]
        if known.get("modified"):
            headers["If-Modified-Since"] = known["modified"]
        response = self.http.get(url, headers=headers or None, accept=(304,),
                                 limiter=self.limiter, service=f"feed {shown_url(url)}")
        if response.status_code == 304:
            if not known:
                raise SourceError(f"feed {shown_url(url)} answered 304 Not Modified to a "
                                  "request that was not conditional")
            return None
        return response


def _key(url: str) -> str:
    """A URL's key in the cursor: a hash, so a private feed's token is not kept twice."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def _cursor(text: str | None) -> dict[str, Any]:
    """The cursor of the last successful poll; empty (fetch everything) when unreadable."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("feeds", {}), dict) else {}


#: Ranked after every other source: a journal's feed says less of a study than PubMed does.
SPEC = SourceSpec(name="feed", label="Feeds", options=FeedOptions, priority=50,
                  settings=FeedSettings, factory=FeedSource, parse_records=parse_records,
                  scheme=SCHEME)
