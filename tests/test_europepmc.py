"""Europe PMC: the parser on every recorded answer (ids, preprint <-> published links, markup),
the fetcher against the local REST server (SRC:PPR, the first-index-date window, cursorMark
paging), the look-ups by id, a real poll telling a preprint once, and the shipped queries
polling preprints for every condition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, ROOT, days_ago
from watcher import config as config_module
from watcher.fakes.europepmc import EuropePMCServer, preprint, publication
from watcher.http import HttpClient, RetryPolicy
from watcher.parsers.europepmc import parse_records, parse_search
from watcher.sources import FetchContext, Window
from watcher.sources.europepmc import EuropePMCSettings, EuropePMCSource
from watcher.versions import AUTHORITATIVE, GUESSED, VersionLink, versions_of

ANSWERS = sorted([*FIXTURES.glob("europepmc_real/*.json"),
                  *FIXTURES.glob("europepmc_biomcp/*.json")])

YAML = """\
destinations:
  team:
    kind: terminal
interventions:
  ketamine:
    europepmc: ketamine OR esketamine
defaults:
  intervention: ketamine
  destinations: [team]
  lookback_days: 30
queries:
  - id: preprints
    condition: Depression preprints
    sources:
      europepmc:
        terms: depressi*
"""


@pytest.fixture
def epmc():
    with EuropePMCServer() as running:
        yield running


@pytest.fixture
def http():
    with HttpClient(timeout=5, retry=RetryPolicy(attempts=2, backoff=0.01)) as client:
        yield client


def source_for(epmc: EuropePMCServer, http: HttpClient, **kw) -> EuropePMCSource:
    return EuropePMCSource(EuropePMCSettings(url=epmc.url), http, rate=500, **kw)


def answer(records: list[dict]) -> str:
    return json.dumps({"version": "6.9", "hitCount": len(records),
                       "request": {"queryString": "x", "cursorMark": "*"},
                       "resultList": {"result": records}})


def only(records):
    [record] = records
    assert record.error is None, record.error
    return record.study


# --- the parser --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ANSWERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_recorded_answer_parses_into_one_study_per_result(path: Path):
    page = parse_search(path.read_bytes())
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert page.hit_count == raw["hitCount"] >= len(page.results)
    assert page.next_cursor == raw.get("nextCursorMark")
    records = parse_records(page.results)
    assert len(records) == len(raw["resultList"]["result"])
    for record, result in zip(records, raw["resultList"]["result"], strict=True):
        assert record.error is None and record.study is not None
        study = record.study
        assert study.ids, "every recorded result has an id"
        assert study.title and "<" not in study.title
        assert study.url == f"https://europepmc.org/article/{result['source']}/{result['id']}"
        assert study.kind == ("preprint" if result["source"] == "PPR" else "publication")
        assert json.loads(record.raw) == result, "the raw record is kept whole"
        assert parse_records([record.raw])[0].study == study, "re-parsed offline the same"


def test_a_preprint_carries_its_ppr_id_preprint_doi_server_and_published_version():
    page = parse_search((FIXTURES / "europepmc_real/epmc_zhou.json").read_bytes())
    study = only(parse_records(page.results))
    assert study.ids == {"ppr": "PPR109910", "preprint_doi": "10.1101/2020.01.22.914952"}
    assert (study.kind, study.journal, study.year) == ("preprint", "bioRxiv", 2020)
    assert study.authors[:2] == ["Zhou P", "Yang X"] and study.authors[-1] == "Zhu"
    assert study.entry_date == "2020-01-23", "no firstIndexDate: the first publication date"
    [link] = versions_of(study.details)
    assert link == VersionLink(preprint=("ppr", "PPR109910"), published=("pmid", "32015507"),
                               basis=AUTHORITATIVE, via="europepmc",
                               note="CrossRef Pre-print loader", journal="Nature",
                               published_date="2020 Mar")


def test_medrxiv_s_new_prefix_is_a_preprint_doi_and_markup_is_gone():
    page = parse_search((FIXTURES / "europepmc_real/epmc_search.json").read_bytes())
    first = parse_records(page.results)[0].study
    assert first.ids["preprint_doi"] == "10.64898/2026.09.24.26363601"
    assert first.title.startswith("Persistent Borrelia burgdorferi protein antigen in CD16 +")
    second = parse_records(page.results)[1].study
    assert second.abstract.startswith("Background The neuropsychiatric sequelae")


def test_pubmed_and_pmc_records_carry_their_ids():
    page = parse_search((FIXTURES / "europepmc_biomcp/search_lite_6hits_med_and_pmc.json")
                        .read_bytes())
    records = parse_records(page.results)
    assert records[0].source_id == "MED:36457512"
    assert records[0].study.ids == {"pmid": "36457512", "pmcid": "PMC9706001",
                                    "doi": "10.3389/fonc.2022.1014859"}
    assert records[-1].source_id == "PMC11627200"
    assert records[-1].study.ids == {"pmcid": "PMC11627200"}
    assert records[-1].study.entry_date == "2025-11-03", "firstIndexDate"


def test_a_guessed_link_is_marked_guessed_and_a_published_record_links_back():
    guessed = preprint("PPR200", title="K", indexed=days_ago(3),
                       published_as=("39000001", "J Affect Disord. 2026 Jan;1:2",
                                     "Link created based on a title-first author match"))
    back = publication("39000002", title="Ketamine and mood", indexed=days_ago(1),
                       journal="Lancet Psychiatry", preprint_of="ppr201")
    one, two = parse_records([json.dumps(guessed), json.dumps(back)])
    [link] = versions_of(one.study.details)
    assert link.basis == GUESSED and not link.authoritative
    assert link.note == "Link created based on a title-first author match"
    assert (link.journal, link.published_date) == ("J Affect Disord", "2026 Jan")
    [link] = versions_of(two.study.details)
    assert (link.preprint, link.published) == (("ppr", "PPR201"), ("pmid", "39000002"))
    assert link.authoritative and link.journal == "Lancet Psychiatry"


def test_a_malformed_doi_is_no_id_and_registry_ids_in_the_abstract_are_linked():
    record = preprint("PPR300", title="Esketamine trial", indexed=days_ago(1),
                      doi="not a doi", abstract="Registered as NCT01234567 and ISRCTN12345678.")
    study = only(parse_records([json.dumps(record)]))
    assert study.ids == {"ppr": "PPR300"}
    assert study.linked_ids == {"nct": ["NCT01234567"], "isrctn": ["ISRCTN12345678"]}


def test_one_unreadable_result_fails_alone_and_a_record_without_ids_is_kept():
    good = json.dumps(preprint("PPR400", title="Good", indexed=days_ago(1)))
    no_ids = json.dumps({"source": "PPR", "title": "A preprint without any id"})
    empty = json.dumps({"citedByCount": 3})
    records = parse_records(["[1, 2]", "{broken", empty, no_ids, good])
    assert [r.error is None for r in records] == [False, False, False, True, True]
    assert records[0].error == "Europe PMC result 1: a JSON list, not a record"
    assert records[1].error.startswith("Europe PMC result 2: invalid JSON")
    assert records[2].error == "Europe PMC result 3: neither an id nor a title"
    assert records[3].source_id == "" and records[3].study.ids == {}
    assert records[3].study.title == "A preprint without any id"


# --- the fetcher against the local server ------------------------------------------------------

def test_the_poll_pages_with_cursor_marks_and_asks_for_preprints_indexed_in_the_window(
        env, epmc, http):
    for n in range(7):
        epmc.add(preprint(f"PPR10{n}", title=f"Ketamine for depression, cohort {n}",
                          indexed=days_ago(n)))
    epmc.add(preprint("PPR190", title="Ketamine for depression, indexed long ago",
                      indexed=days_ago(40)))
    epmc.add(publication("39100001", title="Ketamine for depression in a journal",
                         indexed=days_ago(1)))
    env.write_queries(YAML)
    search = env.config().query("preprints").search("europepmc")
    seen = []
    result = source_for(epmc, http, page_size=3).fetch(
        search, Window(days_ago(30), days_ago(0)),
        FetchContext(lambda s, i: set(), progress=lambda done, total: seen.append(done)))
    assert sorted(result.matched) == [f"PPR10{n}" for n in range(7)]
    assert result.count == 7 and seen == [3, 6, 7]
    cursors = [params["cursorMark"] for params in epmc.requests]
    assert cursors[0] == "*" and len(set(cursors)) == 3
    assert all(params["resultType"] == "core" and params["format"] == "json"
               and params["pageSize"] == "3" for params in epmc.requests)
    assert epmc.queries[0] == (
        "(((ketamine OR esketamine) AND (depressi*)) AND SRC:PPR) AND FIRST_IDATE:"
        f"[{days_ago(30).isoformat()} TO {days_ago(0).isoformat()}]")


def test_preprints_only_false_searches_all_of_europe_pmc(env, epmc, http):
    epmc.add(preprint("PPR500", title="Ketamine depression preprint", indexed=days_ago(1)))
    epmc.add(publication("39200001", title="Ketamine depression article", indexed=days_ago(1)))
    env.write_queries(YAML.replace("terms: depressi*", "terms: depressi*\n"
                                   "        preprints_only: false"))
    search = env.config().query("preprints").search("europepmc")
    result = source_for(epmc, http).fetch(search, Window(days_ago(30), days_ago(0)),
                                          FetchContext(lambda s, i: set()))
    assert sorted(result.matched) == ["MED:39200001", "PPR500"]
    assert "SRC:PPR" not in epmc.queries[0]


def test_look_ups_by_id_are_batched_and_return_each_record_s_version_links(epmc, http):
    for n in range(3):
        epmc.add(publication(f"3930000{n}", title=f"Published {n}", indexed=days_ago(1),
                             preprint_of=f"PPR60{n}", journal="JAMA Psychiatry"))
        epmc.add(preprint(f"PPR60{n}", title=f"Preprint {n}", indexed=days_ago(90),
                          published_as=(f"3930000{n}", "JAMA Psychiatry. 2026 Feb;83(2):1")))
    source = source_for(epmc, http, id_batch=2)
    links = source.links_for_pmids(["39300000", "39300001", "39300002", "39300001", "x"])
    assert [link.preprint for link in links] == [("ppr", f"PPR60{n}") for n in range(3)]
    assert all(link.published_date and link.journal == "JAMA Psychiatry" for link in links)
    assert epmc.queries == ["(EXT_ID:39300000 OR EXT_ID:39300001) AND SRC:MED",
                            "(EXT_ID:39300002) AND SRC:MED"]
    links = source.links_for_pprs(["ppr600", "PPR602"])
    assert [(link.preprint, link.published) for link in links] == [
        (("ppr", "PPR600"), ("pmid", "39300000")), (("ppr", "PPR602"), ("pmid", "39300002"))]
    assert epmc.queries[-1] == "(EXT_ID:PPR600 OR EXT_ID:PPR602) AND SRC:PPR"
    assert source.links_for_pmids([]) == [] and len(epmc.requests) == 3


# --- a real poll -------------------------------------------------------------------------------

def test_a_preprint_is_told_once_and_the_next_poll_starts_an_overlap_before_the_last(env, epmc):
    epmc.add(preprint("PPR700", title="Esketamine nasal spray for depression in adolescents",
                      indexed=days_ago(2), server="medRxiv"))
    epmc.add(preprint("PPR701", title="Ketamine and the weather", indexed=days_ago(2)))
    env.write_queries(YAML)
    first = env.cli("run", "--once", WATCHER_EUROPEPMC_URL=epmc.url)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.count("Esketamine nasal spray for depression in adolescents") == 1
    assert "weather" not in first.stdout
    assert "medRxiv" in first.stdout
    assert f"FIRST_IDATE:[{days_ago(30).isoformat()} TO" in epmc.queries[0]
    again = env.cli("run", "--once", WATCHER_EUROPEPMC_URL=epmc.url)
    assert again.exit_code == 0, again.stderr
    assert "Esketamine nasal spray" not in again.stdout
    assert f"FIRST_IDATE:[{days_ago(2).isoformat()} TO" in epmc.queries[-1]
    store = env.store()
    study_id = store.find_study({"ppr": "PPR700"})
    assert study_id is not None and [e.kind for e in store.events_of(study_id)] == ["new"]


# --- the shipped queries -----------------------------------------------------------------------

def test_every_shipped_condition_polls_europe_pmc_preprints(env, epmc, http):
    """Each shipped query's Europe PMC terms against the local server holding, per condition,
    a ketamine preprint about it and a preprint of that condition without ketamine; plus an
    anaesthesia preprint whose only depression is respiratory: each query finds its own
    ketamine preprint, and depression does not take the anaesthesia one."""
    shipped = config_module.load(ROOT / "queries")
    examples = {
        "depression": "treatment-resistant depression", "ptsd": "post-traumatic stress",
        "anxiety": "social anxiety", "chronic-pain": "fibromyalgia",
        "ocd": "obsessive-compulsive disorder", "substance-use": "alcohol use disorder",
        "autism": "autism", "adhd": "ADHD", "neurodivergence": "emotional dysregulation",
        "suicidal-ideation": "suicidal ideation"}
    assert set(examples) == {q.id for q in shipped.queries}
    for n, condition in enumerate(examples.values()):
        epmc.add(preprint(f"PPR80{n:02d}", title=f"Esketamine in {condition}: a trial",
                          indexed=days_ago(1)))
        epmc.add(preprint(f"PPR81{n:02d}", title=f"Placebo in {condition}", indexed=days_ago(1)))
    epmc.add(preprint("PPR8999", title="Ketamine sedation in the emergency department",
                      abstract="Respiratory depression occurred in 3 of 120 children.",
                      indexed=days_ago(1)))
    source = source_for(epmc, http)
    for query in shipped.queries:
        assert query.sources["europepmc"].preprints_only, query.id
        result = source.fetch(query.search("europepmc"), Window(days_ago(30), days_ago(0)),
                              FetchContext(lambda s, i: set()))
        assert f"PPR80{list(examples).index(query.id):02d}" in result.matched, query.id
        assert not any(m.startswith("PPR81") for m in result.matched), query.id
        assert "PPR8999" not in result.matched, query.id
        assert "SRC:PPR" in epmc.queries[-1]


def test_validate_lists_europe_pmc_as_polled_for_every_shipped_query(env):
    result = env.cli("validate", WATCHER_QUERIES=str(ROOT / "queries"))
    assert result.exit_code == 0, result.stderr
    listed = [line for line in result.stdout.splitlines() if "sources:" in line]
    assert len(listed) == 10 and all("Europe PMC" in line for line in listed)
    assert "not polled" not in result.stdout
