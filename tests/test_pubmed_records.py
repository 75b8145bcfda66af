"""An efetch answer is parsed record by record: each record keeps its exact XML so it re-parses
offline into the same study, an element newer than Biopython's DTD is skipped, and one record
that cannot be read fails alone (named by its PMID) while the answer as a whole only fails when
it is unusable (truncated, not XML, an E-utilities error, not a PubmedArticleSet)."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import Bio.Entrez.Parser as bio_parser
import pytest
from Bio import Entrez

from tests.helpers import FIXTURES, PUBMED_FILES, renumbered
from tests.helpers.pubmed import (
    OTHER,
    batch_with,
    editable_record,
    parse_one,
    studies_of,
    with_unknown_element,
    without_article,
)
from watcher.errors import ParseError
from watcher.fakes.eutils import (
    EutilsServer,
    records_from_xml,
)
from watcher.parsers import pubmed

ARTICLE_FILES = [p for p in PUBMED_FILES if records_from_xml(p.read_bytes())]


def batch(size: int, change=None, at: int | None = None) -> tuple[list[str], bytes]:
    """*size* real fixture records under new PMIDs, as the local efetch would serve them; the
    record at index *at* is passed through *change* first."""
    server = EutilsServer()  # only its corpus and efetch body are used: no HTTP here
    ids = []
    for n in range(size):
        article = renumbered(ARTICLE_FILES[n % len(ARTICLE_FILES)], str(41000000 + n))
        if n == at:
            change(article)
        ids.append(server.add_article(article))
    return ids, server.efetch_xml(ids)


def test_an_element_newer_than_the_dtd_does_not_fail_a_200_record_batch():
    ids, xml = batch(200, with_unknown_element, at=57)
    with pytest.raises(bio_parser.ValidationError):  # what used to fail the whole batch
        Entrez.read(io.BytesIO(xml))

    records = pubmed.parse_efetch_records(xml)
    assert [r.source_id for r in records] == ids
    assert [r.error for r in records] == [None] * 200
    assert [r.study.ids["pmid"] for r in records] == ids
    assert "<FutureElement>x</FutureElement>" in records[57].raw  # kept for a later parser

    # The unknown element is skipped: the record reads exactly as it does without it.
    twin_ids, twin = batch(58)
    assert twin_ids[57] == ids[57]
    assert pubmed.parse_efetch_records(twin)[57].study == records[57].study
    # Every raw record of the batch (re-serialized by the fake, MathML included) re-parses.
    assert [r.study for r in pubmed.parse_records([r.raw for r in records])] == [
        r.study for r in records]


def test_a_record_with_a_broken_shape_fails_alone_and_is_named():
    ids, xml = batch(200, without_article, at=123)
    records = pubmed.parse_efetch_records(xml)
    assert [r.source_id for r in records] == ids
    bad = [r for r in records if r.study is None]
    assert len(bad) == 1 and bad[0].source_id == ids[123]
    assert bad[0].error.startswith(f"PubMed record {ids[123]}: unexpected shape")
    assert "\n" not in bad[0].error
    assert f">{ids[123]}</PMID>" in bad[0].raw  # kept: a fixed parser can read it later
    assert [s.ids["pmid"] for s in studies_of(xml)] == ids[:123] + ids[124:]
    with pytest.raises(ParseError, match=f"PubMed record {ids[123]}: unexpected shape"):
        parse_one(bad[0].raw)


def test_a_record_biopython_rejected_outright_is_read_like_its_twin():
    # An element in a namespace Biopython does not know made Entrez.read refuse the whole
    # answer even with validate=False (that record was lost); it is now read, the element
    # skipped as any unknown one is.
    ids, xml = batch(30, lambda a: with_unknown_element(a, "{urn:example:future}Note"), at=11)
    with pytest.raises(ValueError, match="Unknown prefix"):
        Entrez.read(io.BytesIO(xml), validate=False)

    records = pubmed.parse_efetch_records(xml)
    assert [r.source_id for r in records] == ids
    assert [r.error for r in records] == [None] * 30
    twin_ids, twin = batch(12)
    assert twin_ids[11] == ids[11]
    assert records[11].study == pubmed.parse_efetch_records(twin)[11].study


def _with_text(article: ET.Element, marker: str) -> ET.Element:
    article.find("MedlineCitation/Article/ArticleTitle").text = marker
    return article


def test_an_entity_the_dtd_defines_is_read_and_one_nobody_defines_is_dropped():
    ids, xml = batch(5, lambda a: _with_text(a, "MARK"), at=1)
    _, other = batch(5, lambda a: _with_text(a, "MARK"), at=3)
    xml = xml.replace(b"MARK", b"Spin &alpha; &InvisibleTimes;&#x3B2; waves", 1)
    records = pubmed.parse_efetch_records(xml)
    assert records[1].study.title == "Spin \u03b1 \u2062\u03b2 waves"  # as Biopython reads it
    assert [r.error for r in records] == [None] * 5

    # An entity newer than the bundled DTD loses its character, not the record (as Biopython
    # read it), so a study is never held back for want of a DTD update.
    newer = other.replace(b"MARK", b"A &notanentity; here &alpha;", 1)
    records = pubmed.parse_efetch_records(newer)
    assert [r.source_id for r in records] == ids
    assert [r.error for r in records] == [None] * 5
    assert records[3].study.title == "A here \u03b1"
    assert "&notanentity;" in records[3].raw  # kept: a later reader may know it


@pytest.mark.parametrize("path", PUBMED_FILES, ids=lambda p: p.name)
def test_every_fixture_record_re_parses_from_its_raw_text_into_the_same_study(path):
    data = path.read_bytes()
    records = pubmed.parse_efetch_records(data)
    assert [r.source_id for r in records] == [pmid for pmid, _ in records_from_xml(data)]
    for record in records:
        assert record.error is None and record.study is not None
        assert record.raw.startswith("<PubmedArticle>")
        assert record.raw.endswith("</PubmedArticle>")
        assert record.raw.encode("utf-8") in data  # verbatim: entities, prefixes, spacing
        assert parse_one(record.raw) == record.study
    assert studies_of(data) == [r.study for r in records]


def test_many_stored_records_re_parse_at_once_in_order():
    records = [r for path in PUBMED_FILES for r in pubmed.parse_efetch_records(path.read_bytes())]
    assert len(records) == 19
    again = pubmed.parse_records([r.raw for r in records])
    assert [(r.source_id, r.raw, r.study) for r in again] == [
        (r.source_id, r.raw, r.study) for r in records]


@pytest.mark.parametrize("name, title, kept", [
    ("biopython/pubmed6.xml",
     'A "Blood Relationship" Between the Overlooked Minimum Lactate Equivalent and Maximal '
     "Lactate Steady State in Trained Runners. Back to the Old Days?",
     ["&quot;<i>Blood Relationship&quot;</i>",
      '<mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML">', "<mml:mi>V</mml:mi>"]),
    ("pubmed_metapub/28731372.xml",
     "Exploring the effect of vitamin D₃ supplementation on the anti-EBV antibody response in "
     "relapsing-remitting multiple sclerosis.", ["vitamin D<sub>3</sub> supplementation"]),
    ("pubmed_metapub/38914053.xml",
     "Doped SnO₂thin films fabricated at low temperature by atomic layer deposition with a "
     "precise incorporation of niobium atoms.", ["Doped SnO<sub>2</sub>thin films"]),
])
def test_mathml_and_inline_markup_survive_the_round_trip(name, title, kept):
    [record] = pubmed.parse_efetch_records((FIXTURES / name).read_bytes())
    for markup in kept:
        assert markup in record.raw
    ET.fromstring(record.raw)  # well-formed on its own: MathML declares its namespace inline
    again = parse_one(record.raw)
    assert again.title == record.study.title == title
    assert again.abstract == record.study.abstract


# A PubmedBookArticle shaped after the PubMed DTD's BookDocument (no real book record is in the
# fixtures): books and articles keep their document order and their own PMIDs.
BOOK = (
    '<PubmedBookArticle><BookDocument><PMID Version="1">99000001</PMID><ArticleIdList>'
    '<ArticleId IdType="bookaccession">NBK0000</ArticleId></ArticleIdList><Book><Publisher>'
    "<PublisherName>Example Press</PublisherName></Publisher><BookTitle>Example Reviews<i>®"
    "</i></BookTitle><PubDate><Year>2020</Year><Month>Mar</Month></PubDate></Book>"
    "<ArticleTitle>Ketamine &amp; depression: an example chapter</ArticleTitle>"
    '<AuthorList Type="authors"><Author><LastName>Doe</LastName><ForeName>Jane</ForeName>'
    '<Initials>J</Initials></Author></AuthorList><PublicationType UI="D016454">Review'
    '</PublicationType><Abstract><AbstractText Label="SUMMARY">Short.</AbstractText></Abstract>'
    '</BookDocument><PubmedBookData><History><PubMedPubDate PubStatus="pubmed"><Year>2020</Year>'
    "<Month>3</Month><Day>20</Day></PubMedPubDate></History><PublicationStatus>ppublish"
    '</PublicationStatus><ArticleIdList><ArticleId IdType="pubmed">99000001</ArticleId>'
    "</ArticleIdList></PubmedBookData></PubmedBookArticle>"
)


def test_book_records_keep_document_order_and_their_own_pmid():
    xml = (FIXTURES / "biopython/pubmed1.xml").read_bytes()
    xml = xml.replace(b"</PubmedArticle><PubmedArticle>",
                      b"</PubmedArticle>" + BOOK.encode() + b"<PubmedArticle>")
    records = pubmed.parse_efetch_records(xml)
    assert [r.source_id for r in records] == ["12091962", "99000001", "9997"]
    book = records[1]
    assert book.raw == BOOK
    assert book.study.title == "Ketamine & depression: an example chapter"
    assert book.study.journal == "Example Reviews®"
    assert book.study.authors == ["Doe J"]
    assert parse_one(book.raw) == book.study


def test_an_empty_article_set_is_no_records():
    xml = (FIXTURES / "pubmed_metapub/37909814.xml").read_bytes()
    assert pubmed.parse_efetch_records(xml) == []


def _truncated() -> bytes:
    xml = (FIXTURES / "biopython/pubmed4.xml").read_bytes()
    return xml[: len(xml) // 2]


def _error_in_article_set() -> bytes:
    # An <ERROR> among the records is not a DTD element: skipping it would hide the failure.
    xml = (FIXTURES / "biopython/pubmed1.xml").read_bytes()
    return xml.replace(b"<PubmedArticleSet>",
                       b"<PubmedArticleSet><ERROR>Backend search failed</ERROR>", 1)


@pytest.mark.parametrize("body, message", [
    (_truncated(), "malformed or truncated XML"),
    ((FIXTURES / "biopython/pubmed3.html").read_bytes(), "not XML"),
    ((FIXTURES / "biopython/esummary8.xml").read_bytes(),
     "E-utilities error: Neither query_key nor id specified"),
    ((FIXTURES / "biopython/epost2.xml").read_bytes(),
     "E-utilities error: Invalid db name specified"),
    (b"  \n", "empty response body"),
    ((FIXTURES / "biopython/esearch1.xml").read_bytes(), "not a PubmedArticleSet"),
    (_error_in_article_set(), "E-utilities error: Backend search failed"),
], ids=["truncated", "html", "esummary-error", "epost-error", "empty", "esearch", "set-error"])
def test_an_unusable_answer_as_a_whole_is_one_parse_error(body, message):
    with pytest.raises(ParseError) as caught:
        pubmed.parse_efetch_records(body)
    assert str(caught.value).startswith("PubMed efetch: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unknown_pubmed_dtd_is_pinned_and_nothing_is_downloaded(monkeypatch):
    def refuse(url, *args, **kwargs):
        raise AssertionError(f"Biopython tried to download {url}")

    monkeypatch.setattr(bio_parser, "urlopen", refuse)  # Biopython's network, not ours
    xml = (FIXTURES / "biopython/pubmed1.xml").read_bytes().replace(
        b"pubmed_250101.dtd", b"pubmed_990101.dtd")
    with pytest.raises(AssertionError, match="pubmed_990101.dtd"):  # left alone, it would
        Entrez.read(io.BytesIO(xml))

    records = pubmed.parse_efetch_records(xml)
    assert [r.source_id for r in records] == ["12091962", "9997"]
    assert [parse_one(r.raw) for r in records] == [r.study for r in records]
    with pytest.raises(ParseError, match="does not bundle"):
        pubmed.parse_efetch_records(xml.replace(b"pubmed_990101.dtd", b"other_1.dtd"))


def test_a_stored_raw_that_is_not_one_record_is_a_parse_error():
    with pytest.raises(ParseError, match="PubMed records: malformed or truncated XML"):
        parse_one("<PubmedArticle><MedlineCitation>")
    with pytest.raises(ParseError, match="expected one <PubmedArticle>"):
        parse_one("")


@pytest.mark.hostile
@pytest.mark.parametrize("pmid", ["", "  ", "n/a"])
def test_a_record_whose_pmid_is_blank_fails_alone_instead_of_being_stored_without_one(pmid):
    """Two such records would otherwise share the id "" and overwrite each other."""
    element = editable_record()
    element.find("MedlineCitation/PMID").text = pmid
    for node in element.findall("PubmedData/ArticleIdList/ArticleId"):
        if node.get("IdType") == "pubmed":
            node.text = ""
    middle = batch_with(element)[1]
    assert middle.study is None
    assert middle.error.startswith(f"PubMed record {pmid.strip() or '#2 (no PMID)'}: ")
    assert "PMID" in middle.error.split(": ", 1)[1]


@pytest.mark.hostile
def test_a_mesh_heading_without_its_descriptor_does_not_lose_the_record():
    element = editable_record()
    heading = element.find("MedlineCitation/MeshHeadingList/MeshHeading")
    heading.remove(heading.find("DescriptorName"))
    middle = batch_with(element)[1]
    assert middle.error is None and middle.study is not None
    assert all(middle.study.mesh_terms) and middle.study.mesh_terms
    assert all(h["descriptor"] for h in middle.study.details["mesh"])


@pytest.mark.hostile
@pytest.mark.parametrize("day, month", [("1st", "7"), ("31", "2"), ("0", "7"), ("12", "Foo")])
def test_an_unreadable_entry_date_does_not_lose_the_record_or_store_a_false_date(day, month):
    element = editable_record()
    for node in element.findall("PubmedData/History/PubMedPubDate"):
        node.find("Day").text, node.find("Month").text = day, month
    middle = batch_with(element)[1]
    assert middle.error is None and middle.study is not None
    assert middle.study.entry_date is None


@pytest.mark.hostile
def test_a_control_character_in_one_record_does_not_fail_the_whole_answer():
    """XML forbids raw control characters, so one in a single abstract (pasted from a PDF)
    made the whole efetch answer unreadable: every run failed on the same batch."""
    element = editable_record()
    text = element.find("MedlineCitation/Article/Abstract/AbstractText")
    text.text = "Dose\x0bresponse\x01 data."
    raws = [ET.tostring(e, encoding="unicode") for e in (OTHER, element, OTHER)]
    xml = pubmed._article_set(raws)
    assert b"\x0b" in xml and b"\x01" in xml
    records = pubmed.parse_efetch_records(xml)
    assert [r.error for r in records] == [None, None, None]
    assert "Dose response data." in records[1].study.abstract
    assert parse_one(records[1].raw) == records[1].study


def test_a_repeated_single_element_is_read_as_biopython_read_it_the_last_one():
    """Biopython stored an element the DTD allows once in a dictionary: a repeat overwrote it."""
    article = editable_record()
    citation = article.find("MedlineCitation")
    art = citation.find("Article")
    art.insert(list(art).index(art.find("ArticleTitle")), ET.fromstring(
        "<ArticleTitle>First</ArticleTitle>"))
    journal = art.find("Journal")
    art.insert(list(art).index(journal), ET.fromstring("<Journal><Title>J0</Title></Journal>"))
    art.insert(list(art).index(art.find("AuthorList")), ET.fromstring(
        "<AuthorList><Author><LastName>Earlier</LastName></Author></AuthorList>"))
    issue = journal.find("JournalIssue")
    issue.insert(list(issue).index(issue.find("PubDate")), ET.fromstring(
        "<PubDate><Year>1999</Year></PubDate>"))
    data = article.find("PubmedData")
    data.insert(list(data).index(data.find("ArticleIdList")), ET.fromstring(
        '<ArticleIdList><ArticleId IdType="doi">10.1/x</ArticleId></ArticleIdList>'))
    study = parse_one(ET.tostring(article, encoding="unicode"))

    assert study.title.startswith("Exploring the effect of vitamin D")
    assert (study.journal, study.published, study.year) == ("Mult Scler", "2018 Sep", 2018)
    assert study.authors[0] == "Rolf L"
    assert study.ids["pmcid"] == "PMC6108041"


def test_a_named_entity_in_an_attribute_is_resolved_as_in_text():
    article = editable_record()
    article.find("MedlineCitation/Article/Abstract/AbstractText").set("Label", "LABEL_MARK")
    raw = ET.tostring(article, encoding="unicode").replace("LABEL_MARK", "&alpha; &amp; b")
    study = parse_one(raw)

    assert study.details["abstract_sections"][0]["label"] == "α & b"
    assert study.abstract.startswith("Α & B: ")


def test_a_token_attribute_with_spaces_is_read_trimmed_as_expat_did_with_the_dtd():
    article = editable_record()
    for article_id in article.iterfind("PubmedData/ArticleIdList/ArticleId"):
        article_id.set("IdType", f"  {article_id.get('IdType')} ")
    study = parse_one(ET.tostring(article, encoding="unicode"))

    assert study.ids == {"doi": "10.1177/1352458517722646", "pmcid": "PMC6108041",
                         "pmid": "28731372"}
