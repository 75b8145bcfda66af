"""BibTeX, written by bibtexparser (v2): a paper as @article (a preprint as @unpublished), a
registered trial as @misc with its registry ids, status, phase and sponsor in `note` (and in
their own fields, which BibTeX styles ignore and reference managers keep).

Text is LaTeX-encoded by pylatexenc, as bibtexparser's own encoding middleware does it:
`%`, `&`, `$`, `#`, `_`, braces and backslashes escaped, accents as LaTeX accents, so the file
compiles and its braces balance whatever a title holds. Identifiers and URLs are verbatim (a
DOI's or URL's characters are not text to typeset): a brace in one is dropped, as BibTeX could
not read it."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import bibtexparser
from bibtexparser.model import Entry, Field
from pylatexenc.latex2text import LatexNodes2Text
from pylatexenc.latexencode import UnicodeToLatexEncoder

from .common import (
    Exported,
    Name,
    authors,
    corrections,
    journal_info,
    keywords,
    link,
    page_range,
    registry_ids,
    trial_facts,
)

_ENCODER = UnicodeToLatexEncoder(unknown_char_policy="keep", unknown_char_warning=False,
                                 replacement_latex_protection="braces-almost-all")
_DECODER = LatexNodes2Text()

#: What LaTeX reads as markup, escaped (a straight quote stays: inside braces it is text).
_SPECIAL = {"\\": r"{\textbackslash}", "{": r"\{", "}": r"\}", "%": r"\%", "&": r"\&",
            "$": r"\$", "#": r"\#", "_": r"\_", "~": r"{\textasciitilde}",
            "^": r"{\textasciicircum}"}

#: BibTeX entry type of each study kind.
TYPES = {"publication": "article", "preprint": "unpublished", "trial": "misc"}


def latex(text: str) -> str:
    """*text* as LaTeX, on one line."""
    return "".join(_char(c) for c in " ".join(text.split()))


@functools.cache
def _char(char: str) -> str:
    """One character as LaTeX: markup escaped, an accented letter as its LaTeX accent when that
    reads back as the same letter; any other character (a subscript digit, CJK) as UTF-8,
    which BibTeX passes through and reference managers read."""
    if char in _SPECIAL:
        return _SPECIAL[char]
    if char.isascii():
        return char
    encoded = _ENCODER.unicode_to_latex(char)
    return encoded if encoded != char and _DECODER.latex_to_text(encoded) == char else char


def verbatim(text: str) -> str:
    return re.sub(r"[{}\s]", "", text)


def key(item: Exported) -> str:
    """A citation key stable across exports and unique in the database: the study's PMID,
    registry id or DOI, else its id in the database."""
    study = item.study
    ids = registry_ids(study) if study.kind == "trial" else []
    for value in (f"pmid{study.ids['pmid']}" if study.ids.get("pmid") else "",
                  ids[0] if ids else "", study.ids.get("doi", "")):
        if value:
            return re.sub(r"[^A-Za-z0-9_.:/-]", "_", value)
    return f"watcher{item.stored.id}"


def author_field(names: list[Name]) -> str:
    """"Last, First and Other, Given": a collective or whole-written name in braces, so no
    word of it is read as a first name, and no "and" inside it as a separator."""
    return " and ".join(f"{{{latex(n.last)}}}" if n.literal or not n.first
                        else f"{latex(n.last)}, {latex(n.first)}" for n in names)


def entry(item: Exported) -> Entry:
    study = item.study
    fields: list[tuple[str, str]] = []
    names = authors(study)
    if names:
        fields.append(("author", author_field(names)))
    fields.append(("title", latex(study.title)))
    notes = corrections(item)
    if study.kind == "trial":
        facts = trial_facts(study)
        ids = registry_ids(study)
        if ids:
            fields.append(("number", verbatim(ids[0])))
            fields.append(("registry", verbatim(", ".join(ids))))
            notes.insert(0, "Trial registration: " + ", ".join(ids))
        fields.append(("howpublished", "ClinicalTrials.gov" if study.ids.get("nct")
                       else "ISRCTN registry"))
        for name, label in (("sponsor", "Sponsor"), ("status", "Status"), ("phase", "Phase")):
            if facts[name]:
                fields.append((name, latex(facts[name])))
                notes.append(f"{label}: {facts[name]}")
        if facts["sponsor"]:
            fields.append(("organization", latex(facts["sponsor"])))
    else:
        journal = journal_info(study)
        start, end = page_range(journal["pages"])
        for name, value in (("journal", latex(journal["title"])),
                            ("volume", latex(journal["volume"])),
                            ("number", latex(journal["issue"])),
                            ("pages", latex(f"{start}--{end}" if end else start))):
            if value:
                fields.append((name, value))
    if study.year:
        fields.append(("year", str(study.year)))
    for name, scheme in (("doi", "doi"), ("pmid", "pmid"), ("pmcid", "pmcid")):
        if study.ids.get(scheme):
            fields.append((name, verbatim(study.ids[scheme])))
    if study.ids.get("pmid"):
        fields += [("eprint", study.ids["pmid"]), ("eprinttype", "pubmed")]
    url = link(study)
    if url:
        fields.append(("url", verbatim(url)))
    if study.abstract:
        fields.append(("abstract", latex(study.abstract)))
    words = keywords(item)
    if words:
        fields.append(("keywords", latex(", ".join(words))))
    if notes:
        fields.append(("note", latex(". ".join(notes))))
    return Entry(TYPES.get(study.kind, "misc"), key(item),
                 [Field(name, value) for name, value in fields])


def write(items: Iterable[Exported]) -> str:
    """The BibTeX file of *items* (empty for none)."""
    library = bibtexparser.Library()
    seen: set[str] = set()
    for item in items:
        made = entry(item)
        if made.key in seen:  # two studies sharing a DOI: the second keyed by its own id
            made.key = f"watcher{item.stored.id}"
        seen.add(made.key)
        library.add(made)
    return bibtexparser.write_string(library) if library.entries else ""
