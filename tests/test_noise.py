"""The shipped queries on the labelled noise set (benchmarks/noise/records.yaml): every labelled
study alerts its condition, and ketamine's anaesthesia / sedation / emergency literature does
not. A query edit that loses a real study, or lets known noise back in, fails here.

The measurement is benchmarks/bench_noise.py: the real config loader, the real PubMed poll
against the local E-utilities server, and each destination's real digest."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest
from ruamel.yaml import YAML

from benchmarks.bench_noise import Measurement, load_set, measure
from tests.helpers import ROOT

SHIPPED = ROOT / "queries"


@pytest.fixture(scope="module")
def shipped() -> Measurement:
    return measure(SHIPPED)


def test_the_set_covers_every_shipped_condition_with_positives_and_noise(shipped):
    negatives = [e for e in shipped.entries if e.negative]
    assert len(shipped.entries) >= 40 and len(negatives) >= 15
    uncovered = [q for q, figures in shipped.queries.items() if not figures.positives]
    assert not uncovered, f"shipped PubMed queries with no labelled positive: {uncovered}"


def test_every_labelled_study_alerts_its_condition(shipped):
    missed = {q: figures.missed for q, figures in shipped.queries.items() if figures.missed}
    assert not missed, f"labelled studies the shipped queries no longer alert: {missed}"


def test_known_noise_does_not_alert(shipped):
    documented = {(e.pmid, q) for e in shipped.entries for q in e.known_noise}
    alerted = {(pmid, q) for q, figures in shipped.queries.items()
               for pmid in figures.false_alerts}
    assert alerted - documented == set(), "noise alerting a condition"
    assert documented - alerted == set(), "documented noise no longer alerts: update the set"
    assert len(shipped.negatives_alerting) <= 1


def test_excluding_on_anaesthesia_alone_would_lose_a_real_depression_study(tmp_path):
    """The guard this test file exists for: a blunt exclude drops ECT-anaesthesia and
    post-partum depression trials, and the measurement says so."""
    yaml = YAML()
    data = yaml.load((SHIPPED / "ketamine.yaml").read_text(encoding="utf-8"))
    data["queries"] = [q for q in data["queries"] if q["id"] == "depression"]
    data["queries"][0]["sources"]["pubmed"]["exclude"] = "anesthesia[tiab] OR anaesthesia[tiab]"
    folder = tmp_path / "queries"
    folder.mkdir()
    with (folder / "ketamine.yaml").open("w", encoding="utf-8") as out:
        yaml.dump(data, out)
    shutil.copy(SHIPPED / "destinations.yaml", folder)
    entries = [e for e in load_set() if "depression" in e.expect or e.pmid == "91000101"]
    blunt = measure(folder, entries)
    assert {"91000002", "91000003"} <= set(blunt.queries["depression"].missed)


def test_respiratory_depression_is_a_side_effect_not_a_depression_study(shipped):
    """An anaesthesia or sedation paper whose only "depression" is respiratory is no depression
    study; a depression study that reports no respiratory depression still is."""
    def says(entry, words: str) -> bool:
        return words in ET.tostring(entry.article, encoding="unicode").lower()

    side_effect = [e.pmid for e in shipped.entries
                   if e.negative and says(e, "respiratory depression")]
    real = [e.pmid for e in shipped.entries
            if "depression" in e.expect and says(e, "respiratory depression")]
    assert len(side_effect) >= 2 and {"91000006", "91000008"} <= set(real)
    assert [p for p in side_effect if "depression" in shipped.alerted.get(p, ())] == []
    assert all("depression" in shipped.alerted[p] for p in real)
