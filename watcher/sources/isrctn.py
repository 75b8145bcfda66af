"""The ISRCTN registry through its XML query API: the YAML options, the settings (API base and
rate), the fetcher and the registry entry.

A poll asks ``query/format/default`` for the query's condition and intervention terms restricted
to trials edited since the window's start (``lastEdited GE``; the window already starts an
overlap before the last poll's end). The API does not page: one answer holds up to ``limit``
trials and announces ``totalCount``; an answer with fewer trials than its total fails the poll
rather than losing trials. A trial's ClinicalTrials.gov number is kept as its ``nct`` id, so a
trial registered in both registries is one study, told once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..clock import utc_now
from ..errors import SourceError
from ..http import HttpClient, RateLimiter
from ..models import SourceRecord
from ..parsers.isrctn import changed_fields, parse_records, parse_search
from ..variables import EnvSettings, Variable
from .base import (
    FetchContext,
    FetchResult,
    Search,
    SourceSpec,
    Window,
    identified,
    past_total,
)
from .clinicaltrials import TrialRegistryOptions

#: Trials asked for in one answer (the API has no pages; more than this fails the poll).
LIMIT = 5000
DEFAULT_URL = "https://www.isrctn.com/api/"


@dataclass(frozen=True)
class ISRCTNSettings(EnvSettings):
    url: str = DEFAULT_URL
    rate: float = 1.0  # requests per second, shared by every query of a run

    variables = {
        "url": Variable.http_url("WATCHER_ISRCTN_URL", DEFAULT_URL),
        "rate": Variable.number("WATCHER_ISRCTN_RATE", 1.0, zero_ok=False,
                                unit="requests per second"),
    }


class ISRCTNOptions(TrialRegistryOptions):
    """Sent as one free-text `q=` of groups (field filters such as `condition:` are reported
    to be ignored by the API)."""

    registry: ClassVar[str] = "ISRCTN"
    key: ClassVar[str] = "isrctn"

    def search_terms(self, intervention: str | None) -> str:
        """The q= expression without its date limit: every part in its own group."""
        parts = [self.condition, self.intervention or intervention or "", self.terms or ""]
        return " AND ".join(f"({part})" for part in parts if part)


class ISRCTNSource:
    name = "isrctn"
    label = "ISRCTN"

    def __init__(self, settings: ISRCTNSettings, http: HttpClient, *, limit: int = LIMIT,
                 rate: float | None = None):
        self.base = settings.url.rstrip("/") + "/"
        self.http = http
        self.limit = limit
        self.limiter = RateLimiter(rate or settings.rate)

    def fetch(self, search: Search[ISRCTNOptions], window: Window, context: FetchContext
              ) -> FetchResult:
        q = f"{search.terms} AND lastEdited GE {window.start.isoformat()}T00:00:00.000Z"
        response = self.http.get(self.base + "query/format/default",
                                 params={"q": q, "limit": str(self.limit)},
                                 limiter=self.limiter, service=self.label)
        answer = parse_search(response.content)
        if answer.total is not None and answer.total > len(answer.trials):
            raise SourceError(f"ISRCTN search: {answer.total} trials match but the answer holds "
                              f"{len(answer.trials)} (limit {self.limit}); narrow the terms")
        if answer.total is None and len(answer.trials) >= self.limit:
            raise SourceError(f"ISRCTN search: the answer holds {len(answer.trials)} trials, its "
                              "limit, and no totalCount: more may match; narrow the terms")
        if answer.total is not None and past_total(len(answer.trials), answer.total):
            raise SourceError(f"ISRCTN search: the answer holds {len(answer.trials)} trials, "
                              f"more than the {answer.total} of its totalCount")
        # the answer's day: a trial stating no status has it derived from its dates as of it
        records = [identified(r) for r in parse_records(answer.trials, as_of=window.end)]
        found = list(dict.fromkeys(r.source_id for r in records))
        return FetchResult(scheme="isrctn", matched=found, records=records)


def reparse_records(raws: list[str]) -> list[SourceRecord]:
    """Kept trials re-read offline (`watcher reparse`): a status derived from the dates is
    derived as of today, the day the record is read again (the parser itself reads no clock)."""
    return parse_records(raws, as_of=utc_now().date())


#: Ranked after every other source (it had no rank before it was given one).
SPEC = SourceSpec(name="isrctn", label="ISRCTN", options=ISRCTNOptions, priority=40,
                  settings=ISRCTNSettings, factory=ISRCTNSource,
                  parse_records=reparse_records, scheme="isrctn",
                  changes=changed_fields)
