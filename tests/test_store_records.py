"""Storing parsed PubMed records as a poll does (``save_record`` with the payload as the parser
holds it, compressed): the exact text is kept, a changed record is told with its previous
version, a record sharing an id joins its study, and an id another study owns is a conflict."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from tests.helpers import FIXTURES
from tests.helpers.pubmed import BASE, editable_record
from watcher.db import Store
from watcher.models import SourceRecord, Study
from watcher.parsers import pubmed

NOW = "2026-12-06T00:00:00+00:00"


def parsed(article: ET.Element) -> SourceRecord:
    (record,) = pubmed.parse_efetch_records(
        pubmed._article_set([ET.tostring(article, encoding="unicode")]))
    assert record.study is not None, record.error
    return record


def keep(store: Store, record: SourceRecord, now: str = NOW):
    return store.save_record("pubmed", record.source_id, record.packed, record.study, now,
                             modified=record.modified, parse_error=record.error)


def with_title(article: ET.Element, title: str) -> ET.Element:
    article.find("MedlineCitation/Article/ArticleTitle").text = title
    for child in list(article.find("MedlineCitation/Article/ArticleTitle")):
        article.find("MedlineCitation/Article/ArticleTitle").remove(child)
    return article


def test_a_parsed_record_is_kept_exactly_and_its_study_stored_from_it(tmp_path):
    xml = (FIXTURES / "pubmed_metapub/38011560.xml").read_bytes()
    (record,) = pubmed.parse_efetch_records(xml)
    store = Store(tmp_path / "w.db")
    with store.transaction():
        saved = keep(store, record)

    assert saved.new_record and saved.new_study and saved.conflicts == []
    (kept,) = store.records("pubmed")
    assert kept["payload"] == record.raw  # every byte of the record as it arrived
    assert kept["content_hash"] == record.packed.digest
    # the parsed text is the one earlier versions wrote: a record fetched again unchanged is
    # not taken for a changed one
    assert kept["parsed"] == json.dumps(record.study.to_dict())
    study = store.get_study(saved.study_id)
    assert (study.title, study.abstract, study.authors, study.details, study.linked_ids) == (
        record.study.title, record.study.abstract, record.study.authors,
        record.study.details, record.study.linked_ids)
    with store.transaction():
        again = keep(store, record, "2026-12-07T00:00:00+00:00")
    assert (again.changed, again.new_study, again.study_id) == (False, False, saved.study_id)
    assert store.records("pubmed")[0]["fetched"] == "2026-12-07T00:00:00+00:00"


def test_a_changed_record_is_told_with_its_previous_version_and_the_merged_view_follows(
        tmp_path):
    store = Store(tmp_path / "w.db")
    first = parsed(with_title(editable_record(), "First title"))
    other_source = Study("europepmc", "publication", {"pmid": first.study.ids["pmid"]},
                         "Europe PMC's title", abstract="", journal="")
    second = parsed(with_title(editable_record(), "Corrected title"))
    with store.transaction():
        a = keep(store, first)
        joined = store.save_record("europepmc", "MED:1", "{}", other_source, NOW)
        b = keep(store, second, "2026-12-07T00:00:00+00:00")

    assert (joined.study_id, joined.new_study) == (a.study_id, False)
    assert b.changed and not b.new_study and b.study_id == a.study_id
    assert b.previous.title == "First title"
    assert store.get_study(a.study_id).title == "Corrected title"  # PubMed's, the newest
    history = [h for h in store.record_history(a.study_id) if h.source == "pubmed"]
    assert [h.payload for h in history] == [first.raw, second.raw]


def test_an_id_another_study_owns_is_a_conflict_and_the_record_its_own_study(tmp_path):
    store = Store(tmp_path / "w.db")
    original = parsed(editable_record())
    duplicate = editable_record()  # the same DOI under another PMID (a duplicate citation)
    duplicate.find("MedlineCitation/PMID").text = "99999991"
    for node in duplicate.findall("PubmedData/ArticleIdList/ArticleId"):
        if node.get("IdType") == "pubmed":
            node.text = "99999991"
    copy = parsed(duplicate)
    doi = original.study.ids["doi"]
    assert copy.study.ids["doi"] == doi
    with store.transaction():
        a = keep(store, original)
        b = keep(store, copy)

    pmcid = original.study.ids["pmcid"]  # (the same PMC id too)
    assert b.new_study and b.study_id != a.study_id
    assert sorted(b.conflicts) == [f"doi:{doi}", f"pmcid:{pmcid}"]
    assert sorted((c.scheme, c.value, c.owner_study, c.claimed_by_study)
                  for c in store.id_conflicts()) == [("doi", doi, a.study_id, b.study_id),
                                                     ("pmcid", pmcid, a.study_id, b.study_id)]
    assert store.get_study(a.study_id).ids["doi"] == doi
    assert store.get_study(b.study_id).ids == {"pmid": "99999991"}
    assert BASE.find("MedlineCitation/PMID").text != "99999991"  # (the shared record intact)
