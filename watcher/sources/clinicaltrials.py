"""ClinicalTrials.gov (API v2): the YAML options a query may already set. The fetcher arrives
with the trial-registries work; until then the source is validated and reported as not polled.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from .base import SourceOptions, SourceSpec, checked_terms


class ClinicalTrialsOptions(SourceOptions):
    """Condition terms (`query.cond`), intervention terms (`query.intr`, defaulting to the
    shared intervention's) and optional free terms (`query.term`)."""

    condition: str = Field(min_length=1)
    intervention: str | None = None
    terms: str | None = None

    _check = field_validator("condition", "intervention", "terms")(checked_terms)

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
