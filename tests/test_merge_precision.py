"""Merge precision on the labelled set (benchmarks/merge_pairs/pairs.jsonl): no two studies
are ever made one.

Every pair goes through benchmarks/bench_merge.py's own code (each record parsed by its
source's parser and kept by the poll's ``keep``, look-up links applied by the identity core,
each pair in a fresh database), so what this asserts is what the benchmark reports. A false
join is the defect the team cannot forgive: an alert for one study silenced because another
took its place. Recall (true pairs joined) is reported in the failure message and recorded in
benchmarks/README.md; it is not asserted here.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from benchmarks.bench_merge import SET, Measurement, load_pairs, measure, report


@pytest.fixture(scope="module")
def measurement() -> Measurement:
    return measure()


def test_the_set_is_labelled_and_covers_every_hard_case():
    pairs = load_pairs()
    assert len(pairs) >= 200
    assert len({p["id"] for p in pairs}) == len(pairs)
    for pair in pairs:
        assert isinstance(pair["same"], bool) and pair["reason"].strip(), pair["id"]
        assert "\n" not in pair["reason"], pair["id"]
    truth = Counter((p["category"], p["same"]) for p in pairs)
    for category, same in [
        ("pubmed_and_europepmc_med", True), ("trial_in_two_registries", True),
        ("preprint_published_loader", True), ("preprint_published_biorxiv", True),
        ("preprint_published_crossref", True), ("guessed_link_same_title", True),
        ("guessed_link_changed_title", True), ("paper_reports_trial", False),
        ("ptsd_trials_same_group", False), ("ptsd_papers_same_group", False),
        ("protocol_and_results", False), ("erratum_shares_doi", False),
        ("correction_notice", False), ("two_different_preprints", False),
        ("preprint_two_versions", True), ("same_title_different_year", False),
        ("same_title_different_first_author", False), ("guessed_link_wrong", False),
        ("malformed_doi", False), ("no_ids", False),
    ]:
        assert truth[(category, same)] >= 4, category
    # a changed title behind an authoritative link is part of the set, not only easy pairs
    changed = [p for p in pairs if p["category"] == "preprint_published_loader"
               and "changed the title" in p["reason"]]
    assert len(changed) >= 5


def test_no_two_studies_are_ever_joined(measurement: Measurement):
    total = measurement.total
    figures = json.dumps(total.to_dict())
    assert total.fp == 0, (
        f"false joins on the labelled set ({SET.name}): precision {total.precision:.3f}, "
        f"recall {total.recall}; {figures}\n{report(measurement)}")
    # the set's pairs of sources every branch can read are always measured, never skipped
    measured = total.tp + total.fn + total.tn + total.fp
    assert measured >= 80, f"only {measured} pairs measured: {figures}"


def test_every_record_of_the_set_is_read_by_its_parser(measurement: Measurement):
    """A pair only measures joining if both records were read: an unreadable payload would
    count as 'not joined' and hide a false join."""
    assert [(o.id, o.errors) for o in measurement.outcomes if o.errors] == []


def test_records_sharing_an_id_are_one_study(measurement: Measurement):
    """The baseline the rest builds on: a trial in two registries naming each other's id is
    joined every time, whichever arrived first."""
    figures = measurement.categories["trial_in_two_registries"]
    assert (figures.tp, figures.fn) == (15, 0), report(measurement)
