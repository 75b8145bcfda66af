"""PubMed through E-utilities: esearch over an entry-date window, efetch of unseen PMIDs only."""

from __future__ import annotations

from datetime import date, timedelta

from ..config import Query
from ..errors import SourceError
from ..http import HttpClient, RateLimiter
from ..models import Study
from ..parsers.pubmed import SearchPage, parse_efetch, parse_esearch
from ..settings import Settings
from .base import FetchResult, KnownIds, Window

ESEARCH_LIMIT = 9999  # esearch will not page past this many ids for one search


class PubMedSource:
    name = "pubmed"
    label = "PubMed"

    def __init__(self, settings: Settings, http: HttpClient, *, page_size: int = 5000,
                 fetch_batch: int = 200, search_limit: int = ESEARCH_LIMIT):
        self.base = settings.eutils_url.rstrip("/") + "/"
        self.http = http
        self.page_size = page_size
        self.fetch_batch = fetch_batch
        self.search_limit = search_limit
        self.common = {"tool": "watcher"}
        if settings.ncbi_email:
            self.common["email"] = settings.ncbi_email
        if settings.ncbi_api_key:
            self.common["api_key"] = settings.ncbi_api_key
        # NCBI allows 3 requests/s per client, 10 with an API key; shared by every query.
        self.limiter = RateLimiter(10 if settings.ncbi_api_key else 3)

    def terms(self, query: Query) -> str:
        return query.pubmed_term() or ""

    def fetch(self, query: Query, window: Window, known: KnownIds) -> FetchResult:
        term = self.terms(query)
        warnings: list[str] = []
        pmids = self._search(term, window.start, window.end, warnings)
        stored = known("pmid", pmids)
        wanted = [p for p in pmids if p not in stored]
        studies: list[Study] = []
        for start in range(0, len(wanted), self.fetch_batch):
            batch = wanted[start:start + self.fetch_batch]
            studies += self._fetch(batch)
        returned = {s.ids.get("pmid") for s in studies}
        missing = [p for p in wanted if p not in returned]
        incomplete = None
        if missing:  # never advance past a record we were told exists but could not read
            incomplete = (f"PubMed efetch returned no record for {len(missing)} of "
                          f"{len(wanted)} PMIDs ({', '.join(missing[:5])}"
                          f"{' ...' if len(missing) > 5 else ''})")
        return FetchResult(scheme="pmid", matched=pmids, studies=studies, warnings=warnings,
                           incomplete=incomplete)

    # -- E-utilities calls ------------------------------------------------------------------

    def _search(self, term: str, start: date, end: date, warnings: list[str]) -> list[str]:
        """All PMIDs entered in [start, end]; halves the window while it holds > 9,999."""
        page = self._esearch(term, start, end, retstart=0)
        for warning in page.warnings:
            if warning not in warnings:
                warnings.append(warning)
        if page.count > self.search_limit:
            if start >= end:
                raise SourceError(
                    f"PubMed: {page.count} records were entered on {start} for one query, more "
                    f"than esearch can list ({self.search_limit}); narrow the query's terms")
            middle = start + timedelta(days=(end - start).days // 2)
            return _unique(self._search(term, start, middle, warnings)
                           + self._search(term, middle + timedelta(days=1), end, warnings))
        ids = list(page.ids)
        while len(ids) < page.count:
            more = self._esearch(term, start, end, retstart=len(ids))
            if not more.ids:
                raise SourceError(f"PubMed esearch stopped at {len(ids)} of {page.count} ids "
                                  f"for {start} to {end}")
            ids += more.ids
        return _unique(ids)

    def _esearch(self, term: str, start: date, end: date, *, retstart: int) -> SearchPage:
        response = self.http.post(self.base + "esearch.fcgi", data={
            **self.common, "db": "pubmed", "term": term, "datetype": "edat",
            "mindate": start.strftime("%Y/%m/%d"), "maxdate": end.strftime("%Y/%m/%d"),
            "retstart": str(retstart), "retmax": str(self.page_size), "retmode": "xml",
        }, limiter=self.limiter, service="PubMed")
        return parse_esearch(response.content)

    def _fetch(self, pmids: list[str]) -> list[Study]:
        response = self.http.post(self.base + "efetch.fcgi", data={
            **self.common, "db": "pubmed", "id": ",".join(pmids), "retmode": "xml",
        }, limiter=self.limiter, service="PubMed")
        return parse_efetch(response.content)


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))
