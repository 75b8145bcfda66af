"""Pure parsers for E-utilities XML: esearch with Bio.Entrez.read, efetch db=pubmed record by
record with ElementTree (``pubmed_reader``, ``pubmed_xml``; why not Entrez.read: see there).

No network here: ``pin_dtd`` rewrites an unknown PubMed DTD to the newest one Biopython bundles,
because Biopython would otherwise try to download it.

An efetch answer is parsed record by record (``parse_efetch_records``): each record keeps its own
XML verbatim so it can be re-parsed later without the network (``parse_records``), an element
nothing reads is ignored, and one record that cannot be read fails alone. A plain answer is
read in one pass (``pubmed_reader.py``); an unusual one (an <ERROR>, a comment between records,
a record that does not parse) is split by a structure-only expat pass, to say what is wrong or
which record. Each record's reading into a study is ``pubmed_study.py``'s.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat
from xml.parsers.expat import ExpatError

from Bio import Entrez
from Bio.Entrez.Parser import CorruptedXMLError, NotXMLError, ValidationError

from ..errors import ParseError
from ..models import SourceRecord
from ..printable import one_line
from . import pubmed_reader, pubmed_xml
from .pubmed_study import parse_article, parse_book

_DOCTYPE = re.compile(rb'<!DOCTYPE\s+(\w+)\s+PUBLIC\s+"([^"]*)"\s+"([^"]*)"\s*>')
_RECORD_TAGS = pubmed_reader.RECORD_TAGS
_CITATION_TAGS = ("MedlineCitation", "BookDocument")
#: A start tag (group 1: "/" when the element is empty; an attribute may hold ">").
_START_TAG = re.compile(rb"""<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(/?)>""")
# C0 controls XML 1.0 forbids (all but tab, LF, CR); in UTF-8 these bytes are never part of
# another character.
_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0b, 0x0c, *range(0x0e, 0x20)])


@dataclass
class SearchPage:
    """One esearch answer: how many match in total and this page's ids."""

    count: int
    ids: list[str]
    warnings: list[str] = field(default_factory=list)
    translation: str = ""  # how PubMed read the term (QueryTranslation, see reading)


_BUNDLED, _NEWEST_PUBMED = pubmed_xml.BUNDLED_DTDS, pubmed_xml.NEWEST_PUBMED_DTD


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
        raise ParseError(f"{what}: E-utilities error: {one_line(str(exc))}") from None
    except NotXMLError:
        raise ParseError(f"{what}: response is not XML ({_snippet(xml)})") from None
    except (CorruptedXMLError, ExpatError, ValidationError) as exc:
        raise ParseError(f"{what}: malformed or truncated XML ({one_line(str(exc))})") from None
    except ValueError as exc:  # no DTD at all, or other structural problems
        raise ParseError(f"{what}: unexpected XML ({one_line(str(exc))[:160]})") from None


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


def parse_efetch_records(xml: bytes) -> list[SourceRecord]:
    """One SourceRecord per <PubmedArticle>/<PubmedBookArticle>, in document order.

    Raises ParseError only when the response as a whole is unusable (empty, not XML, truncated,
    an E-utilities <ERROR>, not a PubmedArticleSet); a record that cannot be read only gets an
    ``error``. A plain answer is read in one pass (``pubmed_reader``); any other is first split
    by a structure-only expat pass, which says what is wrong with it or where each record is.
    """
    return _records(xml, "PubMed efetch")


def parse_records(raws: list[str]) -> list[SourceRecord]:
    """Re-parse stored raw records, as their efetch answer was read."""
    return _records(_article_set(raws), "PubMed records")


def _records(xml: bytes, what: str) -> list[SourceRecord]:
    if not xml.strip():
        raise ParseError(f"{what}: empty response body")
    pinned = pin_dtd(_without_controls(xml), latest_pubmed=True)
    records = pubmed_reader.read(pinned)
    if records is not None:
        return records
    try:
        split = _split(pinned, what)
    except ParseError as exc:
        _read(pinned, what, validate=False)  # Biopython's word for what is wrong, if it has one
        raise exc from None
    return [_parsed_record(record) for record in split]


def _without_controls(xml: bytes) -> bytes:
    """A raw control character (pasted into an abstract from a PDF) makes the whole answer
    ill-formed, so every run would fail on the same batch: each becomes a space. Only for
    UTF-8 (E-utilities' encoding), where that byte cannot be part of another character."""
    if xml.startswith((b"\xff\xfe", b"\xfe\xff")) or len(xml.translate(None, _CONTROL_BYTES)) \
            == len(xml):  # (a C loop over the bytes: four times the speed of the pattern's)
        return xml
    return _CONTROLS.sub(b" ", xml)


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


def _parsed_record(record: _RawRecord) -> SourceRecord:
    """One record read alone: XML it cannot be parsed as, or a shape the study parser does not
    expect, fails it alone."""
    try:
        element = pubmed_xml.parse(record.raw.encode("utf-8"))
    except pubmed_xml.ParseError as exc:
        return SourceRecord(record.pmid, record.raw, None, _record_error(
            record, f"malformed XML ({one_line(str(exc))})"))
    parse = parse_article if record.tag == "PubmedArticle" else parse_book
    try:
        study = parse(element)
    except Exception as exc:  # any shape we did not expect fails this record only
        return SourceRecord(record.pmid, record.raw, None, _record_error(
            record, f"unexpected shape ({type(exc).__name__}: {exc})"))
    return SourceRecord(record.pmid, record.raw, study)


def _record_error(record: _RawRecord, reason: str) -> str:
    name = record.pmid or f"#{record.position} (no PMID)"
    return one_line(f"PubMed record {name}: {reason}")[:300]


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
        raise ParseError(f"{what}: malformed or truncated XML ({one_line(str(exc))})") from None
    if split.errors:
        raise ParseError(f"{what}: E-utilities error: {one_line('; '.join(split.errors))}")
    if split.root != "PubmedArticleSet":
        raise ParseError(f"{what}: answer is not a PubmedArticleSet")
    return split.records


def _snippet(xml: bytes) -> str:
    return one_line(xml[:80].decode("utf-8", "replace"))
