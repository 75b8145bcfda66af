"""Corrections of what was already sent: a retraction (or erratum, expression of concern) of a
delivered study is told once, with its notice; the notice itself is not a new study."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.conftest import FIXTURES, days_ago, renumbered
from watcher.digest import DigestItem
from watcher.parsers.pubmed import parse_efetch
from watcher.render.common import item_labels

EVERYTHING = """\
defaults:
  lookback_days: 30
queries:
  - id: everything
    condition: Everything in the corpus
    sources:
      pubmed:
        terms: all[sb]
"""
STUDY = "99000100"
NOTICE = "99000200"


def _retracted(article: ET.Element, notice: str) -> ET.Element:
    """The same record as PubMed revises it once the study is retracted."""
    types = article.find("MedlineCitation/Article/PublicationTypeList")
    ET.SubElement(types, "PublicationType", {"UI": "D016441"}).text = "Retracted Publication"
    citation = article.find("MedlineCitation")
    comments = ET.Element("CommentsCorrectionsList")
    link = ET.SubElement(comments, "CommentsCorrections", {"RefType": "RetractionIn"})
    ET.SubElement(link, "RefSource").text = "Proc Natl Acad Sci U S A. 2026."
    ET.SubElement(link, "PMID", {"Version": "1"}).text = notice
    mesh = citation.find("MeshHeadingList")
    citation.insert(list(citation).index(mesh) if mesh is not None else len(citation), comments)
    return article


def test_the_parser_exposes_errata_and_the_study_a_notice_corrects():
    study = parse_efetch((FIXTURES / "pubmed_metapub/35649368.xml").read_bytes())[0]
    assert study.details["corrections"][0] | {"source": ""} == {
        "type": "ErratumIn", "pmid": "35767954", "source": ""}
    notice = parse_efetch((FIXTURES / "pubmed_metapub/38962805.xml").read_bytes())[0]
    assert [(c["type"], c["pmid"]) for c in notice.details["corrections"]] == [
        ("ErratumFor", "38446048")]


def test_a_delivered_study_retracted_upstream_is_told_once_with_its_notice(env, server):
    env.write_queries(EVERYTHING)
    source = FIXTURES / "pubmed_metapub/36318760.xml"
    server.add_article(renumbered(source, STUDY), entry_date=days_ago(10))
    first = env.cli("run", "--once")
    assert first.exit_code == 0, first.stderr
    assert f"pubmed.ncbi.nlm.nih.gov/{STUDY}/" in first.stdout

    server.add_article(_retracted(renumbered(source, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    second = env.cli("run", "--once")
    assert second.exit_code == 0, second.stderr
    assert second.stdout.count(f"pubmed.ncbi.nlm.nih.gov/{STUDY}/") == 1
    assert "RETRACTED" in second.stdout, second.stdout
    assert f"pubmed.ncbi.nlm.nih.gov/{NOTICE}/" in second.stdout, "the notice is linked"
    refetched = [c["id"] for c in server.calls("efetch")]
    assert refetched[-1] == STUDY, "only the revised, delivered record was fetched again"

    third = env.cli("run", "--once")
    assert third.exit_code == 0, third.stderr
    assert "RETRACTED" not in third.stdout and f"/{STUDY}/" not in third.stdout
    store = env.store()
    events = store.events_of(store.find_study({"pmid": STUDY}))
    assert [e.kind for e in events] == ["new", "correction"]
    assert events[1].details["notice"] == NOTICE and events[1].details["label"] == "RETRACTED"
    # Slack and email tag items with item_labels: the correction leads with RETRACTED.
    study = store.get_study(events[1].study_id)
    labels = item_labels(DigestItem(events[1], study, ["Everything"], [], 0))
    assert labels[0] == "RETRACTED"


def test_a_notice_for_a_delivered_study_is_a_correction_not_a_new_study(env, server):
    env.write_queries(EVERYTHING)
    server.add_files([FIXTURES / "pubmed_metapub/35649368.xml"], entry_date=days_ago(5))
    assert env.cli("run", "--once").exit_code == 0
    notice = renumbered(FIXTURES / "pubmed_metapub/38962805.xml", NOTICE)
    notice.find(".//CommentsCorrections/PMID").text = "35649368"
    server.add_article(notice, entry_date=days_ago(0))
    second = env.cli("run", "--once")
    assert second.exit_code == 0, second.stderr
    assert "erratum" in second.stdout
    assert "Correction." not in second.stdout, "the notice is not alerted as a study"
    assert second.stdout.count("pubmed.ncbi.nlm.nih.gov/35649368/") == 1
    assert "erratum" not in env.cli("run", "--once").stdout
