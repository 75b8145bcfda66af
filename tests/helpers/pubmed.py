"""PubMed test records: a real MEDLINE RCT record to edit as an upstream record could be,
parsed alone or between two good real records as one efetch answer."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from tests.helpers import FIXTURES
from watcher.fakes.eutils import records_from_xml
from watcher.models import Study
from watcher.parsers import pubmed

#: A real MEDLINE RCT record (PMID 28731372), edited per test as an upstream record could be.
BASE = records_from_xml((FIXTURES / "pubmed_metapub/28731372.xml").read_bytes())[0][1]
HYPHEN = "\u2010"  # the Unicode hyphen publishers (Wiley ...) put into PubMed abstracts


def editable_record() -> ET.Element:
    return copy.deepcopy(BASE)


def parse(element: ET.Element) -> Study:
    return pubmed.parse_record(ET.tostring(element, encoding="unicode"))


OTHER = records_from_xml((FIXTURES / "pubmed_metapub/36318760.xml").read_bytes())[0][1]


def batch_with(element: ET.Element) -> list[pubmed.ParsedRecord]:
    """The edited record between two good real ones, as one efetch answer."""
    raws = [ET.tostring(e, encoding="unicode") for e in (OTHER, element, OTHER)]
    records = pubmed.parse_efetch_records(pubmed._article_set(raws))
    assert [r.error for r in (records[0], records[2])] == [None, None]
    return records
