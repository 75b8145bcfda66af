"""Hostile upstream data against the PubMed field parser and the inferred design labels: each test
is a defect found by building awkward but plausible records from a real fixture record (or
abstract text as publishers write it) and checking what the team would be shown."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import FIXTURES
from watcher.digest import DigestItem
from watcher.fakes.eutils import records_from_xml
from watcher.labels import infer_design
from watcher.models import Event, Study
from watcher.parsers import pubmed
from watcher.parsers.pubmed_fields import normalize_orcid, registry_ids_in_text
from watcher.render.common import item_labels

#: A real MEDLINE RCT record (PMID 28731372), edited per test as an upstream record could be.
BASE = records_from_xml((FIXTURES / "pubmed_metapub/28731372.xml").read_bytes())[0][1]
HYPHEN = "\u2010"  # the Unicode hyphen publishers (Wiley ...) put into PubMed abstracts


def record() -> ET.Element:
    return copy.deepcopy(BASE)


def parse(element: ET.Element) -> Study:
    return pubmed.parse_record(ET.tostring(element, encoding="unicode"))


# --- Unicode hyphens and digits ----------------------------------------------------------------

@pytest.mark.parametrize("title, abstract", [
    (f"Non{HYPHEN}randomized comparison of two dressings",
     f"This non{HYPHEN}randomized study compared two dressings in 80 patients."),
    ("Two dressings compared", f"We did a quasi{HYPHEN}randomised study of 80 patients."),
])
def test_a_unicode_hyphen_does_not_turn_non_randomized_into_an_rct(title, abstract):
    assert "RCT" not in infer_design(title, abstract)


@pytest.mark.parametrize("title, abstract, label", [
    (f"Drug X in asthma: a placebo{HYPHEN}controlled trial", "", "placebo-controlled"),
    ("Drug X in asthma", f"METHODS: This was an open{HYPHEN}label study of 20 patients.",
     "open-label"),
    (f"Drug X in asthma: a meta{HYPHEN}analysis", "", "meta-analysis"),
    ("Drug X in asthma", "We performed a meta\u2011analysis of 12 studies.", "meta-analysis"),
])
def test_design_words_written_with_unicode_hyphens_are_recognized(title, abstract, label):
    assert label in infer_design(title, abstract)


@pytest.mark.parametrize("text, scheme, expected", [
    (f"Registered at ChiCTR{HYPHEN}IOR{HYPHEN}17012345.", "chictr", "ChiCTR-IOR-17012345"),
    (f"EudraCT 2017{HYPHEN}001234{HYPHEN}56.", "eudract", "2017-001234-56"),
    ("EudraCT number 2017\u2013001234\u201356.", "eudract", "2017-001234-56"),
    (f"CTIS 2022{HYPHEN}500123{HYPHEN}45{HYPHEN}00.", "ctis", "2022-500123-45-00"),
])
def test_registry_ids_written_with_unicode_dashes_are_found_in_ascii_form(text, scheme, expected):
    assert registry_ids_in_text(text).get(scheme) == [expected]


def test_registry_ids_never_keep_non_ascii_digits():
    """Python's \\d matches any script's digits: a full-width NCT number must not be stored as
    'NCT０１２３４５６７', which matches no registry record."""
    assert registry_ids_in_text("試験登録: NCT０１２３４５６７。") == {"nct": ["NCT01234567"]}
    assert registry_ids_in_text("NCT٠١٢٣٤٥٦٧ and DRKS٠٠٠١٢٣٤٥") == {}


@pytest.mark.parametrize("text", ["NCT 01234567", "NCT-01234567", "NCT: 01234567",
                                  "ClinicalTrials.gov (NCT01234567)"])
def test_an_nct_number_written_with_a_separator_is_found(text):
    assert registry_ids_in_text(text) == {"nct": ["NCT01234567"]}


def test_a_spaced_nct_accession_in_the_databank_list_is_normalized():
    element = record()
    article = element.find("MedlineCitation/Article")
    banks = ET.fromstring(
        "<DataBankList CompleteYN='Y'><DataBank><DataBankName>ClinicalTrials.gov</DataBankName>"
        "<AccessionNumberList><AccessionNumber>nct 02149199</AccessionNumber>"
        "</AccessionNumberList></DataBank><DataBank><DataBankName>ISRCTN</DataBankName>"
        "<AccessionNumberList><AccessionNumber>ISRCTN12345678</AccessionNumber>"
        "</AccessionNumberList></DataBank></DataBankList>")
    article.insert(list(article).index(article.find("Language")) + 1, banks)
    study = parse(element)
    assert study.linked_ids["nct"] == ["NCT02149199"]
    assert study.linked_ids["isrctn"] == ["ISRCTN12345678"]


# --- ORCID ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0000 0002 4590 7461", "https://orcid.org/0000 0002 4590 7461"])
def test_an_orcid_written_with_spaces_is_kept(value):
    assert normalize_orcid(value) == "0000-0002-4590-7461"


@pytest.mark.parametrize("value", ["0000-0002-4590-7462", "https://orcid.org/0000-0002-1694-2330",
                                   "0000-0002-1825-009X"])
def test_an_orcid_with_a_wrong_check_digit_is_dropped_not_linked(value):
    assert normalize_orcid(value) == ""


def test_an_invalid_orcid_in_a_record_leaves_the_author_without_one():
    element = record()
    author = element.find("MedlineCitation/Article/AuthorList/Author")
    ET.SubElement(author, "Identifier", Source="ORCID").text = "https://orcid.org/0000-0002-4590-7462"
    study = parse(element)
    assert study.details["author_list"][0]["orcid"] == ""
    assert study.details["author_list"][0]["last_name"] == author.findtext("LastName")


# --- label false positives ----------------------------------------------------------------------

@pytest.mark.parametrize("title", [
    "Completeness of case report forms in multicentre trials",
    "Electronic case report form design: lessons from 40 studies",
])
def test_case_report_forms_are_not_case_reports(title):
    assert "case report" not in infer_design(title, "We audited 4000 forms from 40 trials.")


@pytest.mark.parametrize("title", [
    "Study protocol amendments in 300 oncology trials: a cohort analysis",
    "Trial protocol deviations and their reporting in surgical trials",
])
def test_protocol_amendments_and_deviations_are_not_protocols(title):
    assert "protocol" not in infer_design(title, "We analysed 500 trials.")


def test_a_real_case_report_and_protocol_are_still_labelled():
    assert "case report" in infer_design("Pneumothorax after ketamine: a case report", "")
    assert "protocol" in infer_design("Ketamine for depression: study protocol for a trial", "")


# --- titles -------------------------------------------------------------------------------------

def test_a_not_available_title_falls_back_to_the_vernacular_title():
    """MEDLINE writes "[Not Available]." when an article has no English title; the original
    language title is what the reader can use."""
    element = record()
    article = element.find("MedlineCitation/Article")
    title = article.find("ArticleTitle")
    for child in list(title):  # the real title has <sub> markup
        title.remove(child)
    title.text = "[Not Available]."
    vernacular = ET.Element("VernacularTitle")
    vernacular.text = "Ketamin bei therapieresistenter Depression"
    article.insert(list(article).index(article.find("PublicationTypeList")) + 1, vernacular)
    assert parse(element).title == "Ketamin bei therapieresistenter Depression"


@pytest.mark.parametrize("title", [
    "Implementation of a protocol for the prevention of delirium in ICU patients",
    "A standardized anaesthesia protocol for the reduction of PONV after day surgery",
])
def test_a_clinical_care_protocol_is_not_a_study_protocol(title):
    assert "protocol" not in infer_design(title, "We audited 400 patients before and after.")


def test_an_open_label_extension_of_a_randomized_trial_is_not_itself_an_rct():
    title = "Long-term esketamine in depression: a 52-week open-label extension study"
    abstract = ("METHODS: Patients who completed the parent randomized trial were enrolled and "
                "all received esketamine. RESULTS: 100 patients took part.")
    assert infer_design(title, abstract) == ["open-label"]
    # ... while a randomized trial with an extension phase still is one
    assert "RCT" in infer_design("Esketamine in depression: a randomized trial",
                                 "An open-label extension followed.")


# --- broken record shapes: fail alone, or keep the record when only a minor field is bad -------

OTHER = records_from_xml((FIXTURES / "pubmed_metapub/36318760.xml").read_bytes())[0][1]


def batch_with(element: ET.Element) -> list[pubmed.ParsedRecord]:
    """The edited record between two good real ones, as one efetch answer."""
    raws = [ET.tostring(e, encoding="unicode") for e in (OTHER, element, OTHER)]
    records = pubmed.parse_efetch_records(pubmed._article_set(raws))
    assert [r.error for r in (records[0], records[2])] == [None, None]
    return records


@pytest.mark.parametrize("pmid", ["", "  ", "n/a"])
def test_a_record_whose_pmid_is_blank_fails_alone_instead_of_being_stored_without_one(pmid):
    """Two such records would otherwise share the id "" and overwrite each other."""
    element = record()
    element.find("MedlineCitation/PMID").text = pmid
    for node in element.findall("PubmedData/ArticleIdList/ArticleId"):
        if node.get("IdType") == "pubmed":
            node.text = ""
    middle = batch_with(element)[1]
    assert middle.study is None
    assert middle.error.startswith(f"PubMed record {pmid.strip() or '#2 (no PMID)'}: ")
    assert "PMID" in middle.error.split(": ", 1)[1]


def test_a_mesh_heading_without_its_descriptor_does_not_lose_the_record():
    element = record()
    heading = element.find("MedlineCitation/MeshHeadingList/MeshHeading")
    heading.remove(heading.find("DescriptorName"))
    middle = batch_with(element)[1]
    assert middle.error is None and middle.study is not None
    assert all(middle.study.mesh_terms) and middle.study.mesh_terms
    assert all(h["descriptor"] for h in middle.study.details["mesh"])


@pytest.mark.parametrize("day, month", [("1st", "7"), ("31", "2"), ("0", "7"), ("12", "Foo")])
def test_an_unreadable_entry_date_does_not_lose_the_record_or_store_a_false_date(day, month):
    element = record()
    for node in element.findall("PubmedData/History/PubMedPubDate"):
        node.find("Day").text, node.find("Month").text = day, month
    middle = batch_with(element)[1]
    assert middle.error is None and middle.study is not None
    assert middle.study.entry_date is None


def test_a_control_character_in_one_record_does_not_fail_the_whole_answer():
    """XML forbids raw control characters, so one in a single abstract (pasted from a PDF)
    made the whole efetch answer unreadable: every run failed on the same batch."""
    element = record()
    text = element.find("MedlineCitation/Article/Abstract/AbstractText")
    text.text = "Dose\x0bresponse\x01 data."
    raws = [ET.tostring(e, encoding="unicode") for e in (OTHER, element, OTHER)]
    xml = pubmed._article_set(raws)
    assert b"\x0b" in xml and b"\x01" in xml
    records = pubmed.parse_efetch_records(xml)
    assert [r.error for r in records] == [None, None, None]
    assert "Dose response data." in records[1].study.abstract
    assert pubmed.parse_record(records[1].raw) == records[1].study


def test_medline_veterinary_trial_types_keep_their_design_label():
    """MEDLINE indexes animal trials as "Randomized Controlled Trial, Veterinary": once it does,
    the inferred RCT is dropped, so the real type must show, or the trial loses its label."""
    study = Study("pubmed", "publication", {"pmid": "1"},
                  "Meloxicam for osteoarthritis in dogs: a randomized controlled trial",
                  publication_types=["Journal Article", "Randomized Controlled Trial, Veterinary"])
    labels = item_labels(DigestItem(Event("new:1", "new", 1), study, ["Everything"], [], 1))
    assert "RCT" in labels and not any("inferred" in label for label in labels)


@pytest.mark.parametrize("text", [
    "EudraCT numbers 2012-000123-12 and 2013-000456-34.",
    "EudraCT: 2012-000123-12, 2013-000456-34",
    "(EudraCT 2012-000123-12 / 2013-000456-34)",
])
def test_every_eudract_number_listed_after_the_register_name_is_kept(text):
    assert registry_ids_in_text(text) == {"eudract": ["2012-000123-12", "2013-000456-34"]}


def test_numbers_that_merely_follow_a_eudract_number_are_not_taken():
    text = "EudraCT 2012-000123-12. Funded by grant 2013-000456-34 and 2014-000789-56."
    assert registry_ids_in_text(text) == {"eudract": ["2012-000123-12"]}


@pytest.mark.parametrize("abstract", [
    "Patients were not randomly assigned to treatment groups. We compared outcomes.",
    "Because patients could not be randomly allocated to surgery, we used propensity scores.",
    "Patients were quasi-randomly assigned to A or B by date of birth.",
    "Wards were pseudo-randomly allocated to the intervention.",
    "We emulated a randomized trial of A versus B using registry data.",
])
def test_negated_quasi_or_emulated_randomization_is_not_an_rct(abstract):
    assert "RCT" not in infer_design("Outcomes of A versus B in 400 patients", abstract)
