"""Each study where its specialist looks (issue 17): told in full once, under the condition it
is most about (its primary condition), with a one-line pointer in every other condition it
matched, and every condition's count counting every study that matched it.

The studies are the labelled noise set's records (benchmarks/noise/records.yaml) served as
PubMed XML and read by the real parser, placed with what the SHIPPED queries say each
condition is about."""

from __future__ import annotations

import shutil

import pytest
from ruamel.yaml import YAML

from benchmarks.bench_noise import Entry, Measurement, load_set, measure
from tests.helpers import ROOT
from tests.helpers.ctgov import AACT, ketamine_trial, study
from tests.helpers.pubmed import parse, studies_of
from watcher import config as config_module
from watcher import digest as digest_module
from watcher.db.rows import PendingItem
from watcher.delivery import topics
from watcher.events import NewStudy
from watcher.models import Match, Study
from watcher.parsers import isrctn
from watcher.parsers.clinicaltrials import parse_study
from watcher.parsers.isrctn import parse_search
from watcher.placement import Topic, primary_first
from watcher.render import text

SHIPPED = ROOT / "queries"
CONFIG = config_module.load(SHIPPED)
CONDITIONS = {q.id: q.condition for q in CONFIG.queries}
TOPICS = topics(CONFIG, set(CONDITIONS))
ENTRIES = {entry.pmid: entry for entry in load_set()}
DEPRESSION, OCD = CONDITIONS["depression"], CONDITIONS["ocd"]


def study_of(entry: Entry) -> Study:
    return parse(entry.article)


def built(*studies: tuple[Study, list[str]]) -> digest_module.Digest:
    """The digest of *studies*, each with the ids of the shipped queries it matched."""
    pending = [PendingItem(n, NewStudy.of(n), study, [Match(q, "pubmed") for q in query_ids])
               for n, (study, query_ids) in enumerate(studies, 1)]
    return digest_module.build("team", pending, CONDITIONS, [], generated="2026-12-05T08:00:00",
                               since=None, topics=TOPICS)


def section(digest: digest_module.Digest, name: str) -> digest_module.Section:
    return next(s for s in digest.sections if s.condition == name)


@pytest.fixture(scope="module")
def shipped() -> Measurement:
    return measure(SHIPPED)


def test_every_labelled_study_is_filed_in_full_under_its_own_condition(shipped):
    """On the whole labelled set, polled and digested for real: a study that matched several
    conditions is told in full under the one it is about (the first it is labelled with), not
    under the first in YAML order, which depression would win."""
    several = [e for e in shipped.entries if len(shipped.alerted.get(e.pmid, ())) > 1]
    assert len(several) >= 9, "the set must exercise placement"
    wrong = {e.pmid: (shipped.placed.get(e.pmid), e.expect[0])
             for e in shipped.entries if e.expect and shipped.placed.get(e.pmid) != e.expect[0]}
    assert wrong == {}, "(filed under, about) per PMID"
    assert {shipped.placed[p] for p in ("91000011", "91000020", "91000032")} == {
        "ptsd", "chronic-pain", "suicidal-ideation"}, "the condition the title names first"


def test_a_resistant_ocd_rct_is_filed_under_ocd_with_a_pointer_under_depression(shipped):
    ocd_rct = ENTRIES["91000034"]
    assert shipped.alerted[ocd_rct.pmid] == {"ocd", "depression"}, "it matches both"
    digest = built((study_of(ocd_rct), ["depression", "ocd"]))
    assert [item.study.ids["pmid"] for item in section(digest, OCD).items] == ["91000034"]
    assert section(digest, DEPRESSION).items == []
    assert [p.study.ids["pmid"] for p in section(digest, DEPRESSION).pointers] == ["91000034"]
    assert digest.items[0].conditions == [OCD, DEPRESSION]
    out = text.render(digest)
    assert f"== {DEPRESSION} (1) ==" in out and f"== {OCD} (1) ==" in out
    assert out.count("Ketamine in treatment-resistant obsessive-compulsive disorder") == 2
    assert f"in full under {OCD}" in " ".join(out.split())
    assert out.index(f"== {DEPRESSION}") < out.index("↳ Ketamine in treatment-resistant")


