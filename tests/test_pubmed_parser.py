"""Every real PubMed record in the fixtures parses into the right PMID, full title text (inline
markup never truncates it), DOI and publication types; E-utilities error bodies and broken XML
become one-line ParseErrors; no DTD is ever downloaded. Per-record behaviour (raw XML, one bad
record failing alone) is in test_pubmed_records.py."""

from __future__ import annotations

import socket

import pytest

from tests.helpers import FIXTURES, PUBMED_FILES
from tests.helpers.pubmed import studies_of
from watcher.errors import ParseError
from watcher.parsers import pubmed
from watcher.parsers.pubmed_study import clean_text

# pmid: (title start, title end, doi, publication types that must be present)
EXPECTED = {
    "12091962": ("The treatment of AIDS behind", "correctional facilities.", None, ["Review"]),
    "9997": ("Magnetic studies of Chromatium", "heme-flavin interaction.",
             "10.1016/0005-2795(76)90109-4", ["Journal Article"]),
    "11748933": ("Is cryopreservation a homogeneous process?", "Diplodus puntazzo (Cetti).",
                 "10.1006/cryo.2001.2328", ["Journal Article"]),
    "11700088": ("Proton MRI of (13)C distribution", "chemical shift editing.",
                 "10.1006/jmre.2001.2429", ["Journal Article"]),
    "27797938": ("Leucocyte telomere length, genetic variants at the TERT gene region",
                 "risk of pancreatic cancer.", "10.1136/gutjnl-2016-312510",
                 ["Observational Study"]),
    "28775130": ("Occupational pesticide exposure", "pesticide applicators.",
                 "10.1136/oemed-2017-104431", ["Journal Article"]),
    "30108519": ('A "Blood Relationship" Between the Overlooked Minimum Lactate Equivalent',
                 "Back to the Old Days?", "10.3389/fphys.2018.01034", ["Journal Article"]),
    "29963580": ("Development of a pulmonary imaging biomarker pipeline",
                 "chronic lung disease.", "10.1117/1.jmi.5.2.026002", ["Journal Article"]),
    "28731372": ("Exploring the effect of vitamin D₃ supplementation",
                 "relapsing-remitting multiple sclerosis.", "10.1177/1352458517722646",
                 ["Randomized Controlled Trial"]),
    "34529508": ("Public Health Responses to Pandemics", "1918 and 2020.",
                 "10.2105/ajph.2021.306453", ["Editorial", "Comment"]),
    "35649368": ("Fatty acid oxidation protects cancer cells", "membrane lipids.",
                 "10.1016/j.celrep.2022.110870", ["Journal Article"]),
    "35830032": ("SAFETY OF LONG-TERM PROTON PUMP INHIBITORS", "FACTS AND MYTHS.",
                 "10.1590/s0004-2803.202202000-40", ["Meta-Analysis", "Review"]),
    "36318760": ("Thyroid storm in pediatrics", "a systematic review.",
                 "10.1515/jpem-2022-0309", ["Systematic Review"]),
    "38011560": ("Ketamine and the neurobiology of depression",
                 "rapid-acting antidepressant treatments.", "10.1073/pnas.2305772120",
                 ["Review"]),
    "38147649": ("Social anxiety disorder-associated gut microbiota", "social fear.",
                 "10.1073/pnas.2308706120", ["Journal Article"]),
    "38833988": ("Corrigendum to \"MageC2 protein", None, "10.1016/j.bbamcr.2024.119767",
                 ["Published Erratum"]),
    "38914053": ("Doped SnO₂", "incorporation of niobium atoms.", "10.1088/1361-6528/ad5afd",
                 ["Journal Article"]),
    "38962805": ("Correction.", "Correction.", "10.1080/09540121.2024.2374185",
                 ["Published Erratum"]),
    "29768149": ("Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma.",
                 "Mild Asthma.", "10.1056/nejmoa1715274",
                 ["Clinical Trial, Phase III", "Randomized Controlled Trial"]),
}


def all_fixture_studies():
    studies = {}
    for path in PUBMED_FILES:
        for study in studies_of(path.read_bytes()):
            studies[study.ids["pmid"]] = study
    return studies


def test_every_fixture_record_parses_with_its_own_ids_title_and_types():
    studies = all_fixture_studies()
    assert set(studies) == set(EXPECTED)
    for pmid, (start, end, doi, types) in EXPECTED.items():
        study = studies[pmid]
        assert study.title.startswith(start), (pmid, study.title)
        if end:
            assert study.title.endswith(end), (pmid, study.title)
        assert "<" not in study.title, "inline markup must become text"
        assert study.ids.get("doi") == doi, pmid
        for wanted in types:
            assert wanted in study.publication_types, (pmid, study.publication_types)
        assert study.url == f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
        assert study.entry_date and len(study.entry_date) == 10


def test_own_ids_come_from_article_id_list_not_the_reference_list():
    # pubmed7.xml and 38011560.xml cite dozens of papers with their own PMIDs and DOIs.
    studies = all_fixture_studies()
    assert studies["29963580"].ids == {"pmid": "29963580", "doi": "10.1117/1.jmi.5.2.026002",
                                       "pmcid": "PMC6022861"}
    assert studies["38011560"].ids["pmcid"] == "PMC10710048"


def test_dates_with_seasons_ranges_and_entry_dates():
    studies = all_fixture_studies()
    assert studies["12091962"].published == "1990 Spring"
    assert studies["35830032"].published == "2022 Apr-Jun"
    assert studies["38011560"].published == "2023 Dec 5"
    assert studies["38011560"].entry_date == "2023-11-27"  # entrez, not the medline date


