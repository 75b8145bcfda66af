"""Pure parsers for E-utilities XML (esearch, efetch db=pubmed) built on Bio.Entrez.read.

No network here: ``pin_dtd`` rewrites an unknown PubMed DTD to the newest one Biopython bundles,
because Biopython would otherwise try to download it.
"""

from __future__ import annotations

import html
import io
import os
import re
from dataclasses import dataclass, field
from typing import Any
from xml.parsers.expat import ExpatError

from Bio import Entrez
from Bio.Entrez.Parser import CorruptedXMLError, DataHandler, NotXMLError, ValidationError

from ..errors import ParseError
from ..models import Study, normalize_id

_DOCTYPE = re.compile(rb'<!DOCTYPE\s+(\w+)\s+PUBLIC\s+"([^"]*)"\s+"([^"]*)"\s*>')
_INLINE_TAG = re.compile(
    r"</?(?:i|b|u|em|strong|sc|sub|sup|mml:[a-z]+|math)(?:\s[^<>]*)?/?>", re.IGNORECASE
)
_SUB_SUP = re.compile(r"\s*<(sub|sup)>([^<]*)</\1>", re.IGNORECASE)
_SUBSCRIPT = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_SUPERSCRIPT = str.maketrans("0123456789+-=()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾")
_NCT = re.compile(r"\bNCT\d{8}\b")
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    start=1)}


@dataclass
class SearchPage:
    """One esearch answer: how many match in total and this page's ids."""

    count: int
    ids: list[str]
    warnings: list[str] = field(default_factory=list)


def _bundled_dtds() -> set[str]:
    names = set(os.listdir(DataHandler.global_dtd_dir))
    if DataHandler.local_dtd_dir and os.path.isdir(DataHandler.local_dtd_dir):
        names.update(os.listdir(DataHandler.local_dtd_dir))
    return names


_BUNDLED = _bundled_dtds()
_NEWEST_PUBMED = max(n for n in _BUNDLED if re.fullmatch(r"pubmed_\d{6}\.dtd", n))


def pin_dtd(xml: bytes) -> bytes:
    """Point the DOCTYPE at a bundled DTD so Biopython never downloads one."""
    head = xml[:2048]
    match = _DOCTYPE.search(head)
    if not match:
        return xml
    system_id = match.group(3).decode("ascii", "replace")
    filename = system_id.rsplit("/", 1)[-1]
    if filename in _BUNDLED:
        return xml
    if re.fullmatch(r"pubmed_\d{6}\.dtd", filename):
        new = system_id.rsplit("/", 1)[0] + "/" + _NEWEST_PUBMED
        return xml.replace(match.group(3), new.encode("ascii"), 1)
    raise ParseError(f"response declares DTD {filename!r}, which this Biopython does not bundle")


def _read(xml: bytes, what: str) -> Any:
    if not xml.strip():
        raise ParseError(f"{what}: empty response body")
    try:
        return Entrez.read(io.BytesIO(pin_dtd(xml)))
    except RuntimeError as exc:  # <ERROR> elements from E-utilities
        raise ParseError(f"{what}: E-utilities error: {_one_line(str(exc))}") from None
    except NotXMLError:
        raise ParseError(f"{what}: response is not XML ({_snippet(xml)})") from None
    except (CorruptedXMLError, ExpatError, ValidationError) as exc:
        raise ParseError(f"{what}: malformed or truncated XML ({_one_line(str(exc))})") from None
    except ValueError as exc:  # no DTD at all, or other structural problems
        raise ParseError(f"{what}: unexpected XML ({_one_line(str(exc))[:160]})") from None


def parse_esearch(xml: bytes) -> SearchPage:
    """Parse an esearch XML answer; phrases PubMed ignored come back as warnings."""
    data = _read(xml, "PubMed esearch")
    if not isinstance(data, dict) or "Count" not in data:
        raise ParseError("PubMed esearch: answer has no <Count> (not an eSearchResult)")
    warnings = []
    errors = data.get("ErrorList") or {}
    for kind, label in (("PhraseNotFound", "phrase not found"),
                        ("FieldNotFound", "field not found")):
        for phrase in errors.get(kind, []):
            warnings.append(f"{label}: {phrase}")
    for phrase in (data.get("WarningList") or {}).get("PhraseIgnored", []):
        warnings.append(f"phrase ignored: {phrase}")
    return SearchPage(count=int(data["Count"]), ids=[str(i) for i in data["IdList"]],
                      warnings=warnings)


def parse_efetch(xml: bytes) -> list[Study]:
    """Parse a PubmedArticleSet into normalized studies (book records included)."""
    data = _read(xml, "PubMed efetch")
    if not isinstance(data, dict) or not ({"PubmedArticle", "PubmedBookArticle"} & set(data)):
        raise ParseError("PubMed efetch: answer is not a PubmedArticleSet")
    studies = []
    for parse, records in ((parse_article, data.get("PubmedArticle", [])),
                           (parse_book, data.get("PubmedBookArticle", []))):
        for record in records:
            try:
                studies.append(parse(record))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ParseError(f"PubMed efetch: record {_pmid_of(record)} has an unexpected "
                                 f"shape ({type(exc).__name__}: {exc})") from None
    return studies


def _pmid_of(record: Any) -> str:
    try:
        citation = record.get("MedlineCitation") or record.get("BookDocument") or {}
        return str(citation.get("PMID", "?"))
    except AttributeError:
        return "?"


