"""The look-ups after a poll, once per run, before delivery (watcher.pipeline calls it under
the run lock): which stored studies to ask about, asking, and what the answers become.

- Crossref, for the DOIs of studies someone was told of (or is owed), newest first, each at
  most every WATCHER_CROSSREF_RECHECK_DAYS, WATCHER_LOOKUPS_PER_RUN at most a run, BATCH a
  request: corrections (watcher.lookups.updates) and version links (``relation``).
- bioRxiv/medRxiv, for told preprints not yet known published (daily): version links.
- Europe PMC by id (``links_for_pmids`` for new publications, ``links_for_pprs`` for told
  preprints not yet published), when the Europe PMC source offers them.

Each link goes to the identity core (``watcher.identity.apply_link``). Each upstream has its
own deadline (WATCHER_LOOKUP_TIMEOUT): one that fails or times out leaves what it did not
answer due for the next run, is logged and recorded (``watcher status``), and keeps nothing
else waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..clock import stamp
from ..config import Config
from ..db import Store
from ..db.lookups import DueId
from ..db.storage import storage_cause
from ..errors import WatcherError, failure_line
from ..http import HttpClient, client_for, poll_deadline
from ..identity import apply_link
from ..settings import Settings
from ..sources import REGISTRY
from ..versions import VersionLink
from . import updates
from .biorxiv import BiorxivClient, servers_for
from .crossref import BATCH, CrossrefClient
from .settings import LookupSettings

log = logging.getLogger(__name__)

LABELS = {"crossref": "Crossref", "biorxiv": "bioRxiv", "europepmc_pmid": "Europe PMC (PMIDs)",
          "europepmc_ppr": "Europe PMC (preprints)"}
#: New publications are asked of Europe PMC once, while this recent.
NEW_DAYS = 3


@dataclass
class LookupOutcome:
    upstream: str
    asked: int = 0  # ids answered
    requests: int = 0
    corrections: int = 0  # outbox rows of corrections added
    links: int = 0  # version links found
    queued: int = 0  # outbox rows the links added ("now published")
    error: str | None = None


@dataclass
class Lookups:
    outcomes: list[LookupOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[LookupOutcome]:
        return [o for o in self.outcomes if o.error]


def run(config: Config, store: Store, settings: Settings, *, now: datetime,
        http: HttpClient | None = None) -> Lookups:
    """Every look-up due now; a failing upstream is recorded, never raised (a full disk is)."""
    own = http is None
    http = http or client_for(settings)
    try:
        report = Lookups()
        for upstream, step in (("crossref", _crossref), ("biorxiv", _biorxiv),
                               ("europepmc_pmid", _europepmc_pmids),
                               ("europepmc_ppr", _europepmc_pprs)):
            outcome = LookupOutcome(upstream)
            report.outcomes.append(outcome)
            _guarded(store, outcome, now, lambda step=step, outcome=outcome: step(
                config, store, settings, http, now, outcome))
        return report
    finally:
        if own:
            http.close()


def _guarded(store: Store, outcome: LookupOutcome, now: datetime,
             work: Callable[[], bool]) -> None:
    when = stamp(now)
    try:
        asked = work()
    except Exception as exc:
        if storage_cause(exc) is not None:
            raise
        outcome.error = failure_line(exc, LABELS[outcome.upstream])
        with store.transaction():
            store.lookup_failed(outcome.upstream, error=outcome.error, now=when)
        # as a poll's failure is: `status` shows it, and the next run asks again
        log.info("look-up %s failed: %s (what it did not answer is asked next run)",
                 LABELS[outcome.upstream], outcome.error,
                 exc_info=not isinstance(exc, WatcherError))
        return
    if asked:
        with store.transaction():
            store.lookup_succeeded(outcome.upstream, checked=outcome.asked, now=when)


def _since(now: datetime, days: float) -> str:
    return stamp(now - timedelta(days=days))


def apply_links(store: Store, config: Config, links: Iterable[VersionLink], now: str) -> int:
    """Hand each link to the identity core; the outbox rows it queued."""
    return sum(apply_link(store, config, link, now) for link in links)


def _crossref(config: Config, store: Store, settings: Settings, http: HttpClient,
              now: datetime, outcome: LookupOutcome) -> bool:
    own: LookupSettings = settings.lookups
    due = store.lookups_due("crossref", ("doi", "preprint_doi"), now=stamp(now),
                            checked_before=_since(now, own.recheck_days), limit=int(own.per_run))
    if not due:
        return False
    client = CrossrefClient(own, http)
    when = stamp(now)
    try:
        with poll_deadline(own.timeout):
            for start in range(0, len(due), BATCH):
                chunk = due[start:start + BATCH]
                works = client.works([d.value for d in chunk])
                with store.transaction():
                    for item in chunk:
                        work = works.get(item.value)
                        if work is not None:
                            outcome.corrections += updates.tell(store, config, item.study_id,
                                                                work, when)
                            outcome.links += len(work.links)
                            outcome.queued += apply_links(store, config, work.links, when)
                    store.lookups_checked("crossref", chunk, when)
                outcome.asked += len(chunk)
    finally:
        outcome.requests = client.requests
    return True


def _biorxiv(config: Config, store: Store, settings: Settings, http: HttpClient,
             now: datetime, outcome: LookupOutcome) -> bool:
    own: LookupSettings = settings.lookups
    due = store.lookups_due("biorxiv", ("preprint_doi",), now=stamp(now),
                            checked_before=_since(now, own.preprint_days),
                            limit=int(own.per_run), unpublished=True,
                            accept=lambda doi: bool(servers_for(doi)))
    if not due:
        return False
    client = BiorxivClient(own, http)
    when = stamp(now)
    try:
        with poll_deadline(own.timeout):
            for item in due:
                links = client.published(item.value)
                with store.transaction():
                    outcome.links += len(links)
                    outcome.queued += apply_links(store, config, links, when)
                    store.lookups_checked("biorxiv", [item], when)
                outcome.asked += 1
    finally:
        outcome.requests = client.requests
    return True


def _europepmc(upstream: str, method: str, due: list[DueId], config: Config, store: Store,
               settings: Settings, http: HttpClient, now: datetime,
               outcome: LookupOutcome) -> bool:
    spec = REGISTRY.get("europepmc")
    source: Any = spec.factory(settings.source("europepmc"), http) \
        if spec is not None and spec.factory else None
    ask = getattr(source, method, None)
    if not due or ask is None:  # nothing due, or a Europe PMC source without by-id look-ups
        return False
    when = stamp(now)
    with poll_deadline(settings.lookups.timeout):
        links = ask([d.value for d in due])
    with store.transaction():
        outcome.links += len(links)
        outcome.queued += apply_links(store, config, links, when)
        store.lookups_checked(upstream, due, when)
    outcome.asked = len(due)
    return True


def _europepmc_pmids(config: Config, store: Store, settings: Settings, http: HttpClient,
                     now: datetime, outcome: LookupOutcome) -> bool:
    """New publications (first stored in the last NEW_DAYS), asked once: a preprint of it?"""
    due = store.lookups_due("europepmc_pmid", ("pmid",), checked_before="", now=stamp(now),
                            limit=int(settings.lookups.per_run),
                            first_seen_since=_since(now, NEW_DAYS))
    return _europepmc("europepmc_pmid", "links_for_pmids", due, config, store, settings, http,
                      now, outcome)


def _europepmc_pprs(config: Config, store: Store, settings: Settings, http: HttpClient,
                    now: datetime, outcome: LookupOutcome) -> bool:
    """Told preprints not yet known published, daily: published yet?"""
    due = store.lookups_due("europepmc_ppr", ("ppr",), now=stamp(now),
                            checked_before=_since(now, settings.lookups.preprint_days),
                            limit=int(settings.lookups.per_run), unpublished=True)
    return _europepmc("europepmc_ppr", "links_for_pprs", due, config, store, settings, http,
                      now, outcome)


def status_lines(store: Store) -> list[str]:
    """`watcher status`: when each look-up last succeeded, and its last failure."""
    lines = []
    for row in store.lookup_statuses():
        line = (f"look-up {LABELS.get(row.upstream, row.upstream)}: last success "
                f"{row.last_success or 'never'}")
        if row.last_success:
            line += f" ({row.checked} ids asked)"
        if row.last_error and (not row.last_success or row.last_error_at >= row.last_success):
            line += f"; LAST ERROR {row.last_error_at}: {row.last_error} (asked again next run)"
        lines.append(line)
    return lines
