"""Source registry: the one place a new source is plugged in.

Each source is one module exposing ``SPEC`` (name, label, priority, YAML options model with its
term builder, settings read from its own environment variables, fetcher factory, raw-record
parser). The YAML schema, the settings, `watcher validate`, polling, receipts, merging and
re-parsing all read this registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..http import HttpClient
from . import clinicaltrials, europepmc, feed, isrctn, pubmed
from .base import (
    FetchContext,
    FetchResult,
    Listing,
    Search,
    Source,
    SourceOptions,
    SourceSpec,
    TwoPhaseSource,
    Window,
    date_window,
    terms_hash,
)

#: YAML source name -> spec, in the order sources are polled and shown.
REGISTRY: dict[str, SourceSpec] = {
    spec.name: spec for spec in (pubmed.SPEC, clinicaltrials.SPEC, isrctn.SPEC,
                                   europepmc.SPEC, feed.SPEC)
}

LABELS = {name: spec.label for name, spec in REGISTRY.items()}

#: Whose description of a study wins when several sources hold it, most trusted first.
PRIORITY: tuple[str, ...] = tuple(sorted(REGISTRY, key=lambda name: REGISTRY[name].priority))


def label(name: str) -> str:
    return LABELS.get(name, name)


def polled(name: str) -> bool:
    """Whether this version has a fetcher for the source (others are validated only)."""
    spec = REGISTRY.get(name)
    return bool(spec and spec.factory)


def build_sources(settings: Mapping[str, Any], http: HttpClient) -> dict[str, Source]:
    """Every polled source's fetcher, each given its own settings (``Settings.sources``)."""
    return {name: spec.factory(settings[name], http) for name, spec in REGISTRY.items()
            if spec.factory}


__all__ = ["FetchContext", "FetchResult", "LABELS", "Listing", "PRIORITY", "REGISTRY", "Search",
           "Source", "SourceOptions", "SourceSpec", "TwoPhaseSource", "Window", "build_sources",
           "date_window", "label", "polled", "terms_hash"]
