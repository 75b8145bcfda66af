"""ClinicalTrials.gov through API v2: the YAML options, the settings (API base and rate), the
fetcher and the registry entry.

A poll asks ``/studies`` for the query's condition, intervention and free terms, restricted to
studies whose last update was posted in the window (a new study's first posting is its first
update), follows every page and checks the total. The registry refreshes its data once a day, so
the range never runs past ``/version``'s data timestamp, and the day last covered is kept as the
source's cursor: a registry that was late is caught up by the next poll. Every study returned is
kept raw; one whose tracked fields changed becomes a trial-change event (see ``changes``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import ClassVar

from pydantic import Field, field_validator

from ..errors import ParseError, SourceError
from ..http import HttpClient, RateLimiter
from ..models import SourceRecord
from ..parsers.clinicaltrials import (
    SearchPage,
    nct_of,
    parse_records,
    parse_search_page,
    parse_version,
    study_records,
)
from ..parsers.trial_changes import DEFAULT_TRACK, TRACKABLE, changed_fields
from ..terms import Terms
from ..variables import EnvSettings, Variable
from .base import (
    FetchContext,
    FetchResult,
    Search,
    SourceOptions,
    SourceSpec,
    Window,
    identified,
    past_total,
)

PAGE_SIZE = 1000  # the API's largest page
#: How long a /version answer is trusted within one long-lived process.
VERSION_TTL = 600.0
#: A data timestamp older than this is reported: the registry has not refreshed for days.
STALE_DAYS = 4
ID_BATCH = 100  # quarantined NCT ids asked again per request
DEFAULT_URL = "https://clinicaltrials.gov/api/v2/"


@dataclass(frozen=True)
class ClinicalTrialsSettings(EnvSettings):
    url: str = DEFAULT_URL
    rate: float = 1.0  # requests per second, shared by every query of a run

    variables = {
        "url": Variable.http_url("WATCHER_CTGOV_URL", DEFAULT_URL),
        "rate": Variable.number("WATCHER_CTGOV_RATE", 1.0, zero_ok=False,
                                unit="requests per second"),
    }


class TrialRegistryOptions(SourceOptions):
    """What a query asks of a trial registry: condition terms, intervention terms (defaulting
    to the shared intervention's), optional free terms, and which fields of a trial already
    seen raise a change alert (`track`). Each registry builds its own search from them."""

    #: How the registry is named in messages, and its key in the shared intervention.
    registry: ClassVar[str] = "ClinicalTrials.gov"
    key: ClassVar[str] = "clinicaltrials"

    condition: Terms = Field(min_length=1)
    intervention: Terms | None = None
    terms: Terms | None = None
    track: list[str] = Field(default_factory=lambda: list(DEFAULT_TRACK))

    @field_validator("track")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("track must name at least one field (set 'enabled: false' to "
                             "stop polling the registry)")
        unknown = [name for name in value if name not in TRACKABLE]
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))} in track "
                             f"(one of: {', '.join(TRACKABLE)})")
        return list(dict.fromkeys(value))

    def problems(self, intervention: str | None) -> list[str]:
        if not (self.intervention or intervention):
            return [f"has no {self.registry} intervention terms (set 'intervention' here or "
                    f"'{self.key}' in the shared intervention)"]
        return []


class ClinicalTrialsOptions(TrialRegistryOptions):
    """Sent as `query.cond`, `query.intr` and `query.term`."""

    def search_terms(self, intervention: str | None) -> str:
        parts = [f"cond={self.condition}", f"intr={self.intervention or intervention or ''}"]
        if self.terms:
            parts.append(f"term={self.terms}")
        return " | ".join(parts)

    def search_params(self, intervention: str | None) -> dict[str, str]:
        """The query.* parameters of the search this query sends."""
        params = {"query.cond": self.condition}
        if self.intervention or intervention:
            params["query.intr"] = self.intervention or intervention or ""
        if self.terms:
            params["query.term"] = self.terms
        return params


class ClinicalTrialsSource:
    name = "clinicaltrials"
    label = "ClinicalTrials.gov"

    def __init__(self, settings: ClinicalTrialsSettings, http: HttpClient, *,
                 page_size: int = PAGE_SIZE, rate: float | None = None):
        self.base = settings.url.rstrip("/") + "/"
        self.http = http
        self.page_size = page_size
        # About one request per second (WATCHER_CTGOV_RATE), shared by every query of a run.
        self.limiter = RateLimiter(rate or settings.rate)
        self._version: tuple[float, date] | None = None

    def fetch(self, search: Search[ClinicalTrialsOptions], window: Window,
              context: FetchContext) -> FetchResult:
        data_day = self.data_date()
        start = window.start
        covered = _day(context.cursor)
        if covered is not None:  # the registry's last day we saw, which may precede our end
            start = min(start, covered - timedelta(days=context.overlap_days))
        end = max(start, min(window.end, data_day))
        warnings = []
        if (window.end - data_day).days >= STALE_DAYS:
            warnings.append(f"ClinicalTrials.gov data was last refreshed on {data_day}; "
                            "studies posted since are asked for again next run")
        params = {**search.options.search_params(search.intervention),
                  "filter.advanced": f"AREA[LastUpdatePostDate]RANGE[{start},{end}]"}
        studies = self._search(params)
        records = [identified(r) for r in study_records(studies)]
        found = [r.source_id for r in records]
        retry = [i for i in context.retry_ids if i not in found and i.startswith("NCT")]
        again = self._by_ids(retry) if retry else []
        returned = {r.source_id for r in again}
        return FetchResult(scheme="nct", matched=found + [i for i in retry if i in returned],
                           records=records + again,
                           missing=[i for i in retry if i not in returned],
                           warnings=warnings, cursor=min(end, data_day).isoformat())

    # -- API calls ----------------------------------------------------------------------------

    def data_date(self) -> date:
        """The day of the registry's data timestamp (/version), asked once per run."""
        now = time.monotonic()
        if self._version is None or now - self._version[0] > VERSION_TTL:
            response = self.http.get(self.base + "version", limiter=self.limiter,
                                     service=self.label)
            self._version = (now, parse_version(response.content).date())
        return self._version[1]

    def _search(self, params: dict[str, str]) -> list[dict]:
        """Every study of the search, page after page; the first page's totalCount must match
        what was collected, or the poll fails (nothing of it is stored). Paging stops as soon
        as more studies than that total (plus a small margin) have come: a registry handing
        out fresh nextPageTokens for ever fails the poll instead of running it for ever."""
        first = self._page({**params, "countTotal": "true"}, 1)
        if first.total is None:
            raise ParseError("ClinicalTrials.gov search: no totalCount on the first page "
                             "although countTotal=true was asked")
        total = first.total
        studies = list(first.studies)
        token, tokens, number = first.next_token, set(), 1
        while True:
            if past_total(len(studies), total):
                raise SourceError(f"ClinicalTrials.gov search: {number} pages brought "
                                  f"{len(studies)} studies, more than the {total} of its "
                                  "countTotal; stopped rather than page for ever")
            if not token:
                break
            if token in tokens:
                raise SourceError(f"ClinicalTrials.gov search: page {number} gave the same "
                                  "nextPageToken again; stopped rather than loop")
            tokens.add(token)
            number += 1
            page = self._page({**params, "pageToken": token}, number)
            if not page.studies:
                raise SourceError(f"ClinicalTrials.gov search: page {number} was empty after "
                                  f"{len(studies)} of {total} studies")
            studies += page.studies
            token = page.next_token
        unique = {_key(s): s for s in studies}
        if not studies and total:
            raise SourceError(f"ClinicalTrials.gov search: the first page was empty although "
                              f"totalCount is {total}")
        if len(unique) < total:
            raise SourceError(f"ClinicalTrials.gov search: the pages ended (no nextPageToken) "
                              f"after {len(unique)} of {total} studies")
        return list(unique.values())

    def _page(self, params: dict[str, str], number: int) -> SearchPage:
        try:
            response = self.http.get(self.base + "studies", params={
                **params, "pageSize": str(self.page_size), "format": "json"},
                limiter=self.limiter, service=self.label)
            return parse_search_page(response.content)
        except SourceError as exc:  # ParseError included: say which page
            raise type(exc)(f"{exc} (page {number})") from None

    def _by_ids(self, ncts: list[str]) -> list[SourceRecord]:
        """Quarantined studies asked for again by id (filter.ids), outside any date range."""
        records: list[SourceRecord] = []
        for at in range(0, len(ncts), ID_BATCH):
            batch = ncts[at:at + ID_BATCH]
            page = self._page({"filter.ids": ",".join(batch)}, 1)
            records += [identified(r) for r in study_records(page.studies)]
        return records


def _key(study: dict) -> str:
    return nct_of(study) or hashlib.sha256(repr(study).encode("utf-8")).hexdigest()


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


SPEC = SourceSpec(name="clinicaltrials", label="ClinicalTrials.gov",
                  options=ClinicalTrialsOptions, priority=20,
                  settings=ClinicalTrialsSettings, factory=ClinicalTrialsSource,
                  parse_records=parse_records, scheme="nct",
                  changes=changed_fields)
