"""The look-ups' environment variables: the upstreams' addresses, Crossref's polite-pool
contact, its rate, how often a study is asked about again, and each look-up's deadline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from ..variables import EnvSettings, Variable

CROSSREF_URL = "https://api.crossref.org/"
BIORXIV_URL = "https://api.biorxiv.org/"


@dataclass(frozen=True)
class LookupSettings(EnvSettings):
    crossref_url: str = CROSSREF_URL
    biorxiv_url: str = BIORXIV_URL
    #: Crossref's polite pool: a contact address sent as ``mailto`` (WATCHER_CROSSREF_MAILTO,
    #: else NCBI_EMAIL); without one, requests go to the public pool.
    mailto: str | None = None
    #: Requests per second to Crossref at most; slower still when Crossref's own
    #: X-Rate-Limit-* headers ask for less (its list queries allow a few per second).
    crossref_rate: float = 1.0
    biorxiv_rate: float = 1.0
    #: Days before a told study's DOI is asked of Crossref again (retractions, corrections).
    recheck_days: float = 7.0
    #: Days before a told preprint not yet known published is asked about again.
    preprint_days: float = 1.0
    #: Ids asked of one upstream in one run at most (newest studies first; the rest wait).
    per_run: float = 500.0
    #: Seconds one upstream's look-ups may take in all, each run; what is left stays due.
    timeout: float = 120.0

    variables = {
        "crossref_url": Variable.http_url("WATCHER_CROSSREF_URL", CROSSREF_URL),
        "biorxiv_url": Variable.http_url("WATCHER_BIORXIV_URL", BIORXIV_URL),
        "mailto": Variable.text("WATCHER_CROSSREF_MAILTO"),
        "crossref_rate": Variable.number("WATCHER_CROSSREF_RATE", 1.0, zero_ok=False,
                                         unit="requests per second"),
        "biorxiv_rate": Variable.number("WATCHER_BIORXIV_RATE", 1.0, zero_ok=False,
                                        unit="requests per second"),
        "recheck_days": Variable.number("WATCHER_CROSSREF_RECHECK_DAYS", 7.0, zero_ok=True,
                                        unit="days"),
        "preprint_days": Variable.number("WATCHER_PREPRINT_RECHECK_DAYS", 1.0, zero_ok=True,
                                         unit="days"),
        "per_run": Variable.number("WATCHER_LOOKUPS_PER_RUN", 500.0, zero_ok=True,
                                   unit="ids"),
        "timeout": Variable.number("WATCHER_LOOKUP_TIMEOUT", 120.0, zero_ok=False),
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str], problems: list[str]) -> Self:
        settings = super().from_env(env, problems)
        if settings.mailto is None:  # the address PubMed is already told
            settings = settings.with_(mailto=Variable.text("NCBI_EMAIL").raw(env))
        return settings
