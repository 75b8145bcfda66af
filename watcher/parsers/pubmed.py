"""Pure parsers for E-utilities XML (esearch, efetch db=pubmed) built on Bio.Entrez.read.

No network here: ``pin_dtd`` rewrites an unknown PubMed DTD to the newest one Biopython bundles,
because Biopython would otherwise try to download it.

An efetch answer is parsed record by record (``parse_efetch_records``): each record keeps its own
XML verbatim so it can be re-parsed later without the network (``parse_record``), an element the
bundled DTD does not know is skipped, and one record that cannot be read fails alone.
"""

from __future__ import annotations

import html
import io
import os
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from xml.parsers import expat
from xml.parsers.expat import ExpatError

from Bio import Entrez
from Bio.Entrez.Parser import CorruptedXMLError, DataHandler, NotXMLError, ValidationError

from ..errors import ParseError
from ..models import SourceRecord, Study, normalize_id
from . import pubmed_fields as fields

_DOCTYPE = re.compile(rb'<!DOCTYPE\s+(\w+)\s+PUBLIC\s+"([^"]*)"\s+"([^"]*)"\s*>')
_INLINE_TAG = re.compile(
    r"</?(?:i|b|u|em|strong|sc|sub|sup|mml:[a-z]+|math)(?:\s[^<>]*)?/?>", re.IGNORECASE
)
# Biopython hands MathML over as markup without its mml: prefix (<math xmlns=...><mi>V</mi>...).
_MATH = re.compile(r"<(?:mml:)?math\b[^>]*>(.*?)</(?:mml:)?math>", re.IGNORECASE | re.DOTALL)
_SUB_SUP = re.compile(r"(\s*)<(sub|sup)>([^<]*)</\2>", re.IGNORECASE)
_SUBSCRIPT = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_SUPERSCRIPT = str.maketrans("0123456789+-=()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾")
_RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle")
_CITATION_TAGS = ("MedlineCitation", "BookDocument")
_START_TAG = re.compile(rb"""<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(/?)>""")
#: CommentsCorrections RefTypes that correct a record: "...In" on the corrected record names its
#: notice, "...For" on the notice names the record it corrects.
CORRECTION_REFTYPES = ("RetractionIn", "RetractionOf", "ErratumIn", "ErratumFor",
                       "ExpressionOfConcernIn", "ExpressionOfConcernFor")
_NOT_AVAILABLE = re.compile(r"\[?\s*not\s+available\s*\]?\.?", re.IGNORECASE)
# C0 controls XML 1.0 forbids (all but tab, LF, CR); in UTF-8 these bytes are never part of
# another character.
_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    start=1)}




@dataclass
class SearchPage:
    """One esearch answer: how many match in total and this page's ids."""

    count: int
    ids: list[str]
    warnings: list[str] = field(default_factory=list)
    translation: str = ""  # how PubMed read the term (QueryTranslation, see reading)


def _bundled_dtds() -> set[str]:
    names = set(os.listdir(DataHandler.global_dtd_dir))
    if DataHandler.local_dtd_dir and os.path.isdir(DataHandler.local_dtd_dir):
        names.update(os.listdir(DataHandler.local_dtd_dir))
    return names


_BUNDLED = _bundled_dtds()
_NEWEST_PUBMED = max(n for n in _BUNDLED if re.fullmatch(r"pubmed_\d{6}\.dtd", n))


def pin_dtd(xml: bytes, *, latest_pubmed: bool = False) -> bytes:
    """Point the DOCTYPE at a bundled DTD so Biopython never downloads one.

    With ``latest_pubmed`` every PubMed DTD becomes the newest bundled one, so a record is read
    against the same DTD in its efetch answer and when its raw XML is re-parsed alone later.
    """
    head = xml[:2048]
    match = _DOCTYPE.search(head)
    if not match:
        return xml
    system_id = match.group(3).decode("ascii", "replace")
    filename = system_id.rsplit("/", 1)[-1]
    is_pubmed = re.fullmatch(r"pubmed_\d{6}\.dtd", filename) is not None
    if filename in _BUNDLED and not (latest_pubmed and is_pubmed and filename != _NEWEST_PUBMED):
        return xml
    if is_pubmed:
        new = system_id.rsplit("/", 1)[0] + "/" + _NEWEST_PUBMED
        return xml.replace(match.group(3), new.encode("ascii"), 1)
    raise ParseError(f"response declares DTD {filename!r}, which this Biopython does not bundle")


def _read(xml: bytes, what: str, *, validate: bool = True) -> Any:
    """Entrez.read with a pinned DTD; every failure becomes a one-line ParseError.

    ``validate=False`` makes Biopython skip (not store) elements its DTD does not declare instead
    of raising ValidationError: PubMed adds elements before Biopython bundles the new DTD.
    """
    if not xml.strip():
        raise ParseError(f"{what}: empty response body")
    try:
        return Entrez.read(io.BytesIO(pin_dtd(xml)), validate=validate)
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
    for kind, label in (("PhraseIgnored", "phrase ignored"),
                        ("QuotedPhraseNotFound", "quoted phrase not found")):
        for phrase in (data.get("WarningList") or {}).get(kind, []):
            warnings.append(f"{label}: {phrase}")
    return SearchPage(count=int(data["Count"]), ids=[str(i) for i in data["IdList"]],
                      warnings=warnings,
                      translation=reading(str(data.get("QueryTranslation") or "")))


