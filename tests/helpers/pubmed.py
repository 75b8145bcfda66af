"""PubMed test records: a real MEDLINE RCT record to edit as an upstream record could be,
parsed alone or between two good real records as one efetch answer."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from tests.helpers import FIXTURES
from watcher.errors import ParseError
from watcher.fakes.eutils import records_from_xml
from watcher.models import SourceRecord, Study
from watcher.parsers import pubmed

#: A real MEDLINE RCT record (PMID 28731372), edited per test as an upstream record could be.
BASE = records_from_xml((FIXTURES / "pubmed_metapub/28731372.xml").read_bytes())[0][1]
HYPHEN = "\u2010"  # the Unicode hyphen publishers (Wiley ...) put into PubMed abstracts


def editable_record() -> ET.Element:
    return copy.deepcopy(BASE)


def parse(element: ET.Element) -> Study:
    return parse_one(ET.tostring(element, encoding="unicode"))


def studies_of(xml: bytes) -> list[Study]:
    """The studies of every readable record of an efetch answer (unreadable ones left out), by
    the path polling takes (parse_efetch_records)."""
    return [r.study for r in pubmed.parse_efetch_records(xml) if r.study is not None]


def parse_one(raw: str) -> Study:
    """ONE stored raw record re-parsed as `watcher reparse` does (SPEC.parse_records): its
    study, or a ParseError saying why it is none."""
    records = pubmed.parse_records([raw])
    if len(records) != 1:
        raise ParseError(f"PubMed record: expected one <PubmedArticle> or <PubmedBookArticle>, "
                         f"found {len(records)}")
    if records[0].study is None:
        raise ParseError(records[0].error or "PubMed record: unreadable")
    return records[0].study


OTHER = records_from_xml((FIXTURES / "pubmed_metapub/36318760.xml").read_bytes())[0][1]


def batch_with(element: ET.Element) -> list[SourceRecord]:
    """The edited record between two good real ones, as one efetch answer."""
    raws = [ET.tostring(e, encoding="unicode") for e in (OTHER, element, OTHER)]
    records = pubmed.parse_efetch_records(pubmed._article_set(raws))
    assert [r.error for r in (records[0], records[2])] == [None, None]
    return records


def with_unknown_element(article: ET.Element, tag: str = "FutureElement",
                         text: str = "x") -> ET.Element:
    """Add an element no bundled DTD declares inside MedlineCitation/Article (a "{uri}name" tag
    is written with a namespace prefix Biopython does not know). Returns the same element."""
    parent = article.find("MedlineCitation/Article")
    if parent is None:
        raise ValueError("record has no MedlineCitation/Article")
    ET.SubElement(parent, tag).text = text
    return article


def without_article(article: ET.Element) -> ET.Element:
    """Remove MedlineCitation/Article: a record with a broken shape. Returns the same element."""
    citation = article.find("MedlineCitation")
    if citation is not None:
        for node in citation.findall("Article"):
            citation.remove(node)
    return article
