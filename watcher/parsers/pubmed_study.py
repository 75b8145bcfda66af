"""One PubMed record (a ``PubmedArticle`` or a ``PubmedBookArticle`` as Bio.Entrez reads it)
into a normalized :class:`Study`: ids, title, abstract, authors, dates, MeSH and the corrections
it links. Pure: the answer itself is split and read in ``pubmed.py``."""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

from ..models import Study, normalize_id
from . import pubmed_fields as fields

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


def parse_article(article: dict[str, Any]) -> Study:
    citation = article["MedlineCitation"]
    art = citation["Article"]
    pubmed_data = article.get("PubmedData", {})
    ids = _article_ids(pubmed_data.get("ArticleIdList", []))
    ids["pmid"] = _pmid(ids.get("pmid") or citation["PMID"])
    for location in art.get("ELocationID", []):
        if location.attributes.get("EIdType") == "doi":
            ids.setdefault("doi", normalize_id("doi", str(location)))
    title = clean_text(art.get("ArticleTitle", ""))
    if not title or _NOT_AVAILABLE.fullmatch(title):  # MEDLINE's stand-in for no English title
        title = clean_text(art.get("VernacularTitle", "")) or title
    sections = fields.abstract_sections(art.get("Abstract", {}), clean_text)
    abstract = _abstract(sections)
    journal = art.get("Journal", {})
    pub_date = journal.get("JournalIssue", {}).get("PubDate", {})
    published, year = format_pub_date(pub_date)
    types = [str(t) for t in art.get("PublicationTypeList", [])]
    mesh = [str(h.get("DescriptorName", "")).strip() for h in citation.get("MeshHeadingList", [])]
    mesh = [term for term in mesh if term]
    banks, banked = fields.databanks(art)
    details: dict[str, Any] = {
        "mesh": fields.mesh_headings(citation, clean_text),
        "keywords": fields.keywords(citation.get("KeywordList", []), clean_text),
        "substances": fields.substances(citation, clean_text),
        "journal_info": fields.journal_info(art, citation, clean_text),
        "author_list": fields.authors(art.get("AuthorList", []), clean_text),
        "abstract_sections": sections,
        "databanks": banks,
    }
    corrections = _corrections(citation.get("CommentsCorrectionsList", []))
    if corrections:
        details["corrections"] = corrections
    return Study(
        source="pubmed",
        kind="preprint" if "Preprint" in types else "publication",
        ids=ids,
        title=title or "(no title)",
        abstract=abstract,
        authors=_authors(art.get("AuthorList", [])),
        journal=str(journal.get("ISOAbbreviation") or journal.get("Title") or ""),
        published=published,
        year=year,
        entry_date=_entry_date(pubmed_data.get("History", [])),
        publication_types=types,
        mesh_terms=mesh,
        linked_ids=fields.merge_ids(banked, fields.registry_ids_in_text(abstract)),
        url=f"https://pubmed.ncbi.nlm.nih.gov/{ids['pmid']}/",
        details=details,
    )


def _pmid(value: Any) -> str:
    """The record's own PMID (its ArticleIdList's, else MedlineCitation's): a record without a
    usable one fails alone (records are stored by PMID: two blank ones would overwrite each
    other)."""
    pmid = str(value or "").strip()
    if not re.fullmatch(r"[0-9]+", pmid):
        raise ValueError(f"PMID {pmid!r} is not a number" if pmid else "no PMID")
    return pmid


def _corrections(comments: list[Any]) -> list[dict[str, str]]:
    """Retractions, errata and expressions of concern linked to (or from) this record, as
    [{"type": "RetractionIn", "pmid": "...", "source": "citation text"}]: what a correction
    alert is made of. Other comments (CommentIn, UpdateOf ...) are left out."""
    found = []
    for comment in comments:
        kind = getattr(comment, "attributes", {}).get("RefType", "")
        if kind in CORRECTION_REFTYPES:
            found.append({"type": kind, "pmid": str(comment.get("PMID", "")).strip(),
                          "source": clean_text(comment.get("RefSource", ""))})
    return found