def parse_article(article: dict[str, Any]) -> Study:
    citation = article["MedlineCitation"]
    art = citation["Article"]
    pubmed_data = article.get("PubmedData", {})
    ids = _article_ids(pubmed_data.get("ArticleIdList", []))
    ids.setdefault("pmid", str(citation["PMID"]))
    for location in art.get("ELocationID", []):
        if location.attributes.get("EIdType") == "doi":
            ids.setdefault("doi", normalize_id("doi", str(location)))
    title = clean_text(art.get("ArticleTitle", "")) or clean_text(art.get("VernacularTitle", ""))
    abstract = _abstract(art.get("Abstract", {}))
    journal = art.get("Journal", {})
    pub_date = journal.get("JournalIssue", {}).get("PubDate", {})
    published, year = format_pub_date(pub_date)
    types = [str(t) for t in art.get("PublicationTypeList", [])]
    mesh = [str(h["DescriptorName"]) for h in citation.get("MeshHeadingList", [])]
    trials = []
    for bank in art.get("DataBankList", []):
        if str(bank.get("DataBankName", "")).lower().startswith("clinicaltrials"):
            trials += [normalize_id("nct", str(a)) for a in bank.get("AccessionNumberList", [])]
    trials += [t for t in _NCT.findall(abstract) if t not in trials]
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
        linked_ids={"nct": trials} if trials else {},
        url=f"https://pubmed.ncbi.nlm.nih.gov/{ids['pmid']}/",
    )


def parse_book(book: dict[str, Any]) -> Study:
    document = book["BookDocument"]
    pubmed_data = book.get("PubmedBookData", {})
    ids = _article_ids(pubmed_data.get("ArticleIdList", []))
    ids.setdefault("pmid", str(document["PMID"]))
    title = clean_text(document.get("ArticleTitle", "")) or clean_text(
        document.get("Book", {}).get("BookTitle", ""))
    published, year = format_pub_date(document.get("Book", {}).get("PubDate", {}))
    authors = []
    for author_list in document.get("AuthorList", []):
        authors += _authors(author_list)
    return Study(
        source="pubmed", kind="publication", ids=ids, title=title or "(no title)",
        abstract=_abstract(document.get("Abstract", {})), authors=authors,
        journal=clean_text(document.get("Book", {}).get("BookTitle", "")),
        published=published, year=year, entry_date=_entry_date(pubmed_data.get("History", [])),
        publication_types=[str(t) for t in document.get("PublicationType", [])],
        url=f"https://pubmed.ncbi.nlm.nih.gov/{ids['pmid']}/",
    )


def clean_text(value: Any) -> str:
    """Inline markup (<i>, <sub>, MathML) to plain text; never truncates at the first tag."""
    text = str(value or "")
    text = _SUB_SUP.sub(_script, text)
    text = _INLINE_TAG.sub("", text)
    return " ".join(html.unescape(text).split())


def _script(match: re.Match[str]) -> str:
    tag, inner = match.group(1).lower(), match.group(2).strip()
    table = _SUBSCRIPT if tag == "sub" else _SUPERSCRIPT
    converted = inner.translate(table)
    if all(ch != orig or ch.isspace() for ch, orig in zip(converted, inner, strict=True)):
        return converted
    return inner if tag == "sub" else "^" + inner


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
    dates = {d.attributes.get("PubStatus"): d for d in history}
    for status in ("entrez", "pubmed"):
        d = dates.get(status)
        if d and d.get("Year") and d.get("Month") and d.get("Day"):
            month = str(d["Month"])
            month_number = int(month) if month.isdigit() else _MONTHS.get(month[:3].lower(), 1)
            return f"{int(d['Year']):04d}-{month_number:02d}-{int(d['Day']):02d}"
    return None


def _article_ids(article_ids: list[Any]) -> dict[str, str]:
    schemes = {"pubmed": "pmid", "doi": "doi", "pmc": "pmcid"}
    ids: dict[str, str] = {}
    for item in article_ids:
        scheme = schemes.get(item.attributes.get("IdType", ""))
        if scheme and str(item).strip():
            ids.setdefault(scheme, normalize_id(scheme, str(item)))
    return ids


def _abstract(abstract: dict[str, Any]) -> str:
    sections = []
    for part in abstract.get("AbstractText", []):
        text = clean_text(part)
        label = getattr(part, "attributes", {}).get("Label")
        if text:
            sections.append(f"{label.upper()}: {text}" if label else text)
    return "\n".join(sections)


def _authors(author_list: Any) -> list[str]:
    names = []
    for author in author_list:
        if author.get("CollectiveName"):
            names.append(clean_text(author["CollectiveName"]))
        elif author.get("LastName"):
            initials = author.get("Initials") or ""
            names.append(f"{clean_text(author['LastName'])} {initials}".strip())
    return names


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _snippet(xml: bytes) -> str:
    return _one_line(xml[:80].decode("utf-8", "replace"))


# --- per-record parsing (interim; replaced by the robust version) ---------------------------

@dataclass
class ParsedRecord:
    source_id: str
    raw: str
    study: Study | None
    error: str | None = None


def parse_efetch_records(xml: bytes) -> list[ParsedRecord]:
    import xml.etree.ElementTree as ET

    studies = {s.ids.get("pmid"): s for s in parse_efetch(xml)}
    root = ET.fromstring(xml)
    out = []
    for article in root.findall("PubmedArticle"):
        pmid = article.findtext("MedlineCitation/PMID", "").strip()
        out.append(ParsedRecord(pmid, ET.tostring(article, encoding="unicode"),
                                studies.get(pmid)))
    return out


def parse_record(raw: str) -> Study:
    doc = ('<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle,'
           ' 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
           f"\n<PubmedArticleSet>{raw}</PubmedArticleSet>")
    return parse_efetch(doc.encode("utf-8"))[0]
