"""PubMed through E-utilities: esearch over an entry-date window, efetch of unseen PMIDs only.

A two-phase source (sources.base.TwoPhaseSource): the core searches every query first, then
fetches the run's unknown PMIDs once, in efetch batches shared by all queries
(watcher.poll_run), so 50 new records over 7 queries are one efetch, not 7.

Corrections: one more esearch, at most once a day (watcher.poll_run keeps each query's
corrections position), of the run's queries' terms joined with OR by modification date
(datetype=mdat), lists the records revised since the last one; only those already stored are
fetched again, so a retraction, erratum or expression of concern added to a delivered record
reaches the core (which compares it with the kept version) at the cost of one search a day.

The YAML options (full PubMed syntax) and the search they build, the settings (E-utilities base,
NCBI e-mail, API key and rate) and PubMed's priority live here too, so PubMed is one module
registered in one place.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from ..errors import SourceError, WatcherError
from ..http import HttpClient, RateLimiter
from ..models import SourceRecord
from ..parsers.pubmed import SearchPage, parse_efetch_records, parse_esearch, parse_records
from ..terms import Terms
from ..variables import EnvSettings, Variable
from .base import (
    FetchContext,
    FetchResult,
    Listing,
    Search,
    SourceOptions,
    SourceSpec,
    Window,
    join_terms,
    past_total,
)

ESEARCH_LIMIT = 9999  # esearch will not page past this many ids for one search
#: Before any PubMed entry date: the first slice of a day's revisions listed by entry date.
EARLIEST_ENTRY = date(1700, 1, 1)
# esearch's retmax is capped at 10,000 ids, so a (sub-)window below ESEARCH_LIMIT is listed in
# one request.
ESEARCH_PAGE = 10_000
# PMIDs per efetch. NCBI asks for POST above ~200 ids (we always POST) and caps an efetch at
# 10,000 records, but each answer must arrive whole within one request deadline
# (WATCHER_HTTP_TIMEOUT, 30 s by default): PubMed XML runs ~20 KB per record (4.3 MB per 200
# of our fixtures), so 500 is ~10 MB, a few seconds from NCBI, and a retried batch repeats
# little. 2.5x fewer requests than 200 for a back-fill; larger batches gain little more.
EFETCH_BATCH = 500
DEFAULT_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
IN_FLIGHT = 4


@dataclass(frozen=True)
class PubMedSettings(EnvSettings):
    """Where E-utilities is, who asks (NCBI's e-mail and API key) and how fast."""

    url: str = DEFAULT_URL
    email: str | None = None
    api_key: str | None = field(default=None, repr=False)
    rate: float | None = None  # requests/s to a local E-utilities; NCBI's own is capped
    #: Searches a run keeps in flight at once (the rate limit still spaces them): NCBI answers
    #: in 0.2 to 1 s, so one at a time cannot reach 10 requests/s.
    in_flight: float = IN_FLIGHT

    variables = {
        "url": Variable.http_url("WATCHER_EUTILS_URL", DEFAULT_URL),
        "email": Variable.text("NCBI_EMAIL"),
        "api_key": Variable.text("NCBI_API_KEY", secret=True),
        "rate": Variable.number("WATCHER_NCBI_RATE", None, zero_ok=False,
                                unit="requests per second"),
        "in_flight": Variable.number("WATCHER_NCBI_IN_FLIGHT", IN_FLIGHT, zero_ok=False,
                                     unit="requests"),
    }


class PubMedOptions(SourceOptions):
    """A query's PubMed search: `(intervention) AND (terms) NOT (exclude)`."""

    terms: Terms = Field(min_length=1)
    exclude: Terms | None = None  # appended as NOT (...): noise PubMed itself can drop


    def search_terms(self, intervention: str | None) -> str:
        return join_terms(intervention, self.terms, exclude=self.exclude)


class PubMedSource:
    name = "pubmed"
    label = "PubMed"

    def __init__(self, settings: PubMedSettings, http: HttpClient, *,
                 page_size: int = ESEARCH_PAGE, fetch_batch: int = EFETCH_BATCH,
                 search_limit: int = ESEARCH_LIMIT):
        self.base = settings.url.rstrip("/") + "/"
        self.http = http
        self.page_size = page_size
        self.fetch_batch = fetch_batch
        self.in_flight = max(1, int(settings.in_flight))
        self.search_limit = search_limit
        self.common = {"tool": "watcher"}
        if settings.email:
            self.common["email"] = settings.email
        if settings.api_key:
            self.common["api_key"] = settings.api_key
        self.limiter = _ncbi_limiter(ncbi_rate(settings))

    def search(self, search: Search[PubMedOptions], window: Window) -> Listing:
        """Every PMID entered in *window* that the query matches (phase 1 of a run's poll)."""
        warnings: list[str] = []
        health: dict[str, Any] = {}
        pmids = self._search(search.terms, window.start, window.end, warnings, health=health)
        return Listing("pmid", pmids, warnings, health.get("count"), health.get("translation"))

    def revised(self, searches: list[Search[PubMedOptions]], window: Window) -> Listing:
        """The PMIDs any of *searches* matches that were revised in *window*: one search by
        modification date for the run's queries, its terms joined with OR (corrections concern
        stored records only, whichever query found them)."""
        terms = [search.terms for search in searches]
        term = terms[0] if len(terms) == 1 else " OR ".join(f"({t})" for t in terms)
        warnings: list[str] = []
        try:
            pmids = self._search(term, window.start, window.end, warnings, datetype="mdat")
        except WatcherError as exc:  # the polls fail, but say which search did
            raise SourceError("PubMed search for corrections (records revised in the window) "
                              f"failed: {exc}") from exc
        return Listing("pmid", pmids, warnings)

    def fetch_ids(self, ids: list[str]) -> list[SourceRecord]:
        """The records of *ids* (at most fetch_batch), in one efetch; ids PubMed does not
        return are simply absent."""
        return self._fetch(ids)

    def fetch(self, search: Search[PubMedOptions], window: Window, context: FetchContext
              ) -> FetchResult:
        """One query alone, start to finish (the core polls PubMed a run at a time, see
        watcher.poll_run; this serves a single query's fetch and the tests of its steps)."""
        listing = self.search(search, window)
        pmids, warnings = listing.ids, listing.warnings
        stored = context.known("pmid", pmids)
        wanted = [p for p in pmids if p not in stored]
        retry = [p for p in context.retry_ids if p not in stored and p not in wanted]
        # Kept records entered before the window and revised in it: fetched again for their
        # corrections. (One entered in the window is listed by both searches: only a record
        # entered and corrected within the same overlap days is not looked at again.)
        revised = self.revised([search], window)
        warnings += [w for w in revised.warnings if w not in warnings]
        listed = set(pmids) | set(retry)
        refresh = context.known("pmid", [p for p in revised.ids if p not in listed])
        records: list[SourceRecord] = []
        asked = wanted + retry + sorted(refresh)
        for start in range(0, len(asked), self.fetch_batch):
            records += self.fetch_ids(asked[start:start + self.fetch_batch])
            if context.progress:
                context.progress(min(start + self.fetch_batch, len(asked)), len(asked))
        returned = {r.source_id for r in records}
        # A quarantined PMID that came back after all is a match again.
        matched = pmids + [p for p in retry if p in returned]
        missing = [p for p in wanted + retry if p not in returned]
        return FetchResult(scheme="pmid", matched=matched, records=records, missing=missing,
                           warnings=warnings, count=listing.count,
                           translation=listing.translation)

    # -- E-utilities calls ------------------------------------------------------------------

    def _search(self, term: str, start: date, end: date, warnings: list[str], *,
                datetype: str = "edat", health: dict[str, Any] | None = None) -> list[str]:
        """All PMIDs entered (or, with mdat, revised) in [start, end]; a window holding more
        than 9,999 is split into date slices by the count it announced (see _slices).
        *health* gets the whole window's count and translation."""
        page = self._esearch(term, start, end, retstart=0, datetype=datetype)
        if health is not None and not health:
            health.update(count=page.count, translation=page.translation)
        for warning in page.warnings:
            if warning not in warnings:
                warnings.append(warning)
        if page.count > self.search_limit:
            if start >= end and datetype == "mdat":
                return self._revised_on(term, start, EARLIEST_ENTRY, start, warnings)
            if start >= end:
                raise SourceError(
                    f"PubMed: {page.count} records were entered on {start} for one query, more "
                    f"than esearch can list ({self.search_limit}); narrow the query's terms")
            return _unique([pmid for low, high in _slices(start, end, page.count,
                                                          self.search_limit)
                            for pmid in self._search(term, low, high, warnings,
                                                     datetype=datetype)])
        return self._rest(term, start, end, page, datetype)

    def _rest(self, term: str, start: date, end: date, page: SearchPage,
              datetype: str) -> list[str]:
        """*page*'s ids and those of the pages after it, up to what esearch lists; pages
        that list more ids than the count announced fail the poll (see past_total)."""
        ids = list(page.ids)
        while True:
            if past_total(len(ids), page.count):
                raise SourceError(f"PubMed esearch listed {len(ids)} ids for {start} to {end}, "
                                  f"more than the {page.count} of its count; stopped")
            if len(ids) >= min(page.count, self.search_limit):
                break
            more = self._esearch(term, start, end, retstart=len(ids), datetype=datetype)
            if not more.ids:
                raise SourceError(f"PubMed esearch stopped at {len(ids)} of {page.count} ids "
                                  f"for {start} to {end}")
            ids += more.ids
        return _unique(ids)

    def _revised_on(self, term: str, day: date, low: date, high: date, warnings: list[str],
                    page: SearchPage | None = None) -> list[str]:
        """The records revised on *day* and entered in [low, high], listed in entry-date slices.
        NCBI revises tens of thousands of records in one day (a yearly MeSH reload): more than
        one esearch lists, yet no reason to stop polling the query, nor to miss a retraction.
        *page*: this slice's first page, when already asked for."""
        sliced = _entered(term, low, high)
        page = page or self._esearch(sliced, day, day, retstart=0, datetype="mdat")
        if page.count <= self.search_limit or low >= high:
            if page.count > self.search_limit:
                warnings.append(f"{page.count} records entered on {low} were revised on {day}, "
                                f"more than esearch lists: only the first {self.search_limit} "
                                "were looked at for corrections")
            return self._rest(sliced, day, day, page, "mdat")
        middle = low + timedelta(days=(high - low).days // 2)
        halves = [(low, middle), (middle + timedelta(days=1), high)]
        pages = [self._esearch(_entered(term, a, b), day, day, retstart=0, datetype="mdat")
                 for a, b in halves]
        # Halves of a slice hold its records (a few more if PubMed is revising as we ask). An
        # answer where they do not would have the slicing ask for every day since 1700.
        if sum(p.count for p in pages) > page.count * 3 // 2:
            raise SourceError(f"PubMed's counts of the records revised on {day} do not add up "
                              f"({page.count} entered {low} to {high}, "
                              f"{' + '.join(str(p.count) for p in pages)} in its halves)")
        return _unique([pmid for (a, b), half in zip(halves, pages, strict=True)
                        for pmid in self._revised_on(term, day, a, b, warnings, half)])

    def _esearch(self, term: str, start: date, end: date, *, retstart: int,
                 datetype: str = "edat") -> SearchPage:
        response = self.http.post(self.base + "esearch.fcgi", data={
            **self.common, "db": "pubmed", "term": term, "datetype": datetype,
            "mindate": start.strftime("%Y/%m/%d"), "maxdate": end.strftime("%Y/%m/%d"),
            "retstart": str(retstart), "retmax": str(self.page_size), "retmode": "xml",
        }, limiter=self.limiter, service="PubMed")
        return parse_esearch(response.content)

    def check(self, search: Search[PubMedOptions], window: Window) -> SearchPage:
        """One esearch of the query over its window, for `validate --online`: the count,
        PubMed's translation of the term and its warnings (phrases not found ...)."""
        return self._esearch(search.terms, window.start, window.end, retstart=0)

    def _fetch(self, pmids: list[str]) -> list[SourceRecord]:
        response = self.http.post(self.base + "efetch.fcgi", data={
            **self.common, "db": "pubmed", "id": ",".join(pmids), "retmode": "xml",
        }, limiter=self.limiter, service="PubMed")
        return parse_efetch_records(response.content)


#: NCBI counts a client's requests, not a run's: one limiter per rate for the whole process, so
#: the first requests of a run (or of `serve`'s next job) cannot crowd the last ones of the
#: previous run into one second. NCBI counts them per second: up to the rate may go together.
_LIMITERS: dict[float, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def ncbi_rate(settings: PubMedSettings) -> float:
    """Requests per second, shared by every query: NCBI allows 3 per client, 10 with an API key.
    WATCHER_NCBI_RATE can lower that, and raise it only for an E-utilities that is not NCBI's
    (a local mirror, the demo's replay, the tests' server): NCBI blocks clients that exceed it."""
    policy = 10.0 if settings.api_key else 3.0
    # lower case and without a trailing dot: 'EUTILS.ncbi.nlm.nih.gov.' is NCBI's host too
    host = (urlsplit(settings.url).hostname or "").lower().rstrip(".")
    if settings.rate is None:
        return policy
    if host == "nih.gov" or host.endswith(".nih.gov"):
        return min(settings.rate, policy)
    return settings.rate


def _ncbi_limiter(rate: float) -> RateLimiter:
    with _LIMITERS_LOCK:
        if rate not in _LIMITERS:
            _LIMITERS[rate] = RateLimiter(rate, per_second=True)
        return _LIMITERS[rate]


def _entered(term: str, low: date, high: date) -> str:
    """*term* limited to records entered in [low, high] (PubMed's own range syntax)."""
    return f'({term}) AND ("{low:%Y/%m/%d}"[edat] : "{high:%Y/%m/%d}"[edat])'


def _slices(start: date, end: date, count: int, limit: int) -> list[tuple[date, date]]:
    """[start, end] cut into consecutive date slices each expected to hold at most 90% of
    *limit* of the window's *count* ids (as if spread evenly): 25,000 ids over ten years are
    three slices, each listed by one esearch, where halving blindly asked 14 times and threw
    each over-full answer away. Dates are whole days, so every slice is as many whole days as
    that share holds (7 days of 24,000 ids: four slices of 2 days, not three of 2 or 3 days,
    whose 3-day slice is over the limit). A slice still over the limit is cut again by its
    own count."""
    days = (end - start).days + 1
    length = max(1, min((days + 1) // 2, int(days * limit * 0.9 // count)))
    bounds = [*range(0, days, length), days]
    return [(start + timedelta(days=low), start + timedelta(days=high - 1))
            for low, high in zip(bounds, bounds[1:], strict=False)]


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


SPEC = SourceSpec(name="pubmed", label="PubMed", options=PubMedOptions, priority=10,
                  settings=PubMedSettings, factory=PubMedSource,
                  parse_records=parse_records, scheme="pmid")
