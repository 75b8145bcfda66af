"""One PubMed record (a ``PubmedArticle`` or a ``PubmedBookArticle`` element, see
``pubmed_xml``) into a normalized :class:`Study`: ids, title, abstract, authors, dates, MeSH
and the corrections it links. Pure: the answer itself is split and read in ``pubmed.py``."""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

from ..models import Study, normalize_id
from . import pubmed_fields as fields
from .pubmed_xml import Element, attribute, child, child_text, children, text

_INLINE_TAG = re.compile(
    r"</?(?:i|b|u|em|strong|sc|sub|sup|mml:[a-z]+|math)(?:\s[^<>]*)?/?>", re.IGNORECASE
)
# Biopython hands MathML over as markup without its mml: prefix (<math xmlns=...><mi>V</mi>...).
_MATH = re.compile(r"<(?:mml:)?math\b[^>]*>(.*?)</(?:mml:)?math>", re.IGNORECASE | re.DOTALL)
_SUB_SUP = re.compile(r"(\s*)<(sub|sup)>([^<]*)</\2>", re.IGNORECASE)
_SUBSCRIPT = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_SUPERSCRIPT = str.maketrans("0123456789+-=()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾")
#: CommentsCorrections RefTypes that correct a record: "...In" on the corrected record names its
#: notice, "...For" on the notice names the record it corrects.
CORRECTION_REFTYPES = ("RetractionIn", "RetractionOf", "ErratumIn", "ErratumFor",
                       "ExpressionOfConcernIn", "ExpressionOfConcernFor")
_NOT_AVAILABLE = re.compile(r"\[?\s*not\s+available\s*\]?\.?", re.IGNORECASE)
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    start=1)}


def parse_article(article: Element) -> Study:
    citation = _need(article, "MedlineCitation")
    art = _need(citation, "Article")
    pubmed_data = child(article, "PubmedData")
    ids = _article_ids(children(child(pubmed_data, "ArticleIdList"), "ArticleId"))
    ids["pmid"] = _pmid(ids.get("pmid") or text(_need(citation, "PMID")))
    for location in children(art, "ELocationID"):
        if attribute(location, "EIdType") == "doi":
            ids.setdefault("doi", normalize_id("doi", text(location)))
    title = clean_text(child_text(art, "ArticleTitle"))
    if not title or _NOT_AVAILABLE.fullmatch(title):  # MEDLINE's stand-in for no English title
        title = clean_text(child_text(art, "VernacularTitle")) or title
    sections = fields.abstract_sections(child(art, "Abstract"), clean_text)
    abstract = _abstract(sections)
    journal = child(art, "Journal")
    published, year = format_pub_date(child(child(journal, "JournalIssue"), "PubDate"))
    types = [text(t) for t in children(child(art, "PublicationTypeList"), "PublicationType")]
    mesh = [child_text(h, "DescriptorName").strip()
            for h in children(child(citation, "MeshHeadingList"), "MeshHeading")]
    mesh = [term for term in mesh if term]
    banks, banked = fields.databanks(art)
    details: dict[str, Any] = {
        "mesh": fields.mesh_headings(citation, clean_text),
        "keywords": fields.keywords(children(citation, "KeywordList"), clean_text),
        "substances": fields.substances(citation, clean_text),
        "journal_info": fields.journal_info(art, citation, clean_text),
        "author_list": fields.authors(child(art, "AuthorList"), clean_text),
        "abstract_sections": sections,
        "databanks": banks,
    }
    corrections = _corrections(children(child(citation, "CommentsCorrectionsList"),
                                         "CommentsCorrections"))
    if corrections:
        details["corrections"] = corrections
    return Study(
        source="pubmed",
        kind="preprint" if "Preprint" in types else "publication",
        ids=ids,
        title=title or "(no title)",
        abstract=abstract,
        authors=_authors(child(art, "AuthorList")),
        journal=child_text(journal, "ISOAbbreviation") or child_text(journal, "Title"),
        published=published,
        year=year,
        entry_date=_entry_date(children(child(pubmed_data, "History"), "PubMedPubDate")),
        publication_types=types,
        mesh_terms=mesh,
        linked_ids=fields.merge_ids(banked, fields.registry_ids_in_text(abstract)),
        url=f"https://pubmed.ncbi.nlm.nih.gov/{ids['pmid']}/",
        details=details,
    )


def _need(element: Element, tag: str) -> Element:
    """A part the record cannot be read without: its absence fails the record alone."""
    found = child(element, tag)
    if found is None:
        raise KeyError(tag)
    return found


def _pmid(value: str) -> str:
    """The record's own PMID (its ArticleIdList's, else MedlineCitation's): a record without a
    usable one fails alone (records are stored by PMID: two blank ones would overwrite each
    other)."""
    pmid = value.strip()
    if not re.fullmatch(r"[0-9]+", pmid):
        raise ValueError(f"PMID {pmid!r} is not a number" if pmid else "no PMID")
    return pmid


def _corrections(comments: list[Element]) -> list[dict[str, str]]:
    """Retractions, errata and expressions of concern linked to (or from) this record, as
    [{"type": "RetractionIn", "pmid": "...", "source": "citation text"}]: what a correction
    alert is made of. Other comments (CommentIn, UpdateOf ...) are left out."""
    found = []
    for comment in comments:
        kind = attribute(comment, "RefType")
        if kind in CORRECTION_REFTYPES:
            found.append({"type": kind, "pmid": child_text(comment, "PMID").strip(),
                          "source": clean_text(child_text(comment, "RefSource"))})
    return found


