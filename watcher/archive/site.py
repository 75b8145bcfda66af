"""The archive's pages, built from the rows watcher.db.archive reads: pure (no file, no
database), so a test or the command decides where they go. Every page sits in the archive's one
folder and links to the others by file name, which works opened from disk (file://) and served
alike. Every string from a source is escaped by the autoescaped templates; links to the outside
are http(s) only."""

from __future__ import annotations

import functools
import json
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2

from ..db.archive import ArchiveData, ArchivedDigest, ArchivedStudy
from ..events import Event
from ..printable import one_line, printable
from ..sources import label
from .pages import condition_page, digest_page, study_page

#: The pages an id links to, when the id has the register's exact form.
ID_PAGES: dict[str, tuple[re.Pattern[str], str]] = {
    "pmid": (re.compile(r"\d{1,9}"), "https://pubmed.ncbi.nlm.nih.gov/{id}/"),
    "pmcid": (re.compile(r"PMC\d{1,9}"), "https://pmc.ncbi.nlm.nih.gov/articles/{id}/"),
    "doi": (re.compile(r"10\.\d{4,9}/\S+"), "https://doi.org/{id}"),
    "nct": (re.compile(r"NCT\d{8}"), "https://clinicaltrials.gov/study/{id}"),
    "isrctn": (re.compile(r"ISRCTN\d{8}"), "https://www.isrctn.com/{id}"),
}

#: Search results shown at most (the rest are counted).
SEARCH_LIMIT = 100


@dataclass
class Condition:
    """One condition's page: its studies newest first, and its chart's file (if drawn)."""

    name: str
    page: str
    studies: list[ArchivedStudy]
    chart: str = ""


def id_link(scheme: str, value: str) -> str:
    """The page of an id, or '' when it does not have the register's form."""
    page = ID_PAGES.get(scheme)
    if page is None or not page[0].fullmatch(value):
        return ""
    return page[1].format(id=urllib.parse.quote(value, safe="/:;()"))


def what(event: Event) -> str:
    """What an event is, as its item's tag says it ('trial changed', 'RETRACTED')."""
    return event.lead_label() or "new study"


def safe_href(url: str) -> str:
    """*url* when it is http(s) (no javascript:, data: from a source), else ''."""
    url = url.strip()
    return url if re.match(r"https?://[^\s\"'<>]+$", url, re.IGNORECASE) else ""


def newest_first(studies: list[ArchivedStudy]) -> list[ArchivedStudy]:
    return sorted(studies, key=lambda s: (s.date, s.id), reverse=True)


def conditions_of(data: ArchiveData, names: Mapping[str, str]) -> list[Condition]:
    """Each condition with every study one of its queries kept: *names* maps query ids to
    condition names (the YAML's); a query no longer in the YAML is its own condition, named by
    its id. In the YAML's order, then the rest by name."""
    grouped: dict[str, list[ArchivedStudy]] = {name: [] for name in names.values()}
    for study in data.studies:
        for name in dict.fromkeys(names.get(q, q) for q in study.query_ids):
            grouped.setdefault(name, []).append(study)
    known = list(dict.fromkeys(names.values()))
    order = known + sorted(set(grouped) - set(known))
    return [Condition(name, condition_page(name), newest_first(grouped[name]))
            for name in order if grouped[name]]


def per_month(studies: list[ArchivedStudy]) -> dict[str, int]:
    """Studies per month ('2026-11'), oldest first, months without a study included."""
    months = sorted(s.date[:7] for s in studies if re.match(r"\d{4}-\d{2}", s.date))
    if not months:
        return {}
    counts: dict[str, int] = {}
    year, month = map(int, months[0].split("-"))
    while f"{year:04d}-{month:02d}" <= months[-1]:
        counts[f"{year:04d}-{month:02d}"] = 0
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    for key in months:
        counts[key] += 1
    return counts


def search_index(studies: list[ArchivedStudy]) -> str:
    """The search's data as a classic script (file:// loads those; it refuses fetch() and
    modules): one entry per study, newest first, with what is searched and shown."""
    entries = [{"p": study_page(s.id),
                "t": ("RETRACTED: " if s.retracted else "") + one_line(s.title),
                "a": printable(s.abstract),
                "d": s.date, "k": s.kind} for s in newest_first(studies)]
    data = json.dumps(entries, ensure_ascii=True, separators=(",", ":"))
    # as Jinja's tojson: no '</script>' or '<!--' even if the script is ever inlined in a page
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"window.ARCHIVE_INDEX = {data};\n"


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("watcher", "templates/archive"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["line"] = one_line
    env.filters["text"] = lambda value: printable(value, lines=True)
    env.filters["day"] = lambda stamp: (stamp or "")[:10]
    env.filters["minute"] = lambda stamp: (stamp or "")[:16].replace("T", " ")
    env.filters["href"] = safe_href
    env.filters["source"] = label
    env.globals.update(id_link=id_link, what=what, study_page=study_page, digest_page=digest_page,
                       search_limit=SEARCH_LIMIT)
    return env


def _render(name: str, **values: Any) -> str:
    return _environment().get_template(name).render(**values)


def build_pages(data: ArchiveData, names: Mapping[str, str], *, generated: str,
                chart: Callable[[dict[str, int]], str] | None = None,
                feeds: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """Every file of the archive (name -> text): the index with its search (and links to the
    Atom *feeds* written beside it: (title, relative path)), a page per
    condition (with a chart of studies per month when *chart* draws one as SVG), per study and
    per digest, and the search's data."""
    conditions = conditions_of(data, names)
    condition_of = {q: names.get(q, q) for s in data.studies for q in s.query_ids}
    pages_of = {c.name: c.page for c in conditions}
    digests_of: dict[int, list[ArchivedDigest]] = {}
    for digest in data.digests:
        for event in digest.items:
            if event.study_id is not None and digest not in digests_of.get(event.study_id, []):
                digests_of.setdefault(event.study_id, []).append(digest)
    files = {"search-index.js": search_index(data.studies), "search.js": _render("search.js")}
    for condition in conditions:
        if chart is not None:
            counts = per_month(condition.studies)
            if counts:
                condition.chart = condition.page.replace(".html", ".svg")
                files[condition.chart] = chart(counts)
        files[condition.page] = _render("condition.html", condition=condition,
                                        generated=generated)
    titles = {s.id: s.title for s in data.studies}
    for study in data.studies:
        links = {condition_of[q]: pages_of[condition_of[q]] for q in study.query_ids}
        files[study_page(study.id)] = _render(
            "study.html", study=study, conditions=links, digests=digests_of.get(study.id, []),
            generated=generated)
    for digest in data.digests:
        files[digest_page(digest.id)] = _render("digest.html", digest=digest, titles=titles,
                                                generated=generated)
    files["index.html"] = _render("index.html", conditions=conditions, digests=data.digests,
                                  count=len(data.studies), generated=generated,
                                  feeds=list(feeds))
    return files
