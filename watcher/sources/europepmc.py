"""Europe PMC (preprints and more): the YAML options a query may already set. The fetcher
arrives with the preprints work; until then the source is validated and reported as not polled.
"""

from __future__ import annotations

from pydantic import Field

from ..terms import Terms
from .base import SourceOptions, SourceSpec, join_terms


class EuropePMCOptions(SourceOptions):
    """A query's Europe PMC search: `(intervention) AND (terms)` in Europe PMC syntax."""

    terms: Terms = Field(min_length=1)


    def search_terms(self, intervention: str | None) -> str:
        return join_terms(intervention, self.terms)


SPEC = SourceSpec(name="europepmc", label="Europe PMC", options=EuropePMCOptions,
                  scheme="doi")