#: The date window PubMed appends to its QueryTranslation: "... AND 2026/11/22:2026/11/24[Date -
#: Entry]" (mindate/maxdate as it read them; "[Date - Modification]" for an mdat search).
_WINDOW = re.compile(r"\s+AND\s+\(?\d{4}(?:/\d{1,2}){0,2}\s*:\s*\d{4}(?:/\d{1,2}){0,2}"
                     r"\[Date - (?:Entry|Entrez|Modification)\]\)?\s*$")


def reading(translation: str) -> str:
    """How PubMed read the terms, without the date window it also reports: each poll searches
    a new window, which is no change in how the query is read."""
    return _WINDOW.sub("", translation, count=1).strip()


def parse_efetch(xml: bytes) -> list[Study]:
    """The studies of every readable record of a PubmedArticleSet (book records included).

    Records that cannot be read are left out (see parse_efetch_records for why); a response that
    is unusable as a whole raises ParseError.
    """
    return [r.study for r in parse_efetch_records(xml) if r.study is not None]


def parse_efetch_records(xml: bytes) -> list[SourceRecord]:
    """One SourceRecord per <PubmedArticle>/<PubmedBookArticle>, in document order.

    Raises ParseError only when the response as a whole is unusable (empty, not XML, truncated,
    an E-utilities <ERROR>, not a PubmedArticleSet); a record that cannot be read only gets an
    ``error``. The whole answer is read once (one DTD load); only if Biopython rejects a
    well-formed answer are its records read again, in halves, to find the culprit.
    """
    return _records(xml, "PubMed efetch")


def parse_records(raws: list[str]) -> list[SourceRecord]:
    """Re-parse many stored raw records at once (one DTD load instead of one per record)."""
    return _records(_article_set(raws), "PubMed records")


def parse_record(raw: str) -> Study:
    """Re-parse ONE stored raw record (SourceRecord.raw) offline into the same Study."""
    records = _records(_article_set([raw]), "PubMed record")
    if len(records) != 1:
        raise ParseError(f"PubMed record: expected one <PubmedArticle> or <PubmedBookArticle>, "
                         f"found {len(records)}")
    if records[0].study is None:
        raise ParseError(records[0].error or "PubMed record: unreadable")
    return records[0].study


def _records(xml: bytes, what: str) -> list[SourceRecord]:
    if not xml.strip():
        raise ParseError(f"{what}: empty response body")
    pinned = pin_dtd(_without_controls(xml), latest_pubmed=True)
    try:
        data = _read(pinned, what, validate=False)
    except ParseError as exc:
        try:
            records = _split(pinned, what)
        except ParseError:
            raise exc from None
        # Well-formed, yet Biopython rejects something inside: find which record(s) it is.
        return _read_group(records)
    records = _split(pinned, what)
    paired = _paired(records, data)
    return paired if paired is not None else _read_group(records)


def _without_controls(xml: bytes) -> bytes:
    """A raw control character (pasted into an abstract from a PDF) makes the whole answer
    ill-formed, so every run would fail on the same batch: each becomes a space. Only for
    UTF-8 (E-utilities' encoding), where that byte cannot be part of another character."""
    if xml.startswith((b"\xff\xfe", b"\xfe\xff")) or not _CONTROLS.search(xml):
        return xml
    return _CONTROLS.sub(b" ", xml)


def _paired(records: list[_RawRecord], data: Any) -> list[SourceRecord] | None:
    """Match Biopython's per-type lists with the records in document order (None if they
    do not line up, which a well-formed answer read without error should never do)."""
    if not isinstance(data, dict):
        return None
    parsed = {tag: list(data.get(tag, [])) for tag in _RECORD_TAGS}
    if any(len(parsed[tag]) != sum(r.tag == tag for r in records) for tag in _RECORD_TAGS):
        return None
    return [_parsed_record(record, parsed[record.tag].pop(0)) for record in records]


def _read_group(records: list[_RawRecord]) -> list[SourceRecord]:
    """Read records in their own PubmedArticleSet, halving the group until each failure is
    one record's own (a DTD load costs ~10 ms, so not one read per record)."""
    if not records:
        return []
    what = "PubMed record"
    try:
        data = _read(_article_set([r.raw for r in records]), what, validate=False)
        paired = _paired(records, data)
        if paired is None:
            raise ParseError(f"{what}: Biopython did not return it")
        return paired
    except ParseError as exc:
        if len(records) == 1:
            reason = str(exc).removeprefix(what + ": ")
            return [SourceRecord(records[0].pmid, records[0].raw, None,
                                 _record_error(records[0], reason))]
    middle = len(records) // 2
    return _read_group(records[:middle]) + _read_group(records[middle:])


