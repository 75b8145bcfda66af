"""ClinicalTrials.gov (API v2): the YAML options a query may already set. The fetcher arrives
with the trial-registries work; until then the source is validated and reported as not polled.
"""

from __future__ import annotations

from pydantic import Field

from .base import SourceOptions, SourceSpec, Terms


class ClinicalTrialsOptions(SourceOptions):
    """Condition terms (`query.cond`), intervention terms (`query.intr`, defaulting to the
    shared intervention's) and optional free terms (`query.term`)."""

    condition: Terms = Field(min_length=1)
    intervention: Terms | None = None
    terms: Terms | None = None


    def search_terms(self, intervention: str | None) -> str:
        parts = [f"cond={self.condition}", f"intr={self.intervention or intervention or ''}"]
        if self.terms:
            parts.append(f"term={self.terms}")
        return " | ".join(parts)

    def problems(self, intervention: str | None) -> list[str]:
        if not (self.intervention or intervention):
            return ["has no ClinicalTrials.gov intervention terms (set 'intervention' here or "
                    "'clinicaltrials' in the shared intervention)"]
        return []


SPEC = SourceSpec(name="clinicaltrials", label="ClinicalTrials.gov",
                  options=ClinicalTrialsOptions, scheme="nct")
