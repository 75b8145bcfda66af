"""Europe PMC (preprints and more): the YAML options a query may already set and its REST base
(checked, not used yet). The fetcher arrives with the preprints work; until then the source is
validated and reported as not polled.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from ..terms import Terms
from ..variables import EnvSettings, Variable
from .base import SourceOptions, SourceSpec, join_terms

DEFAULT_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest/"


@dataclass(frozen=True)
class EuropePMCSettings(EnvSettings):
    url: str = DEFAULT_URL

    variables = {"url": Variable.http_url("WATCHER_EUROPEPMC_URL", DEFAULT_URL)}


class EuropePMCOptions(SourceOptions):
    """A query's Europe PMC search: `(intervention) AND (terms)` in Europe PMC syntax."""

    terms: Terms = Field(min_length=1)


    def search_terms(self, intervention: str | None) -> str:
        return join_terms(intervention, self.terms)


SPEC = SourceSpec(name="europepmc", label="Europe PMC", options=EuropePMCOptions,
                  priority=30, settings=EuropePMCSettings, scheme="doi")
