"""The ISRCTN registry through its XML query API: the YAML options, the fetcher and the registry
entry.

A poll asks ``query/format/default`` for the query's condition and intervention terms restricted
to trials edited since the window's start (``lastEdited GE``; the window already starts an
overlap before the last poll's end). The API does not page: one answer holds up to ``limit``
trials and announces ``totalCount``; an answer with fewer trials than its total fails the poll
rather than losing trials. A trial's ClinicalTrials.gov number is kept as its ``nct`` id, so a
trial registered in both registries is one study, told once.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, ClassVar

from ..errors import SourceError
from ..http import HttpClient, RateLimiter
from ..parsers.isrctn import (
    ParsedRecord,
    changed_fields,
    parse_records,
    parse_search,
    trial_records,
)
from ..settings import Settings
from .base import FetchContext, FetchedRecord, FetchResult, SourceSpec, Window, past_total
from .clinicaltrials import TrialRegistryOptions

if TYPE_CHECKING:
    from ..config import Query

#: Trials asked for in one answer (the API has no pages; more than this fails the poll).
LIMIT = 5000


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

    def __init__(self, settings: Settings, http: HttpClient, *, limit: int = LIMIT,
                 rate: float | None = None):
        self.base = settings.isrctn_url.rstrip("/") + "/"
        self.http = http
        self.limit = limit
        self.limiter = RateLimiter(rate or settings.isrctn_rate)

    def fetch(self, query: Query, window: Window, context: FetchContext) -> FetchResult:
        options = query.sources[self.name]
        terms = options.search_terms(query.intervention_terms(self.name))
        q = f"{terms} AND lastEdited GE {window.start.isoformat()}T00:00:00.000Z"
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
        records = [_fetched(r) for r in trial_records(answer.trials)]
        found = list(dict.fromkeys(r.source_id for r in records))
        return FetchResult(scheme="isrctn", matched=found, records=records)


def _fetched(record: ParsedRecord) -> FetchedRecord:
    source_id = record.source_id or "unidentified-" + hashlib.sha256(
        record.raw.encode("utf-8")).hexdigest()[:12]
    return FetchedRecord(source_id, record.raw, record.study, record.error, record.modified)


SPEC = SourceSpec(name="isrctn", label="ISRCTN", options=ISRCTNOptions, factory=ISRCTNSource,
                  parse_records=parse_records, scheme="isrctn",
                  changes=changed_fields)
