"""Noise filters from the YAML: pure functions from a study and a query's filters to a verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .models import Study
from .yaml_base import Strict


class Filters(Strict):
    """Noise handling: drop or label publication types; keep, label or drop non-human studies."""

    exclude_publication_types: list[str] = []
    label_publication_types: list[str] = []
    non_human: Literal["keep", "label", "exclude"] = "keep"


@dataclass
class Verdict:
    excluded: str | None = None  # why the study is kept out of digests, if it is
    labels: list[str] = field(default_factory=list)


def judge(study: Study, filters: Filters) -> Verdict:
    types = {t.casefold(): t for t in study.publication_types}
    verdict = Verdict()
    for wanted in filters.exclude_publication_types:
        if wanted.casefold() in types:
            verdict.excluded = f"publication type {types[wanted.casefold()]}"
            break
    if study.non_human and filters.non_human == "exclude" and not verdict.excluded:
        verdict.excluded = "non-human study"
    verdict.labels = [types[w.casefold()] for w in filters.label_publication_types
                      if w.casefold() in types]
    if study.non_human and filters.non_human == "label":
        verdict.labels.append("non-human")
    return verdict
