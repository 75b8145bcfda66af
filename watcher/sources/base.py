"""What every source provides, and what it hands back to the core.

A source is one module: its YAML options model (with the term builder), its settings (base
URL, rate, keys: environment variables it declares), its priority, its fetcher and its parser,
registered once in ``sources/__init__.py``. A fetch is handed its own options only (a
:class:`Search`), never the whole query. The core stores what it returns, decides what is new,
and moves its position on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from ..http import HttpClient
from ..models import SourceRecord, Study
from ..variables import EnvSettings, NoSettings
from ..yaml_base import Strict

#: known(scheme, ids) -> the subset already stored, so a source fetches only what is new.
KnownIds = Callable[[str, Iterable[str]], set[str]]
#: progress(done, total): records a fetch has asked for so far out of all it must ask for,
#: reported after each request, so a front end can show a long back-fill (the core draws nothing).
Progress = Callable[[int, int], None]


class SourceOptions(Strict):
    """A source's options in a saved query. Subclasses add their terms and build the search."""

    enabled: bool = True

    def search_terms(self, intervention: str | None) -> str:
        """The exact search this query sends, given the shared intervention's terms for this
        source; a change restarts the query's look-back."""
        raise NotImplementedError

    def problems(self, intervention: str | None) -> list[str]:
        """What makes this query unusable for the source (beyond the model's own checks)."""
        return []


Options = TypeVar("Options", bound=SourceOptions)


@dataclass(frozen=True)
class Search(Generic[Options]):
    """What one saved query asks of one source: its id, that source's own options from the
    YAML, and the shared intervention's terms for that source. A fetch reads nothing else of
    the query."""

    query_id: str
    options: Options
    intervention: str | None = None

    @property
    def terms(self) -> str:
        """The exact search sent (a change restarts the query's look-back)."""
        return self.options.search_terms(self.intervention)


@dataclass(frozen=True)
class Window:
    """Inclusive range of entry (or update) dates asked of the source."""

    start: date
    end: date

    def __str__(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


@dataclass
class FetchContext:
    """What the core tells a fetch: which ids are stored, which quarantined ids to try again,
    the source's opaque cursor from the last successful poll, where to report progress, and
    how many days each poll re-reads before its last window's end."""

    known: KnownIds
    retry_ids: list[str] = field(default_factory=list)
    cursor: str | None = None
    progress: Progress | None = None
    overlap_days: int = 2


@dataclass
class FetchResult:
    """What one query matched in one window: every matching id, and records for those the
    core did not hold (or asked to retry)."""

    scheme: str  # id scheme of ``matched`` (pmid, nct, ...)
    matched: list[str]
    records: list[SourceRecord]
    # Listed by the search but not returned by the fetch: retried, then quarantined.
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cursor: str | None = None  # the next opaque cursor, for sources that are not date windows
    #: How many records the search matched in the window, and how the source read the terms
    #: (PubMed's QueryTranslation), when it says: kept per poll for query-health checks.
    count: int | None = None
    translation: str | None = None


class Source(Protocol):
    name: str  # key in the YAML 'sources:' mapping
    label: str  # shown to users

    def fetch(self, search: Search[Any], window: Window, context: FetchContext
              ) -> FetchResult: ...


@dataclass
class Listing:
    """What one query's search listed, before anything is fetched (a :class:`TwoPhaseSource`):
    the ids in the source's *scheme*, and, as in a FetchResult, the warnings, count and
    translation the source gave."""

    scheme: str
    ids: list[str]
    warnings: list[str] = field(default_factory=list)
    count: int | None = None
    translation: str | None = None


@runtime_checkable
class TwoPhaseSource(Protocol):
    """A source whose searches list ids only, the records fetched by id in a second request
    (PubMed): the core searches every query, runs one corrections search for them all when
    one is due (at most daily), then fetches the run's unknown ids once, in batches of
    *fetch_batch* shared by every query (watcher.poll_run). Opt-in: a source whose search
    answers carry the records keeps :meth:`Source.fetch` only."""

    name: str
    label: str
    fetch_batch: int
    in_flight: int  # searches a run may have in flight at once (1: one after another)

    def search(self, search: Search[Any], window: Window) -> Listing: ...

    def revised(self, searches: list[Search[Any]], window: Window) -> Listing:
        """The ids any of *searches* matches that were revised in *window*: the stored ones
        not listed otherwise are fetched again, for their corrections."""
        ...

    def fetch_ids(self, ids: list[str]) -> list[SourceRecord]: ...


@dataclass(frozen=True)
class SourceSpec:
    """A source's entry in the registry. *factory* is None for a source the YAML may already
    configure but that is not polled yet (it is validated and reported as not polled)."""

    name: str
    label: str
    options: type[SourceOptions]
    #: Whose description of a study wins when several sources hold it: lower is more trusted.
    priority: int
    #: Its settings, read from the environment variables the class declares.
    settings: type[EnvSettings] = NoSettings
    #: (its settings, the run's HTTP client) -> the fetcher.
    factory: Callable[[Any, HttpClient], Source] | None = None
    #: Re-parse kept raw records offline: one record (with .study or .error) per raw record.
    parse_records: Callable[[list[str]], list[SourceRecord]] | None = None
    scheme: str = ""  # the id scheme of the source's own ids
    #: (previous, current, tracked fields) -> what changed that the team cares about, one
    #: (field, phrase) each (("status", "status Recruiting → Completed")); empty when nothing
    #: tracked changed. The field lets a digest tell each field of a trial once.
    changes: Callable[[Study, Study, list[str]], list[tuple[str, str]]] | None = None


def terms_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class LastWindow(Protocol):
    """Where a query's polls of a source got to (the store's Position)."""

    @property
    def window_end(self) -> str | None: ...

    @property
    def terms_hash(self) -> str | None: ...


def date_window(position: LastWindow, *, terms: str, lookback_days: int, overlap_days: int,
                today: date) -> Window:
    """From the last successful window's end minus an overlap. A new query looks back
    `lookback_days`; an edited one looks back that far too, but never leaves a gap after its
    last successful window."""
    lookback = today - timedelta(days=lookback_days)
    if position.window_end:
        start = date.fromisoformat(position.window_end) - timedelta(days=overlap_days)
        if position.terms_hash != terms_hash(terms):
            start = min(start, lookback)
    else:
        start = lookback
    return Window(min(start, today), today)


def past_total(collected: int, total: int) -> bool:
    """Whether a paged or one-answer fetch has collected more than the *total* its source
    announced, plus a small margin (records added upstream while we page). Past it the answer
    is not converging (fresh page tokens for ever, repeated pages): the fetch must stop and
    fail rather than keep reading."""
    return collected > total + max(10, total // 100)


def identified(record: SourceRecord) -> SourceRecord:
    """*record*, named by a hash of its payload when it carries no id of its own, so it can
    still be kept and set aside (a registry's record without its number)."""
    if record.source_id:
        return record
    digest = hashlib.sha256(record.raw.encode("utf-8")).hexdigest()[:12]
    return replace(record, source_id="unidentified-" + digest)


def join_terms(*parts: Any, exclude: str | None = None) -> str:
    """'(a) AND (b) NOT (c)': every part in its own group, so no part can change another."""
    term = " AND ".join(f"({part})" for part in parts if part)
    return f"{term} NOT ({exclude})" if exclude else term