@dataclass
class _RawRecord:
    tag: str
    raw: str
    pmid: str
    position: int  # 1-based, to name a record that has no PMID


def _article_set(raws: list[str]) -> bytes:
    """Stored raw records wrapped in a PubmedArticleSet that declares the newest bundled DTD."""
    system_id = "https://dtd.nlm.nih.gov/ncbi/pubmed/out/" + _NEWEST_PUBMED
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE PubmedArticleSet PUBLIC '
            f'"-//NLM//DTD PubMedArticle//EN" "{system_id}">\n<PubmedArticleSet>\n')
    return (head + "\n".join(raws) + "\n</PubmedArticleSet>\n").encode("utf-8")


def _parsed_record(record: _RawRecord, data: Any) -> SourceRecord:
    parse = parse_article if record.tag == "PubmedArticle" else parse_book
    try:
        study = parse(data)
    except Exception as exc:  # any shape we did not expect fails this record only
        return SourceRecord(record.pmid, record.raw, None, _record_error(
            record, f"unexpected shape ({type(exc).__name__}: {exc})"))
    return SourceRecord(record.pmid, record.raw, study)


def _record_error(record: _RawRecord, reason: str) -> str:
    name = record.pmid or f"#{record.position} (no PMID)"
    return _one_line(f"PubMed record {name}: {reason}")[:300]


class _Splitter:
    """One expat pass over an efetch answer: the root element, each top-level record's exact
    bytes and PMID, and any top-level <ERROR>. No DTD is read: this pass only needs structure."""

    def __init__(self, xml: bytes):
        self.xml = xml
        self.parser = expat.ParserCreate()
        self.parser.buffer_text = True
        self.parser.XmlDeclHandler = self._declaration
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.encoding = "utf-8"
        self.root = ""
        self.depth = 0
        self.records: list[_RawRecord] = []
        self.errors: list[str] = []
        self._start_at = 0
        self._start_end: int | None = None  # end of a self-closing record's only tag
        self._capture_depth = 0
        self._in_record = False
        self._in_citation = False
        self._text: list[str] = []

    def run(self) -> _Splitter:
        self.parser.Parse(self.xml, True)
        return self

    def _declaration(self, version: str, encoding: str | None, standalone: int) -> None:
        self.encoding = encoding or "utf-8"

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        depth = self.depth
        if depth > 4:
            return
        if depth == 1:
            self.root = tag
        elif depth == 2:
            self._in_record = tag in _RECORD_TAGS
            if self._in_record:
                self._start_at = self.parser.CurrentByteIndex
                tag_match = _START_TAG.match(self.xml, self._start_at)
                closed = tag_match is not None and tag_match.group(1)
                self._start_end = tag_match.end() if closed else None
                self.records.append(_RawRecord(tag, "", "", len(self.records) + 1))
            elif tag == "ERROR":
                self._capture(depth)
        elif depth == 3:
            self._in_citation = self._in_record and tag in _CITATION_TAGS
        elif self._in_citation and tag == "PMID" and not self.records[-1].pmid:
            self._capture(depth)

    def _end(self, tag: str) -> None:
        depth = self.depth
        self.depth -= 1
        if depth > 4:
            return
        if depth == self._capture_depth:
            text = "".join(self._text).strip()
            self.parser.CharacterDataHandler = None
            self._capture_depth = 0
            if depth == 2:
                self.errors.append(text)
            else:
                self.records[-1].pmid = text
        if depth == 2 and self._in_record:
            end = self._start_end
            if end is None:  # expat points at the start of this end tag
                end = self.xml.index(b">", self.parser.CurrentByteIndex) + 1
            self.records[-1].raw = self.xml[self._start_at:end].decode(self.encoding)
            self._in_record = False

    def _capture(self, depth: int) -> None:
        """Collect this element's text (the handler is only set while needed: it is hot)."""
        self._text = []
        self._capture_depth = depth
        self.parser.CharacterDataHandler = self._text.append


def _split(xml: bytes, what: str) -> list[_RawRecord]:
    """The records of a well-formed PubmedArticleSet, each as its exact original text."""
    try:
        split = _Splitter(xml).run()
    except (ExpatError, LookupError, UnicodeDecodeError) as exc:
        raise ParseError(f"{what}: malformed or truncated XML ({_one_line(str(exc))})") from None
    if split.errors:
        raise ParseError(f"{what}: E-utilities error: {_one_line('; '.join(split.errors))}")
    if split.root != "PubmedArticleSet":
        raise ParseError(f"{what}: answer is not a PubmedArticleSet")
    return split.records


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
    abstract = _abstract(art.get("Abstract", {}))
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
        "abstract_sections": fields.abstract_sections(art.get("Abstract", {}), clean_text),
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
    abstract = _abstract(document.get("Abstract", {}))
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
            "abstract_sections": fields.abstract_sections(document.get("Abstract", {}),
                                                          clean_text)},
    )


def clean_text(value: Any) -> str:
    """Inline markup (<i>, <sub>, MathML) to plain text; never truncates at the first tag."""
    text = str(value or "")
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
