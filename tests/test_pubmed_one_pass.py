"""An efetch answer is read in one pass: each record's text is exactly its bytes in the answer
(whatever it holds: non-ASCII, CDATA, entities, a comment between records, an empty record),
its study is what Biopython's reading of the whole answer gives, and it is held compressed."""

from __future__ import annotations

import dataclasses
import io
import re
import xml.etree.ElementTree as ET
import zlib

import pytest
from Bio import Entrez

from tests.helpers import PUBMED_FILES
from tests.helpers.pubmed import OTHER, editable_record
from watcher.db import content_hash
from watcher.fakes.eutils import PUBMED_DOCTYPE
from watcher.models import SourceRecord
from watcher.parsers import pubmed
from watcher.parsers.pubmed_study import parse_article, parse_book

#: A record: an empty tag (an attribute may hold ">"), or up to its end tag (they never nest).
_RECORD = re.compile(rb"<(PubmedArticle|PubmedBookArticle)\b"
                     rb"(?:(?:[^>\"]|\"[^\"]*\")*/>|.*?</\1\s*>)", re.DOTALL)


def as_biopython_reads_it(xml: bytes) -> list[tuple[str, object]]:
    """Each record's exact text (found by a pattern, not the parser) and the study (or the
    exception) that ``parse_article``/``parse_book`` make of Biopython's reading of the whole
    answer: what the watcher has always stored."""
    pinned = pubmed.pin_dtd(xml, latest_pubmed=True)
    data = Entrez.read(io.BytesIO(pinned), validate=False)
    parsed = {tag: list(data.get(tag, [])) for tag in ("PubmedArticle", "PubmedBookArticle")}
    found = []
    for match in _RECORD.finditer(pinned):
        tag = match.group(1).decode()
        parse = parse_article if tag == "PubmedArticle" else parse_book
        try:
            study: object = parse(parsed[tag].pop(0))
        except Exception as exc:  # the record fails alone, as the watcher says
            study = type(exc)
        found.append((match.group(0).decode("utf-8"), study))
    return found


def answer(*records: str, between: str = "\n") -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + PUBMED_DOCTYPE + "\n<PubmedArticleSet>"
            + between + between.join(records) + between + "</PubmedArticleSet>\n").encode()


@pytest.mark.parametrize("path", PUBMED_FILES, ids=lambda p: p.name)
def test_every_fixture_reads_as_biopython_reads_the_whole_answer(path):
    xml = path.read_bytes()
    expected = as_biopython_reads_it(xml)
    records = pubmed.parse_efetch_records(xml)

    assert [r.raw for r in records] == [raw for raw, _ in expected]
    assert [r.study if r.study is not None else type(None) for r in records] == [
        study if not isinstance(study, type) else type(None) for _, study in expected]
    for record in records:  # and each kept text re-parses alone into the same study
        if record.study is not None:
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
    expected = as_biopython_reads_it(xml)

    assert [r.raw for r in records] == [raw for raw, _ in expected] == [neighbour, unusual,
                                                                       neighbour]
    assert records[1].raw.encode("utf-8") in xml  # the very bytes, CDATA markers and all
    assert [r.study for r in records] == [study for _, study in expected]
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
