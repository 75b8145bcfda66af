"""CSV: one row per study, with stable column names (COLUMNS; documented in the README). A
column is only ever added at the end, so a spreadsheet built on them keeps working. Lists are
joined with "; "; every value is text (the csv module quotes what needs quoting). A value a
spreadsheet would run as a formula (it starts with = + - @, a tab or a carriage return: a
title `=HYPERLINK(...)` from a source) starts with a quote, so Excel and LibreOffice show it as
text (OWASP's advice for CSV injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from .common import Exported, authors, corrections, journal_info, link, registry_ids, trial_facts

#: The columns, in order. Never renamed or reordered: new ones go at the end.
COLUMNS = ("study_id", "kind", "title", "first_author", "authors", "journal", "year",
           "published", "volume", "issue", "pages", "doi", "pmid", "pmcid", "registry_ids",
           "url", "conditions", "queries", "labels", "publication_types", "status", "phase",
           "sponsor", "corrections", "retracted", "first_seen", "abstract")

SEPARATOR = "; "

#: How a cell a spreadsheet would read as a formula starts.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def as_text(value: str) -> str:
    """*value* as a spreadsheet shows it, never runs it: a leading quote before a formula."""
    return "'" + value if value.startswith(_FORMULA) else value


def row(item: Exported) -> dict[str, str]:
    study = item.study
    names = [n.inverted for n in authors(study)]
    journal = journal_info(study)
    facts = trial_facts(study)
    notes = corrections(item)
    labels: list[str] = []
    for match in item.stored.matches:
        labels.extend(label for label in match.labels if label not in labels)
    queries = list(dict.fromkeys(m.query_id for m in item.stored.matches if m.excluded is None))
    return {
        "study_id": str(item.stored.id), "kind": study.kind, "title": study.title,
        "first_author": names[0] if names else "", "authors": SEPARATOR.join(names),
        "journal": journal["title"], "year": str(study.year or ""),
        "published": study.published, "volume": journal["volume"], "issue": journal["issue"],
        "pages": journal["pages"], "doi": study.ids.get("doi", ""),
        "pmid": study.ids.get("pmid", ""), "pmcid": study.ids.get("pmcid", ""),
        "registry_ids": SEPARATOR.join(registry_ids(study)), "url": link(study),
        "conditions": SEPARATOR.join(item.conditions), "queries": SEPARATOR.join(queries),
        "labels": SEPARATOR.join(labels),
        "publication_types": SEPARATOR.join(study.publication_types),
        "status": facts["status"], "phase": facts["phase"], "sponsor": facts["sponsor"],
        "corrections": SEPARATOR.join(notes),
        "retracted": "yes" if any(n.startswith("Retracted") for n in notes) else "",
        "first_seen": item.stored.first_seen, "abstract": study.abstract,
    }


def write(items: Iterable[Exported]) -> str:
    """The CSV file of *items*: the header row, then one row per study."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for item in items:
        writer.writerow({name: as_text(value) for name, value in row(item).items()})
    return out.getvalue()
