"""Source registry: the one place a new source is plugged in."""

from __future__ import annotations

from ..http import HttpClient
from ..settings import Settings
from .base import FetchResult, Source, Window, terms_hash
from .pubmed import PubMedSource

#: YAML source name -> class. Sources the YAML knows but that are not here yet are reported as
#: "not polled" rather than silently ignored.
REGISTRY: dict[str, type] = {
    PubMedSource.name: PubMedSource,
}

LABELS = {"pubmed": "PubMed", "clinicaltrials": "ClinicalTrials.gov", "europepmc": "Europe PMC",
          "terminal": "terminal"}


def build_sources(settings: Settings, http: HttpClient) -> dict[str, Source]:
    return {name: cls(settings, http) for name, cls in REGISTRY.items()}


__all__ = ["FetchResult", "LABELS", "REGISTRY", "Source", "Window", "build_sources",
           "terms_hash"]
