"""How the local ClinicalTrials.gov server reads a search: the terms of ``query.cond`` /
``query.intr`` / ``query.term`` (a case-insensitive OR of ANDs of words and quoted phrases, on
whole words) against the texts of each area, and ``filter.advanced``'s LastUpdatePostDate range.
Anything else is refused with UnsupportedQuery (a 400 naming it)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

_RANGE = re.compile(r"^AREA\[LastUpdatePostDate\]RANGE\[\s*([^,\]]+)\s*,\s*([^\]]+)\s*\]$")
_TOKEN = re.compile(r'"([^"]*)"|(\S+)')


class UnsupportedQuery(ValueError):
    """Search syntax this local server does not evaluate."""


def parse_terms(expr: str) -> list[list[str]]:
    """'a b OR "c d" AND e' -> [["a", "b"], ["c d", "e"]]: OR of ANDs of phrases."""
    if re.search(r"[()\[\]]", expr) or re.search(r"\bNOT\b", expr):
        raise UnsupportedQuery("the local server evaluates OR / AND of words and quoted "
                               f"phrases only, not {expr!r}")
    alternatives: list[list[str]] = [[]]
    for quoted, word in _TOKEN.findall(expr):
        if word == "OR":
            alternatives.append([])
        elif word == "AND":
            continue
        elif quoted or word:
            alternatives[-1].append(_norm(quoted or word))
    return [a for a in alternatives if a]


def matches(alternatives: list[list[str]], texts: list[str]) -> bool:
    text = " " + " ".join(_norm(t) for t in texts) + " "
    return any(all(f" {phrase} " in text for phrase in phrases) for phrases in alternatives)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def texts(study: dict[str, Any], area: str) -> list[str]:
    protocol = study.get("protocolSection", {})
    ident = protocol.get("identificationModule", {})
    derived = study.get("derivedSection", {})
    arms = protocol.get("armsInterventionsModule", {})
    cond = [ident.get("nctId", ""), ident.get("briefTitle", ""), ident.get("officialTitle", ""),
            ident.get("acronym", ""), *protocol.get("conditionsModule", {}).get("conditions", []),
            *protocol.get("conditionsModule", {}).get("keywords", []),
            *(m.get("term", "") for m in derived.get("conditionBrowseModule", {})
              .get("meshes", []))]
    intr = [*(i.get("name", "") for i in arms.get("interventions", [])),
            *(n for i in arms.get("interventions", []) for n in i.get("otherNames", [])),
            *(n for g in arms.get("armGroups", []) for n in g.get("interventionNames", [])),
            *(m.get("term", "") for m in derived.get("interventionBrowseModule", {})
              .get("meshes", []))]
    if area == "cond":
        return cond
    if area == "intr":
        return intr
    return [*cond, *intr, protocol.get("descriptionModule", {}).get("briefSummary", ""),
            protocol.get("sponsorCollaboratorsModule", {}).get("leadSponsor", {})
            .get("name", "")]


def update_range(advanced: str | None) -> tuple[date | None, date | None]:
    if not advanced:
        return None, None
    match = _RANGE.match(advanced.strip())
    if not match:
        raise UnsupportedQuery("the local server evaluates filter.advanced="
                               "AREA[LastUpdatePostDate]RANGE[start,end] only, not "
                               f"{advanced!r}")

    def day(value: str) -> date | None:
        value = value.strip()
        if value.upper() in ("MIN", "MAX"):
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise UnsupportedQuery(f"{value!r} is not a date in RANGE[...]") from None

    return day(match.group(1)), day(match.group(2))