def parse_book(book: Element) -> Study:
    document = _need(book, "BookDocument")
    pubmed_data = child(book, "PubmedBookData")
    ids = _article_ids(children(child(pubmed_data, "ArticleIdList"), "ArticleId"))
    ids["pmid"] = _pmid(ids.get("pmid") or text(_need(document, "PMID")))
    book_part = child(document, "Book")
    title = clean_text(child_text(document, "ArticleTitle")) or clean_text(
        child_text(book_part, "BookTitle"))
    published, year = format_pub_date(child(book_part, "PubDate"))
    authors, author_list = [], []
    for group in children(document, "AuthorList"):
        authors += _authors(group)
        author_list += fields.authors(group, clean_text)
    sections = fields.abstract_sections(child(document, "Abstract"), clean_text)
    abstract = _abstract(sections)
    book_title = child_text(book_part, "BookTitle")
    return Study(
        source="pubmed", kind="publication", ids=ids, title=title or "(no title)",
        abstract=abstract, authors=authors,
        journal=clean_text(book_title),
        published=published, year=year,
        entry_date=_entry_date(children(child(pubmed_data, "History"), "PubMedPubDate")),
        publication_types=[text(t) for t in children(document, "PublicationType")],
        linked_ids=fields.registry_ids_in_text(abstract),
        url=f"https://pubmed.ncbi.nlm.nih.gov/{ids['pmid']}/",
        details={  # the same keys as an article's, so readers need not tell them apart
            "mesh": [], "substances": [], "databanks": [],
            "keywords": fields.keywords(children(document, "KeywordList"), clean_text),
            "journal_info": fields.book_journal_info(book_title, clean_text),
            "author_list": author_list,
            "abstract_sections": sections},
    )


def clean_text(value: Any) -> str:
    """Inline markup (<i>, <sub>, MathML) to plain text; never truncates at the first tag."""
    if not value:
        return ""
    text = str(value)
    if "<" not in text:  # most text: no markup to take out (unescape returns "&"-less text)
        return " ".join(html.unescape(text).split())
    text = _MATH.sub(_math_text, text)
    text = _SUB_SUP.sub(_script, text)
    text = _INLINE_TAG.sub("", text)
    return " ".join(html.unescape(text).split())


def _math_text(match: re.Match[str]) -> str:
    """A formula's token text run together (the whitespace between MathML tags is layout)."""
    return re.sub(r"<[^<>]*>", "", re.sub(r">\s+<", "><", match.group(1)))


def _script(match: re.Match[str]) -> str:
    """Digits and signs become Unicode scripts glued to their base (CO₂, m²); any other text
    keeps the space before it ("of <sub>V</sub>MLSS" stays "of VMLSS")."""
    space, tag, inner = match.group(1), match.group(2).lower(), match.group(3).strip()
    table = _SUBSCRIPT if tag == "sub" else _SUPERSCRIPT
    converted = inner.translate(table)
    if all(ch != orig or ch.isspace() for ch, orig in zip(converted, inner, strict=True)):
        return converted
    return space + (inner if tag == "sub" else "^" + inner)


def format_pub_date(pub_date: Element | None) -> tuple[str, int | None]:
    """PubDate (Year/Month/Day, Season, or MedlineDate) -> display text and year."""
    if pub_date is None or not len(pub_date):
        return "", None
    medline_date = child(pub_date, "MedlineDate")
    if medline_date is not None:
        text_ = " ".join(text(medline_date).split())
        match = re.search(r"\b(1[89]|20)\d\d\b", text_)
        return text_, int(match.group(0)) if match else None
    year = child_text(pub_date, "Year").strip()
    parts = [year]
    season, month, day = (child_text(pub_date, tag) for tag in ("Season", "Month", "Day"))
    if season:
        parts.append(season)
    elif month:
        if month.isdigit() and 1 <= int(month) <= 12:
            month = list(_MONTHS)[int(month) - 1].capitalize()
        parts.append(month)
        if day:
            parts.append(str(int(day)) if day.isdigit() else day)
    return " ".join(p for p in parts if p), int(year) if year.isdigit() else None


def _entry_date(history: list[Element]) -> str | None:
    """The day the record entered PubMed (ISO); None rather than a false date when History
    gives none that is a real calendar day."""
    dates = {attribute(d, "PubStatus"): d for d in history}
    for status in ("entrez", "pubmed"):
        d = dates.get(status)
        if d is None:
            continue
        year, month, day = (child_text(d, k).strip() for k in ("Year", "Month", "Day"))
        if year and month and day:
            month_number = int(month) if month.isdigit() else _MONTHS.get(month[:3].lower(), 0)
            try:
                return date(int(year), month_number, int(day)).isoformat()
            except ValueError:
                continue
    return None


def _article_ids(article_ids: list[Element]) -> dict[str, str]:
    schemes = {"pubmed": "pmid", "doi": "doi", "pmc": "pmcid"}
    ids: dict[str, str] = {}
    for item in article_ids:
        scheme = schemes.get(attribute(item, "IdType"))
        value = text(item)
        if scheme and value.strip():
            ids.setdefault(scheme, normalize_id(scheme, value))
    return ids


def _abstract(sections: list[dict[str, str]]) -> str:
    """The abstract as one text, from its sections (each cleaned once): a labelled section
    as "LABEL: text"."""
    return "\n".join(f"{part['label'].upper()}: {part['text']}" if part["label"] else part["text"]
                     for part in sections)


def _authors(author_list: Element | None) -> list[str]:
    names = []
    for author in children(author_list, "Author"):
        collective, last = child_text(author, "CollectiveName"), child_text(author, "LastName")
        if collective:
            names.append(clean_text(collective))
        elif last:
            initials = child_text(author, "Initials")
            names.append(f"{clean_text(last)} {initials}".strip())
    return names