def test_a_resistant_ptsd_trial_is_filed_under_ptsd_with_a_pointer_under_depression(shipped):
    ptsd_rct = ENTRIES["91000036"]
    assert shipped.alerted[ptsd_rct.pmid] == {"ptsd", "depression"}
    digest = built((study_of(ptsd_rct), ["depression", "ptsd"]))
    assert [s.condition for s in digest.sections] == [DEPRESSION, CONDITIONS["ptsd"]]
    assert section(digest, CONDITIONS["ptsd"]).items[0].study.title.startswith(
        "Repeated ketamine infusions for treatment-resistant chronic PTSD")
    assert len(section(digest, DEPRESSION).pointers) == 1
    assert digest.total == 1, "told once"


def test_a_bare_treatment_resistant_would_file_resistant_ocd_under_depression(tmp_path):
    """Why the shipped depression terms no longer search "treatment-resistant" alone: put back,
    it makes a resistant-OCD case series a depression study and wins the tie for the RCT."""
    yaml = YAML()
    data = yaml.load((SHIPPED / "ketamine.yaml").read_text(encoding="utf-8"))
    pubmed = data["queries"][0]["sources"]["pubmed"]
    assert "treatment-resistant\"[tiab] OR" not in pubmed["terms"]
    pubmed["terms"] += ' OR "treatment-resistant"[tiab]'
    folder = tmp_path / "queries"
    folder.mkdir()
    with (folder / "ketamine.yaml").open("w", encoding="utf-8") as out:
        yaml.dump(data, out)
    shutil.copy(SHIPPED / "destinations.yaml", folder)
    broad = measure(folder, [ENTRIES["91000034"], ENTRIES["91000035"]])
    assert broad.queries["depression"].false_alerts == ["91000035"]
    assert broad.placed == {"91000034": "depression", "91000035": "depression"}


def test_counts_count_every_match_and_pointers_come_strongest_first():
    """Suicidal ideation matched four studies, each about something else: its count is 4 and
    it lists the four, the RCT before the case report, each pointing to its own section."""
    picked = [ENTRIES[p] for p in ("91000006", "91000032", "91000029", "91000022")]
    suicidal = CONDITIONS["suicidal-ideation"]
    digest = built((study_of(picked[0]), ["depression", "suicidal-ideation"]),
                   (study_of(picked[2]), ["depression", "adhd", "suicidal-ideation"]),
                   (study_of(picked[3]), ["ocd", "suicidal-ideation"]),
                   (study_of(picked[1]), ["depression", "suicidal-ideation"]))
    counts = {s.condition: s.matched for s in digest.sections}
    assert counts == {DEPRESSION: 3, OCD: 1, CONDITIONS["adhd"]: 1, suicidal: 4}
    assert digest.total == 4
    told = section(digest, suicidal)
    assert [i.study.ids["pmid"] for i in told.items] == ["91000032"]
    assert [p.study.ids["pmid"] for p in told.pointers][-1] == "91000022", "case report last"
    assert f"== {suicidal} (4) ==" in text.render(digest)


def test_items_whose_queries_were_removed_stay_under_other_and_ties_go_by_yaml_order():
    bare = Study("pubmed", "publication", {"pmid": "1"}, "Ketamine in clinical practice")
    removed = Study("pubmed", "publication", {"pmid": "2"}, "Ketamine and obsessive-compulsive "
                    "disorder")
    digest = built((bare, ["ocd", "depression"]), (removed, ["gone"]))
    assert [s.condition for s in digest.sections] == [DEPRESSION, OCD, "Other"]
    assert digest.sections[0].items[0].conditions == [DEPRESSION, OCD], "YAML order breaks a tie"
    assert section(digest, OCD).pointers[0].study.ids["pmid"] == "1"
    assert section(digest, "Other").items[0].study.ids["pmid"] == "2"


def test_what_a_condition_is_about_comes_from_its_own_query():
    depression = TOPICS["depression"]
    assert depression.mentions("treatment-resistant obsessive-compulsive disorder") == 0
    assert depression.mentions("Treatment-resistant depression and bipolar disorder") == 2
    assert depression.covers_heading("Depressive Disorder, Treatment-Resistant")
    assert not TOPICS["anxiety"].covers_heading("Obsessive-Compulsive Disorder")
    assert TOPICS["suicidal-ideation"].mentions("homicidal ideation") == 0, "a phrase, not words"
    excluded = Topic.of("X", ['pain[tiab] NOT (anaesthesia[tiab] OR sedation[tiab]) OR "a b"'])
    assert excluded.mentions("anaesthesia and sedation") == 0, "NOT terms are not the condition"
    assert excluded.mentions("pain, A-B") == 2


