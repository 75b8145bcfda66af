"""Europe PMC through its REST ``search``: the YAML options, the settings (REST base and
rate), the fetcher, the look-ups by id and the registry entry.

A poll asks for the query's Europe PMC terms, preprints only unless the query says
``preprints_only: false`` (``SRC:PPR``), limited to records first indexed in the window
(``FIRST_IDATE:[start TO end]``; the window already starts an overlap before the last
successful poll's end). It pages with ``cursorMark`` (``*`` first, then each answer's
``nextCursorMark``) until every record of the first page's ``hitCount`` has come; an answer
that is not a search answer (an ``errorBean``, an empty object, an HTML page, truncated JSON,
a ``hitCount`` without its ``resultList``), a cursor that does not advance while records are
still due, or more records than ``hitCount`` can explain fails the poll, never reads as zero
hits. Every record comes whole (``resultType=core``): its preprint <-> published links ride
along in ``details["versions"]``.

:meth:`EuropePMCSource.links_for_pmids` and :meth:`~EuropePMCSource.links_for_pprs` ask for
records by id (batched, rate-limited) for the look-up step after a poll.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import Field

from ..errors import SourceError
from ..http import HttpClient, RateLimiter
from ..models import SourceRecord
from ..parsers.europepmc import SearchAnswer, parse_records, parse_search, version_links
from ..terms import Terms
from ..variables import EnvSettings, Variable
from ..versions import VersionLink
from .base import (
    FetchContext,
    FetchResult,
    Progress,
    Search,
    SourceOptions,
    SourceSpec,
    Window,
    identified,
    join_terms,
    past_total,
)

DEFAULT_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest/"
PAGE_SIZE = 1000  # the REST search's largest page
ID_BATCH = 50  # ids asked for in one look-up request


@dataclass(frozen=True)
class EuropePMCSettings(EnvSettings):
    url: str = DEFAULT_URL
    rate: float = 2.0  # requests per second, shared by every query of a run

    variables = {
        "url": Variable.http_url("WATCHER_EUROPEPMC_URL", DEFAULT_URL),
        "rate": Variable.number("WATCHER_EUROPEPMC_RATE", 2.0, zero_ok=False,
                                unit="requests per second"),
    }


class EuropePMCOptions(SourceOptions):
    """A query's Europe PMC search: `((intervention) AND (terms) NOT (exclude)) AND SRC:PPR`
    in Europe PMC syntax; `preprints_only: false` searches all of Europe PMC."""

    terms: Terms = Field(min_length=1)
    exclude: Terms | None = None  # appended as NOT (...), as for PubMed
    preprints_only: bool = True

    def search_terms(self, intervention: str | None) -> str:
        term = join_terms(intervention, self.terms, exclude=self.exclude)
        return f"({term}) AND SRC:PPR" if self.preprints_only else term


class EuropePMCSource:
    name = "europepmc"
    label = "Europe PMC"

    def __init__(self, settings: EuropePMCSettings, http: HttpClient, *,
                 page_size: int = PAGE_SIZE, id_batch: int = ID_BATCH,
                 rate: float | None = None):
        self.base = settings.url.rstrip("/") + "/"
        self.http = http
        self.page_size = page_size
        self.id_batch = id_batch
        self.limiter = RateLimiter(rate or settings.rate)

    def fetch(self, search: Search[EuropePMCOptions], window: Window, context: FetchContext
              ) -> FetchResult:
        query = (f"({search.terms}) AND FIRST_IDATE:[{window.start.isoformat()} TO "
                 f"{window.end.isoformat()}]")
        results, total = self.collect(query, progress=context.progress)
        records = _unique([identified(r) for r in parse_records(results)])
        if len(records) < total:
            raise SourceError(f"Europe PMC search: {len(records)} distinct records arrived of "
                              f"the {total} of its hitCount; the window is asked again next "
                              "run")
        return FetchResult(scheme="ppr", matched=[r.source_id for r in records],
                           records=records, count=total)

    # -- look-ups by id (the post-poll step) ----------------------------------------------

    def links_for_pmids(self, pmids: Iterable[str]) -> list[VersionLink]:
        """The "Preprint in" links of these PubMed records (their preprints), asked for in
        batches of ``id_batch`` ids: ``(EXT_ID:1 OR EXT_ID:2 ...) AND SRC:MED``."""
        wanted = list(dict.fromkeys(p.strip() for p in pmids if p.strip().isdigit()))
        return self._links(wanted, "MED")

    def links_for_pprs(self, pprs: Iterable[str]) -> list[VersionLink]:
        """The "Preprint of" links of these Europe PMC preprints (their published versions)."""
        wanted = list(dict.fromkeys(p.strip().upper() for p in pprs
                                    if p.strip().upper().startswith("PPR")
                                    and p.strip()[3:].isdigit()))
        return self._links(wanted, "PPR")

    def _links(self, ids: list[str], source: str) -> list[VersionLink]:
        links: list[VersionLink] = []
        for at in range(0, len(ids), self.id_batch):
            batch = ids[at:at + self.id_batch]
            query = "(" + " OR ".join(f"EXT_ID:{value}" for value in batch) + f") AND SRC:{source}"
            results, _ = self.collect(query)
            for raw in results:
                try:
                    data = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if isinstance(data, dict):
                    links += [link for link in version_links(data) if link not in links]
        return links

    # -- the search, page after page ------------------------------------------------------

    def collect(self, query: str, *, progress: Progress | None = None
                ) -> tuple[list[str], int]:
        """Every result of *query* (as JSON text) and the first page's hitCount. Paging stops
        once that many have come; it fails when the cursor stops advancing (or the pages end)
        with records still due, or when more arrive than the hitCount can explain."""
        cursor, used, number = "*", set(), 1
        first = self._page(query, cursor, number)
        total, results = first.hit_count, list(first.results)
        page = first
        while True:
            if progress:
                progress(min(len(results), total), total)
            if past_total(len(results), total):
                raise SourceError(f"Europe PMC search: {number} pages brought {len(results)} "
                                  f"records, more than the {total} of its hitCount; stopped "
                                  "rather than page for ever")
            if len(results) >= total:
                return results, total
            if not page.results:
                raise SourceError(f"Europe PMC search: page {number} was empty after "
                                  f"{len(results)} of {total} records (hitCount)")
            following = page.next_cursor
            if not following:
                raise SourceError(f"Europe PMC search: the pages ended (no nextCursorMark) "
                                  f"after {len(results)} of {total} records (hitCount)")
            if following == cursor or following in used:
                raise SourceError(f"Europe PMC search: the cursor did not advance (page "
                                  f"{number} gave a nextCursorMark already used) after "
                                  f"{len(results)} of {total} records; stopped rather than loop")
            used.add(cursor)
            cursor, number = following, number + 1
            page = self._page(query, cursor, number)
            results += page.results

    def _page(self, query: str, cursor: str, number: int) -> SearchAnswer:
        try:
            response = self.http.get(self.base + "search", params={
                "query": query, "resultType": "core", "format": "json",
                "pageSize": str(self.page_size), "cursorMark": cursor},
                limiter=self.limiter, service=self.label)
            return parse_search(response.content)
        except SourceError as exc:  # ParseError included: say which page
            raise type(exc)(f"{exc} (page {number})") from None


def _unique(records: list[SourceRecord]) -> list[SourceRecord]:
    """One record per source id (a record may come twice when the index moves under the
    cursor)."""
    return list({record.source_id: record for record in records}.values())


SPEC = SourceSpec(name="europepmc", label="Europe PMC", options=EuropePMCOptions,
                  priority=30, settings=EuropePMCSettings, factory=EuropePMCSource,
                  parse_records=parse_records, scheme="ppr")
