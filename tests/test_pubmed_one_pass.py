"""An efetch answer is read in one pass: each record's text is exactly its bytes in the answer
(whatever it holds: non-ASCII, CDATA, entities, a comment between records, an empty record),
its study is what the watcher has always stored for it (what Biopython's Entrez.read of the
whole answer gave, recorded in ``fixtures/pubmed_expected.json``), and it is held compressed."""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
import zlib

import pytest

from tests.helpers import FIXTURES, PUBMED_FILES
from tests.helpers.pubmed import OTHER, editable_record
from watcher.db import content_hash
from watcher.fakes.eutils import PUBMED_DOCTYPE
from watcher.models import SourceRecord, Study
from watcher.parsers import pubmed

#: A record: an empty tag (an attribute may hold ">"), or up to its end tag (they never nest).
_RECORD = re.compile(rb"<(PubmedArticle|PubmedBookArticle)\b"
                     rb"(?:(?:[^>\"]|\"[^\"]*\")*/>|.*?</\1\s*>)", re.DOTALL)
#: Each fixture's studies as the Biopython reader (Entrez.read, then the study parser over its
#: structures; 4f2b7d2) made them: a study read differently now would be a change to every
#: team that stored it, a false alert.
EXPECTED = json.loads((FIXTURES / "pubmed_expected.json").read_text("utf-8"))


def raw_records(xml: bytes) -> list[str]:
    """Each record's exact text, found by a pattern, not the parser."""
    return [match.group(0).decode("utf-8") for match in _RECORD.finditer(xml)]


def answer(*records: str, between: str = "\n") -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + PUBMED_DOCTYPE + "\n<PubmedArticleSet>"
            + between + between.join(records) + between + "</PubmedArticleSet>\n").encode()


@pytest.mark.parametrize("path", PUBMED_FILES, ids=lambda p: p.name)
def test_every_fixture_reads_as_the_biopython_reader_read_it(path):
    xml = path.read_bytes()
    records = pubmed.parse_efetch_records(xml)

    assert [r.raw for r in records] == raw_records(xml)
    expected = EXPECTED[str(path.relative_to(FIXTURES))]
    assert [r.study for r in records] == [Study.from_dict(study) for study in expected]
    for record in records:  # and each kept text re-parses alone into the same study
        assert pubmed.parse_records([record.raw])[0].study == record.study


def _unusual_record() -> str:
    """A real record whose title is in three scripts with an emoji, whose abstract holds a
    CDATA section and character references, and whose reference list is long."""
    article = editable_record()
    article.tail = None
    article.find("MedlineCitation/Article/ArticleTitle").text = "TITLE_MARK"
    abstract = article.find("MedlineCitation/Article/Abstract/AbstractText")
    abstract.text = "ABSTRACT_MARK"
    text = ET.tostring(article, encoding="unicode")
    return (text.replace("TITLE_MARK", "Café ünd 中文 试验 \U0001f9ea &amp; more")
            .replace("ABSTRACT_MARK", "Dose <![CDATA[x < y & <i>z</i>]]> was "
                     "given &#x2013; NCT&#48;123456&#x37; &lt;b&gt;"))


def test_a_record_with_non_ascii_cdata_and_references_is_kept_byte_for_byte():
    unusual = _unusual_record()
    neighbour = ET.tostring(OTHER, encoding="unicode")
    xml = answer(neighbour, unusual, neighbour, between="\n<!-- a comment -->\n")
    records = pubmed.parse_efetch_records(xml)

    assert [r.raw for r in records] == raw_records(xml) == [neighbour, unusual, neighbour]
    assert records[1].raw.encode("utf-8") in xml  # the very bytes, CDATA markers and all
    alone = pubmed.parse_efetch_records(answer(neighbour))[0].study
    assert records[0].study == records[2].study == alone is not None
    study = records[1].study
    assert study.title.startswith("Café ünd 中文 试验 \U0001f9ea & more")
    assert study.abstract.startswith("BACKGROUND: Dose x < y & z was given – NCT01234567\n")
    assert study.linked_ids["nct"] == ["NCT01234567"]


def test_an_empty_record_fails_alone_between_readable_ones():
    neighbour = ET.tostring(OTHER, encoding="unicode")
    empty = '<PubmedArticle note="a > b"/>'  # an attribute may hold ">": the tag ends after it
    records = pubmed.parse_efetch_records(answer(neighbour, empty, neighbour))

    assert [r.raw for r in records] == [neighbour, empty, neighbour]
    assert [r.study is not None for r in records] == [True, False, True]
    assert records[1].error.startswith("PubMed record #2 (no PMID): unexpected shape")


def test_a_parsed_record_is_held_compressed_and_gives_its_text_back():
    xml = PUBMED_FILES[0].read_bytes()
    record = pubmed.parse_efetch_records(xml)[0]

    assert zlib.decompress(record.packed.data).decode("utf-8") == record.raw
    assert len(record.packed.data) < len(record.raw.encode("utf-8")) / 2
    assert record.packed.digest == content_hash(record.raw)  # what tells a changed record
    renamed = dataclasses.replace(record, source_id="other")
    assert (renamed.raw, renamed.study, renamed.source_id) == (record.raw, record.study, "other")
    assert SourceRecord("1", "<a>é</a>", None) == SourceRecord("1", "<a>é</a>", None)


def _with_pubmed_data(prefix: str) -> str:
    """The real record with ``prefix`` put just before its ArticleIdList (in PubmedData)."""
    text = ET.tostring(editable_record(), encoding="unicode")
    return text.replace("<ArticleIdList>", prefix + "<ArticleIdList>", 1)


@pytest.mark.parametrize("prefix", [
    "<ReferenceList><Reference><Citation>c</Citation></Reference></ReferenceList>",
    "<ReferenceList />",
    "<ReferenceListFuture />",  # an element whose name only starts like it
], ids=["list", "empty-list", "longer-name"])
def test_a_reference_list_before_the_article_ids_does_not_take_them_with_it(prefix):
    plain = pubmed.parse_efetch_records(answer(_with_pubmed_data("")))[0].study
    records = pubmed.parse_efetch_records(answer(_with_pubmed_data(prefix)))

    assert records[0].study.ids == plain.ids
    assert plain.ids["pmcid"] == "PMC6108041"


def test_an_end_tag_with_white_space_neither_loses_the_next_record_nor_swallows_it():
    article = editable_record()
    article.tail = None
    record = ET.tostring(article, encoding="unicode")
    spaced = record.replace("</PubmedArticle>", "</PubmedArticle >")
    neighbour = ET.tostring(OTHER, encoding="unicode")
    records = pubmed.parse_efetch_records(answer(neighbour, spaced, neighbour))

    assert [r.raw for r in records] == [neighbour, spaced, neighbour]
    assert [r.source_id for r in records] == ["36318760", "28731372", "36318760"]
    assert records[1].study.ids["pmid"] == "28731372"
    assert records[0].study == records[2].study is not None


def test_a_record_in_a_namespace_fails_alone_under_its_pmid():
    article = editable_record()
    article.tail = None
    record = ET.tostring(article, encoding="unicode").replace(
        "<PubmedArticle>", '<PubmedArticle xmlns="http://example.org/x">', 1)
    neighbour = ET.tostring(OTHER, encoding="unicode")
    records = pubmed.parse_efetch_records(answer(neighbour, record, neighbour))

    assert [r.source_id for r in records] == ["36318760", "28731372", "36318760"]
    assert records[1].study is None and records[1].error.startswith("PubMed record 28731372:")