KRYSTAL = ROOT / "tests" / "fixtures" / "pubmed_metapub" / "38011560.xml"


def test_the_drug_is_no_condition_even_where_a_query_repeats_it():
    """'Ketamine and the neurobiology of depression' (a real record) matched by a depression
    query and an anxiety query whose terms also say ketamine: its title naming the drug first
    must not file it under anxiety. The drug's words come out of a condition's topic when they
    are the query's intervention, and when every candidate condition searches for them."""
    krystal = studies_of(KRYSTAL.read_bytes())[0]
    assert krystal.title.startswith("Ketamine and the neurobiology of depression")
    depression = Topic.of("Depression", ['depressi*[tiab] OR "Depression"[Mesh]'])
    with_drug = Topic.of("Anxiety", ['"social anxiety"[tiab] OR ketamine[tiab]'])
    assert primary_first(krystal, ["Anxiety", "Depression"],
                         {"Anxiety": with_drug, "Depression": depression})[0] == "Anxiety", (
        "without either rule the drug named first wins: the case this guards against")
    anxiety = Topic.of("Anxiety", ['"social anxiety"[tiab] OR ketamine[tiab]'],
                       intervention=['"Ketamine"[Mesh] OR ketamin*[tiab] OR ketamine[tiab]'])
    assert anxiety.mentions("ketamine") == 0 and anxiety.mentions("social anxiety") == 1
    assert primary_first(krystal, ["Anxiety", "Depression"],
                         {"Anxiety": anxiety, "Depression": depression})[0] == "Depression"
    both = {"Anxiety": with_drug,
            "Depression": Topic.of("Depression", ["ketamine[tiab] AND depressi*[tiab]"])}
    assert primary_first(krystal, ["Anxiety", "Depression"], both)[0] == "Depression"


def test_the_shipped_queries_keep_the_drug_out_of_every_condition():
    for query_id, topic in TOPICS.items():
        assert topic.mentions("ketamine esketamine Spravato") == 0, query_id


def test_a_trial_is_filed_by_what_it_measures_first_when_its_title_names_no_condition():
    """A real ClinicalTrials.gov record, retitled: nothing in its title or registered conditions
    names a condition and its summary speaks of depression, but its primary outcome is an OCD
    scale: it is an OCD trial, told in full there."""
    record = ketamine_trial("NCT99000101")
    protocol = record["protocolSection"]
    protocol["identificationModule"]["briefTitle"] = "Ketamine infusions in refractory patients"
    protocol["identificationModule"]["officialTitle"] = ""
    protocol["conditionsModule"] = {"conditions": ["Refractory illness"]}
    protocol["descriptionModule"] = {"briefSummary": (
        "Patients with depression and depressive symptoms, on antidepressants, receive ketamine.")}
    protocol["outcomesModule"] = {"primaryOutcomes": [
        {"measure": "Change in Yale-Brown Obsessive Compulsive Scale (Y-BOCS) score"}]}
    record.pop("derivedSection", None)
    trial = parse_study(record)
    assert trial.details["primary_outcomes"] == [
        "Change in Yale-Brown Obsessive Compulsive Scale (Y-BOCS) score"]
    assert primary_first(trial, [DEPRESSION, OCD], {DEPRESSION: TOPICS["depression"],
                                                    OCD: TOPICS["ocd"]}) == [OCD, DEPRESSION]
    protocol["outcomesModule"] = {}
    assert primary_first(parse_study(record), [DEPRESSION, OCD], {
        DEPRESSION: TOPICS["depression"], OCD: TOPICS["ocd"]})[0] == DEPRESSION, (
        "without it, the summary's depression decides: the outcome is what tells them apart")


def test_both_registries_keep_a_trials_primary_outcomes():
    answer = parse_search((ROOT / "tests/fixtures/isrctn_real/search_mecfs_3of11.xml").read_bytes())
    outcomes = [r.study.details["primary_outcomes"] for r in isrctn.parse_records(answer.trials)]
    assert ["Health-related quality of life (HRQoL)"] in outcomes
    assert parse_study(study(AACT / "NCT03630471.json")).details["primary_outcomes"] == [
        "Mental health symptoms", "Idiographic problems"]
