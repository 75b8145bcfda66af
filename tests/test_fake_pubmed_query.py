"""The local server's PubMed search evaluator, so tests and the demo exercise real query
syntax (and the shipped queries) rather than a server that returns everything."""

from __future__ import annotations

import pytest

from tests.helpers import ROOT
from watcher import config
from watcher.fakes.eutils import records_from_xml
from watcher.fakes.pubmed_query import Document, document_of, matches

DOC = Document(title="Esketamine for treatment-resistant depression: a randomized trial",
               abstract="Post-traumatic stress was a secondary outcome.",
               mesh=["Depressive Disorder, Treatment-Resistant", "Humans", "Ketamine"],
               major_mesh=["Depressive Disorder, Treatment-Resistant"],
               publication_types=["Randomized Controlled Trial"])


@pytest.mark.parametrize("term, expected", [
    ("esketamin*[tiab]", True),
    ("ketamin*[tiab]", False),  # the wildcard is a prefix: esketamine does not start with it
    ('"Ketamine"[Mesh]', True),
    ('"treatment resistant"[tiab]', True),  # hyphens are word breaks, as in PubMed
    ('"post traumatic stress"[ti]', False),
    ('"post traumatic stress"[tiab]', True),
    ("rats[tiab] OR depression[tiab] AND trial[ti]", True),  # left to right
    ("depression[tiab] AND (rats[tiab] OR mice[tiab])", False),
    ("depression[tiab] NOT Animals[Mesh]", True),
    ('"Randomized Controlled Trial"[pt]', True),
    ('"Ketamine"[Majr]', False),
    ("all[sb]", True),
    ("esketamine depression", True),  # implicit AND
])
def test_pubmed_syntax(term, expected):
    assert matches(term, DOC) is expected


def test_unbalanced_terms_are_errors():
    with pytest.raises(ValueError):
        matches("(depression[tiab]", DOC)


def test_shipped_depression_query_finds_the_real_ketamine_review_and_nothing_else():
    cfg = config.load(ROOT / "queries")
    xml = (ROOT / "tests/fixtures/pubmed_metapub/38011560.xml").read_bytes()
    other = (ROOT / "tests/fixtures/pubmed_metapub/38147649.xml").read_bytes()
    ketamine = document_of(records_from_xml(xml)[0][1])
    anxiety_paper = document_of(records_from_xml(other)[0][1])
    found = [q.id for q in cfg.queries if matches(q.terms_for("pubmed"), ketamine)]
    assert "depression" in found
    assert not [q.id for q in cfg.queries if matches(q.terms_for("pubmed"), anxiety_paper)], \
        "a gut-microbiota paper without ketamine matches no ketamine query"