def test_medline_date_is_kept_as_text_with_its_year():
    xml = (FIXTURES / "pubmed_metapub/35830032.xml").read_bytes()
    original = b"<PubDate><Year>2022</Year><Season>Apr-Jun</Season></PubDate>"
    assert original in xml
    xml = xml.replace(original, b"<PubDate><MedlineDate>1998 Dec-1999 Jan</MedlineDate></PubDate>")
    study = studies_of(xml)[0]
    assert study.published == "1998 Dec-1999 Jan"
    assert study.year == 1998


def test_structured_abstracts_keep_labels_and_sub_markup():
    study = all_fixture_studies()["29768149"]
    assert study.abstract.startswith("BACKGROUND: In patients with mild asthma")
    assert "β₂-agonist" in study.abstract
    assert "\nMETHODS: " in study.abstract
    assert study.authors[:2] == ["O'Byrne PM", "FitzGerald JM"]
    assert study.journal == "N Engl J Med"


def test_trial_registry_links_come_from_the_databank_list():
    assert all_fixture_studies()["29768149"].linked_ids == {"nct": ["NCT02149199"]}


def test_non_human_flag_follows_medline_animals_without_humans():
    studies = all_fixture_studies()
    assert studies["11748933"].non_human  # sperm cryopreservation in animals
    assert not studies["29768149"].non_human


def test_empty_article_set_is_an_empty_list():
    xml = (FIXTURES / "pubmed_metapub/37909814.xml").read_bytes()
    assert studies_of(xml) == []


@pytest.mark.parametrize("name, message", [
    ("biopython/esummary8.xml", "Neither query_key nor id specified"),
    ("biopython/epost2.xml", "Invalid db name specified"),
    ("biopython/epost3.xml", "E-utilities error"),
    ("biopython/pubmed3.html", "not XML"),
])
def test_error_bodies_become_one_line_parse_errors(name, message):
    with pytest.raises(ParseError) as caught:
        studies_of((FIXTURES / name).read_bytes())
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_truncated_and_empty_responses_are_parse_errors():
    xml = (FIXTURES / "biopython/pubmed4.xml").read_bytes()
    with pytest.raises(ParseError, match="malformed or truncated"):
        studies_of(xml[: len(xml) // 2])
    with pytest.raises(ParseError, match="empty response"):
        studies_of(b"")
    with pytest.raises(ParseError, match="not a PubmedArticleSet"):
        studies_of((FIXTURES / "biopython/esearch1.xml").read_bytes())


def test_esearch_answers_counts_ids_and_dropped_phrases():
    page = pubmed.parse_esearch((FIXTURES / "biopython/esearch1.xml").read_bytes())
    assert page.count == 63 and len(page.ids) == 20 and page.ids[0] == "41282813"
    paged = pubmed.parse_esearch((FIXTURES / "biopython/esearch3.xml").read_bytes())
    assert paged.count == 2651 and len(paged.ids) == 6
    empty = pubmed.parse_esearch((FIXTURES / "biopython/esearch8.xml").read_bytes())
    assert empty.count == 0 and empty.ids == []
    assert empty.warnings == ["phrase not found: abcXYZ"]
    for name in ("esearch2.xml", "esearch5.xml"):
        assert pubmed.parse_esearch((FIXTURES / "biopython" / name).read_bytes()).count > 0


def test_unknown_dtd_is_pinned_to_a_bundled_one_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the parser tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    xml = (FIXTURES / "biopython/pubmed1.xml").read_bytes().replace(
        b"pubmed_250101.dtd", b"pubmed_270101.dtd")
    studies = studies_of(xml)
    assert [s.ids["pmid"] for s in studies] == ["12091962", "9997"]
    with pytest.raises(ParseError, match="does not bundle"):
        studies_of(xml.replace(b"pubmed_270101.dtd", b"other_1.dtd"))


def test_clean_text_keeps_comparison_signs_and_converts_scripts():
    assert clean_text("p < 0.05 and n > 3") == "p < 0.05 and n > 3"
    assert clean_text("CO<sub>2</sub> and m<sup>2</sup>") == "CO₂ and m²"
    assert clean_text("<i>In vivo</i>  effects\n of <b>X</b>") == "In vivo effects of X"


def test_a_record_missing_its_article_is_left_out_and_named_not_fatal():
    xml = (FIXTURES / "biopython/pubmed1.xml").read_bytes()
    start, end = xml.index(b"<Article "), xml.index(b"</Article>") + len(b"</Article>")
    broken = xml[:start] + xml[end:]
    assert [s.ids["pmid"] for s in studies_of(broken)] == ["9997"]
    bad = pubmed.parse_efetch_records(broken)[0]
    assert bad.source_id == "12091962" and bad.study is None
    assert bad.error.startswith("PubMed record 12091962: unexpected shape")


def test_mathml_formulas_become_their_text_not_markup():
    studies = all_fixture_studies()
    lactate = studies["30108519"].abstract  # pubmed6.xml: maximal oxygen uptake as MathML
    assert "maximal oxygen uptake ( V.O2max ) 67.6" in lactate
    assert "predictor of VMLSS (r = 0.91" in lactate  # a non-digit subscript keeps its space
    imaging = studies["29963580"].abstract  # pubmed7.xml: isotopes as MathML multiscripts
    assert "inhaled He3/Xe129MRI ventilation" in imaging
    for abstract in (lactate, imaging):
        assert "<m" not in abstract and "</" not in abstract
    assert clean_text("<math><mi>p</mi> <mo><</mo> <mn>0.05</mn></math>") == "p<0.05"
