"""Source registry: the one place a new source is plugged in.

Each source is one module exposing ``SPEC`` (name, label, YAML options model with its term
builder, fetcher factory, raw-record parser). The YAML schema, `watcher validate`, polling,
receipts and re-parsing all read this registry.
"""

from __future__ import annotations

from ..http import HttpClient
from ..settings import Settings
from . import clinicaltrials, europepmc, isrctn, pubmed
from .base import (
    FetchContext,
    FetchedRecord,
    FetchResult,
    Source,
    SourceOptions,
    SourceSpec,
    Window,
    date_window,
    terms_hash,
)

#: YAML source name -> spec, in the order sources are polled and shown.
REGISTRY: dict[str, SourceSpec] = {
    spec.name: spec for spec in (pubmed.SPEC, clinicaltrials.SPEC, isrctn.SPEC,
                                   europepmc.SPEC)
}

LABELS = {name: spec.label for name, spec in REGISTRY.items()}


def label(name: str) -> str:
    return LABELS.get(name, name)


def polled(name: str) -> bool:
    """Whether this version has a fetcher for the source (others are validated only)."""
    spec = REGISTRY.get(name)
    return bool(spec and spec.factory)


def build_sources(settings: Settings, http: HttpClient) -> dict[str, Source]:
    return {name: spec.factory(settings, http) for name, spec in REGISTRY.items()
            if spec.factory}


__all__ = ["FetchContext", "FetchResult", "FetchedRecord", "LABELS", "REGISTRY", "Source",
           "SourceOptions", "SourceSpec", "Window", "build_sources", "date_window", "label",
           "polled", "terms_hash"]