def parse_book(book: dict[str, Any]) -> Study:
    document = book["BookDocument"]
    pubmed_data = book.get("PubmedBookData", {})
    ids = _article_ids(pubmed_data.get("ArticleIdList", []))
    ids["pmid"] = _pmid(ids.get("pmid") or document["PMID"])
    title = clean_text(document.get("ArticleTitle", "")) or clean_text(
        document.get("Book", {}).get("BookTitle", ""))
    published, year = format_pub_date(document.get("Book", {}).get("PubDate", {}))
    authors, author_list = [], []
    for group in document.get("AuthorList", []):
        authors += _authors(group)
        author_list += fields.authors(group, clean_text)
    sections = fields.abstract_sections(document.get("Abstract", {}), clean_text)
    abstract = _abstract(sections)
    book_title = document.get("Book", {}).get("BookTitle", "")
    return Study(
        source="pubmed", kind="publication", ids=ids, title=title or "(no title)",
        abstract=abstract, authors=authors,
        journal=clean_text(book_title),
        published=published, year=year, entry_date=_entry_date(pubmed_data.get("History", [])),
        publication_types=[str(t) for t in document.get("PublicationType", [])],
        linked_ids=fields.registry_ids_in_text(abstract),
        url=f"https://pubmed.ncbi.nlm.nih.gov/{ids['pmid']}/",
        details={  # the same keys as an article's, so readers need not tell them apart
            "mesh": [], "substances": [], "databanks": [],
            "keywords": fields.keywords(document.get("KeywordList", []), clean_text),
            "journal_info": fields.journal_info({"Journal": {"Title": book_title}}, {},
                                                clean_text),
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


def format_pub_date(pub_date: dict[str, Any]) -> tuple[str, int | None]:
    """PubDate (Year/Month/Day, Season, or MedlineDate) -> display text and year."""
    if not pub_date:
        return "", None
    if "MedlineDate" in pub_date:
        text = " ".join(str(pub_date["MedlineDate"]).split())
        match = re.search(r"\b(1[89]|20)\d\d\b", text)
        return text, int(match.group(0)) if match else None
    year = str(pub_date.get("Year", "")).strip()
    parts = [year]
    if pub_date.get("Season"):
        parts.append(str(pub_date["Season"]))
    elif pub_date.get("Month"):
        month = str(pub_date["Month"])
        if month.isdigit() and 1 <= int(month) <= 12:
            month = list(_MONTHS)[int(month) - 1].capitalize()
        parts.append(month)
        if pub_date.get("Day"):
            parts.append(str(int(pub_date["Day"])) if str(pub_date["Day"]).isdigit()
                         else str(pub_date["Day"]))
    return " ".join(p for p in parts if p), int(year) if year.isdigit() else None


def _entry_date(history: list[Any]) -> str | None:
    """The day the record entered PubMed (ISO); None rather than a false date when History
    gives none that is a real calendar day."""
    dates = {d.attributes.get("PubStatus"): d for d in history}
    for status in ("entrez", "pubmed"):
        d = dates.get(status)
        if d and d.get("Year") and d.get("Month") and d.get("Day"):
            year, month, day = (str(d[k]).strip() for k in ("Year", "Month", "Day"))
            month_number = int(month) if month.isdigit() else _MONTHS.get(month[:3].lower(), 0)
            try:
                return date(int(year), month_number, int(day)).isoformat()
            except ValueError:
                continue
    return None


def _article_ids(article_ids: list[Any]) -> dict[str, str]:
    schemes = {"pubmed": "pmid", "doi": "doi", "pmc": "pmcid"}
    ids: dict[str, str] = {}
    for item in article_ids:
        scheme = schemes.get(item.attributes.get("IdType", ""))
        if scheme and str(item).strip():
            ids.setdefault(scheme, normalize_id(scheme, str(item)))
    return ids


def _abstract(sections: list[dict[str, str]]) -> str:
    """The abstract as one text, from its sections (each cleaned once): a labelled section
    as "LABEL: text"."""
    return "\n".join(f"{part['label'].upper()}: {part['text']}" if part["label"] else part["text"]
                     for part in sections)


def _authors(author_list: Any) -> list[str]:
    names = []
    for author in author_list:
        if author.get("CollectiveName"):
            names.append(clean_text(author["CollectiveName"]))
        elif author.get("LastName"):
            initials = author.get("Initials") or ""
            names.append(f"{clean_text(author['LastName'])} {initials}".strip())
    return names
