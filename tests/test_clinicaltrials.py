"""ClinicalTrials.gov API v2: the parser on every recorded v2 response, the fetcher against the
local v2 server (paging, totals, the registry's data timestamp, bad answers), and the trial
events end to end (new, then changed once, untracked edits silent)."""

from __future__ import annotations

import copy
import json
from datetime import datetime

import pytest

from tests.helpers import FIXTURES, ROOT, days_ago
from tests.helpers.ctgov import AACT, ketamine_trial, study
from watcher import config as config_module
from watcher import pipeline
from watcher.errors import ParseError, SourceError
from watcher.fakes.ctgov import CtgovServer, renumbered, studies_in
from watcher.http import HttpClient, RetryPolicy
from watcher.parsers.clinicaltrials import (
    parse_records,
    parse_search_page,
    parse_study,
    registry_ids,
    study_records,
)
from watcher.parsers.trial_changes import changed_fields
from watcher.render.common import trial_facts
from watcher.settings import Settings
from watcher.sources import REGISTRY, FetchContext, Window
from watcher.sources.clinicaltrials import ClinicalTrialsSource

BIOMCP = FIXTURES / "ctgov_biomcp"
V2_FILES = sorted([*AACT.glob("NCT*.json"), *BIOMCP.glob("get_*.json"),
                   *BIOMCP.glob("search_*.json")])
LEGACY_FILES = sorted(AACT.glob("legacy_*.json"))

TRIALS_YAML = """\
destinations:
  team:
    kind: terminal
defaults:
  destinations: [team]
  lookback_days: 30
queries:
  - id: trials
    condition: Depression trials
    sources:
      clinicaltrials:
        condition: depression OR "treatment resistant depression"
        intervention: ketamine OR esketamine
"""


@pytest.fixture
def ctgov():
    with CtgovServer() as running:
        yield running


@pytest.fixture
def http():
    with HttpClient(timeout=5, retry=RetryPolicy(attempts=3, backoff=0.01)) as client:
        yield client


def source_for(ctgov: CtgovServer, http: HttpClient, env, **kwargs) -> ClinicalTrialsSource:
    return ClinicalTrialsSource(env.settings(WATCHER_CTGOV_URL=ctgov.url).source("clinicaltrials"),
                                http, **kwargs)


def fetch(source: ClinicalTrialsSource, env, *, cursor: str | None = None,
          retry: list[str] | None = None):
    env.write_queries(TRIALS_YAML)
    query = env.config().query("trials").search("clinicaltrials")
    window = Window(days_ago(30), days_ago(0))
    return source.fetch(query, window, FetchContext(lambda scheme, ids: set(), retry or [],
                                                    cursor))


def changes(previous, current, tracked: list[str]) -> list[str]:
    """Only the phrases of what changed (the fields they are about left out)."""
    return [phrase for _, phrase in changed_fields(previous, current, tracked)]


# --- the parser on every recorded v2 response -------------------------------------------------

def test_every_recorded_v2_study_parses_into_a_trial():
    count = 0
    for path in V2_FILES:
        for record in study_records(studies_in(path)):
            assert record.study is not None, f"{path.name}: {record.error}"
            trial = record.study
            assert trial.kind == "trial" and trial.source == "clinicaltrials"
            assert trial.ids["nct"] == record.source_id.upper()
            assert trial.url == f"https://clinicaltrials.gov/study/{trial.ids['nct']}"
            assert trial.title and trial.details["overall_status"]
            assert trial.journal  # lead sponsor, shown where a paper shows its journal
            count += 1
    assert count == 29


def test_real_values_withdrawn_partial_dates_results_and_references():
    withdrawn = parse_study(study(AACT / "NCT00973089.json"))
    details = withdrawn.details
    assert details["overall_status"] == "WITHDRAWN"
    assert details["why_stopped"] == ("recruiting or enrolling participants has halted "
                                      "prematurely and will not resume")
    assert (details["start_date"], details["start_date_type"]) == ("2010-05", "")
    assert withdrawn.published == "2010-05" and withdrawn.year == 2010
    assert (details["completion_date"], details["completion_date_type"]) == ("2015-03",
                                                                              "ACTUAL")
    assert (details["enrollment"], details["enrollment_type"]) == (0, "ACTUAL")
    assert details["phases"] == ["NA"] and details["countries"] == ["Israel"]
    assert withdrawn.linked_ids == {"pmid": ["18519994"]}
    assert withdrawn.journal == "Hadassah Medical Organization"
    assert details["first_posted"] == "2009-09-09" == withdrawn.entry_date

    results = parse_study(study(AACT / "NCT05594173.json")).details
    assert results["has_results"] is True and results["results_first_posted"] == "2022-11-21"
    assert results["phases"] == [] and results["study_type"] == "OBSERVATIONAL"
    assert results["last_update_posted"] == "2022-11-21"
    # An NIH grant number is a secondary id, not another registry's id of the trial.
    assert results["secondary_ids"] == [{"id": "R01DC011020", "type": "NIH"}]
    assert set(parse_study(study(AACT / "NCT05594173.json")).ids) == {"nct"}


def test_other_registries_ids_link_one_trial_registered_twice():
    data = study(AACT / "NCT00763412.json")
    data["protocolSection"]["identificationModule"]["secondaryIdInfos"] = [
        {"id": "2004-000123-45", "type": "EUDRACT_NUMBER"},
        {"id": "ISRCTN 12345678", "type": "REGISTRY", "domain": "ISRCTN"},
        {"id": "2023-501234-12-00", "type": "CTIS"},
        {"id": "R01 2004-999999-99", "type": "NIH"},
    ]
    trial = parse_study(data)
    assert trial.ids == {"nct": "NCT00763412", "eudract": "2004-000123-45",
                         "isrctn": "ISRCTN12345678", "ctis": "2023-501234-12-00"}
    assert registry_ids([{"id": "EUCTR2004-000123-45-GB", "type": "REGISTRY"}]) == {
        "eudract": "2004-000123-45"}


@pytest.mark.parametrize("path", LEGACY_FILES, ids=lambda p: p.name)
def test_a_retired_classic_api_answer_is_refused_not_read_as_zero_studies(path):
    body = path.read_bytes()
    with pytest.raises(ParseError, match="retired classic API format"):
        parse_search_page(body)
    with pytest.raises(ParseError, match="retired classic API format"):
        parse_study(json.loads(body))


def test_a_study_without_status_module_or_with_a_bad_date_fails_alone():
    good = study(AACT / "NCT00973089.json")
    broken = copy.deepcopy(good)
    broken["protocolSection"]["identificationModule"]["nctId"] = "NCT00000001"
    del broken["protocolSection"]["statusModule"]
    bad_date = renumbered(good, "NCT00000002")
    bad_date["protocolSection"]["statusModule"]["startDateStruct"] = {"date": "May 2010"}
    no_dates = renumbered(good, "NCT00000003")
    for key in ("startDateStruct", "completionDateStruct", "primaryCompletionDateStruct"):
        del no_dates["protocolSection"]["statusModule"][key]
    records = study_records([good, broken, bad_date, no_dates])
    assert [r.source_id for r in records] == ["NCT00973089", "NCT00000001", "NCT00000002",
                                              "NCT00000003"]
    assert records[0].study and records[3].study
    assert records[1].study is None and "NCT00000001: no statusModule" in records[1].error
    assert records[2].study is None and "start date 'May 2010' is not a date" in records[2].error
    assert records[3].study.published == "" and records[3].study.year is None
    # Kept raw, re-parsed offline to the same result.
    again = parse_records([r.raw for r in records])
    assert [r.study for r in again] == [r.study for r in records]
    assert REGISTRY["clinicaltrials"].parse_records is parse_records


# --- what changed ------------------------------------------------------------------------------

def test_change_phrases_name_old_and_new_for_tracked_fields_only():
    base = study(AACT / "NCT03630471.json")
    before = parse_study(base)
    edited = copy.deepcopy(base)
    status = edited["protocolSection"]["statusModule"]
    status["overallStatus"] = "TERMINATED"
    status["whyStopped"] = "funding ended"
    status["resultsFirstPostDateStruct"] = {"date": "2026-03-02", "type": "ACTUAL"}
    edited["hasResults"] = True
    edited["protocolSection"]["designModule"]["enrollmentInfo"] = {"count": 120,
                                                                   "type": "ACTUAL"}
    edited["protocolSection"]["designModule"]["phases"] = ["PHASE2"]
    status["primaryCompletionDateStruct"] = {"date": "2019-03", "type": "ESTIMATED"}
    edited["protocolSection"]["descriptionModule"]["briefSummary"] = "Rewritten."
    after = parse_study(edited)
    assert changes(before, after, []) == [
        "status Completed → Terminated", "phase none → Phase 2", "enrollment 250 → 120 (actual)",
        "primary completion 2019-01-20 → 2019-03 (estimated)", "results posted 2026-03-02",
        "why stopped: funding ended"]
    assert changes(before, after, ["status"]) == ["status Completed → Terminated"]
    summary_only = copy.deepcopy(base)
    summary_only["protocolSection"]["descriptionModule"]["briefSummary"] = "Rewritten."
    assert changes(before, parse_study(summary_only), []) == []
    typed = copy.deepcopy(base)
    typed["protocolSection"]["designModule"]["enrollmentInfo"]["type"] = "ESTIMATED"
    assert changes(parse_study(typed), before, ["enrollment"]) == [
        "enrollment 250 (estimated → actual)"]


def test_track_names_are_checked_in_the_yaml(env):
    env.write_queries(TRIALS_YAML + "        track: [status, enrolment]\n")
    result = env.cli("validate")
    assert result.exit_code == 2
    assert "queries.yaml:" in result.stderr and "unknown field(s) 'enrolment' in track" \
        in result.stderr
    env.write_queries(TRIALS_YAML + "        track: [status, results]\n")
    assert env.cli("validate").exit_code == 0
    assert env.config().query("trials").sources["clinicaltrials"].track == ["status", "results"]


# --- the fetcher against the local v2 server ---------------------------------------------------

def test_a_search_of_2500_studies_is_collected_completely_once_each(env, ctgov, http):
    template = ketamine_trial("NCT00000000", base=AACT / "NCT00973089.json")
    for n in range(1, 2501):
        ctgov.add_study(renumbered(template, f"NCT{n:08d}"), updated=days_ago(n % 20))
    ctgov.add_study(ketamine_trial("NCT09000000", condition="Asthma"), updated=days_ago(1))
    before = http.requests
    result = fetch(source_for(ctgov, http, env), env)
    requests = http.requests - before
    print(f"\nClinicalTrials.gov: 2,500 studies collected in {requests} requests "
          f"({len(ctgov.calls('studies'))} search pages + /version)")
    assert len(result.matched) == len(set(result.matched)) == 2500 == len(result.records)
    assert all(r.study is not None for r in result.records)
    pages = ctgov.calls("studies")
    assert len(pages) == 3 and requests == 4
    first = pages[0]
    assert first["countTotal"] == "true" and first["pageSize"] == "1000"
    assert first["query.cond"] == 'depression OR "treatment resistant depression"'
    assert first["query.intr"] == "ketamine OR esketamine"
    assert first["filter.advanced"] == (f"AREA[LastUpdatePostDate]RANGE[{days_ago(30)},"
                                        f"{days_ago(0)}]")
    assert all("pageToken" in p and "countTotal" not in p for p in pages[1:])
    # The raw payload is the study's JSON with sorted keys: unchanged content, same bytes.
    assert result.records[0].raw == json.dumps(json.loads(result.records[0].raw),
                                               sort_keys=True)


def test_the_range_never_runs_past_the_registry_data_and_a_late_registry_is_caught_up(
        env, ctgov, http):
    ctgov.data_timestamp = datetime.combine(days_ago(5), datetime.min.time())
    ctgov.add_study(ketamine_trial("NCT09000001"), updated=days_ago(6))
    ctgov.add_study(ketamine_trial("NCT09000002"), updated=days_ago(4))  # not published yet
    source = source_for(ctgov, http, env)
    first = fetch(source, env)
    assert first.matched == ["NCT09000001"] and first.cursor == days_ago(5).isoformat()
    assert ctgov.calls()[-1]["filter.advanced"].endswith(f",{days_ago(5)}]")
    # The registry refreshes; the core's own window would start 2 days ago, but the cursor
    # says the registry was only seen up to 5 days ago.
    ctgov.data_timestamp = datetime.combine(days_ago(0), datetime.min.time())
    source = source_for(ctgov, http, env)  # a new run asks /version again
    env.write_queries(TRIALS_YAML)
    second = source.fetch(env.config().query("trials").search("clinicaltrials"),
                          Window(days_ago(2), days_ago(0)),
                          FetchContext(lambda s, i: set(), [], first.cursor))
    assert second.matched == ["NCT09000001", "NCT09000002"]  # with the overlap
    assert ctgov.calls()[-1]["filter.advanced"] == (
        f"AREA[LastUpdatePostDate]RANGE[{days_ago(7)},{days_ago(0)}]")


def test_an_empty_search_is_zero_studies_but_an_empty_page_mid_run_fails(env, ctgov, http):
    assert fetch(source_for(ctgov, http, env), env).matched == []
    for n in range(1, 6):
        ctgov.add_study(ketamine_trial(f"NCT0900000{n}"), updated=days_ago(1))
    ctgov.empty_pages.add(2)
    with pytest.raises(SourceError, match="page 2 was empty after 2 of 5 studies"):
        fetch(source_for(ctgov, http, env, page_size=2), env)


def test_a_missing_next_page_token_mid_run_fails_clearly(env, ctgov, http):
    for n in range(1, 6):
        ctgov.add_study(ketamine_trial(f"NCT0900000{n}"), updated=days_ago(1))
    ctgov.no_token_after.add(2)
    with pytest.raises(SourceError, match=r"ended \(no nextPageToken\) after 4 of 5 studies"):
        fetch(source_for(ctgov, http, env, page_size=2), env)


@pytest.mark.parametrize(("body", "content_type", "message"), [
    ((AACT / "legacy_ctg_api_all.json").read_text(), "application/json",
     "retired classic API format (StudyFieldsResponse)"),
    ('{"studies": [{"protocolSection": ', "application/json", "invalid JSON"),
    ("<!DOCTYPE html><html><body>Service Unavailable</body></html>", "text/html",
     "received an HTML page, not API v2 JSON"),
    ('{"error": "nothing here"}', "application/json", "not an API v2 search answer"),
], ids=["legacy", "invalid-json", "html", "other-json"])
def test_an_answer_that_is_not_v2_json_fails_the_poll_and_keeps_the_window(
        env, ctgov, body, content_type, message):
    ctgov.add_study(ketamine_trial("NCT09000001"), updated=days_ago(1))
    env.write_queries(TRIALS_YAML)
    ctgov.answer_next(body, content_type=content_type)
    result = env.cli("run", "--once", WATCHER_CTGOV_URL=ctgov.url)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "window kept for the next run" in result.stderr
    store = env.store()
    assert store.positions()[0].window_end is None
    assert store.records("clinicaltrials") == []
    assert "clinicaltrials.gov/study/" not in result.stdout


def test_a_500_on_page_3_of_5_records_nothing_and_the_next_run_gets_everything(env, ctgov):
    for n in range(1, 11):
        ctgov.add_study(ketamine_trial(f"NCT090000{n:02d}"), updated=days_ago(1))
    env.write_queries(TRIALS_YAML)
    ctgov.fail(500, "upstream trouble", page=3, times=99)
    settings = env.settings(WATCHER_CTGOV_URL=ctgov.url)
    sources = {"clinicaltrials": ClinicalTrialsSource(
        settings.source("clinicaltrials"), pipeline.client_for(settings), page_size=2)}
    report = pipeline.poll(env.config(), env.store(), settings, sources=sources)
    assert "answered HTTP 500: upstream trouble" in report.outcomes[0].error
    assert "(page 3)" in report.outcomes[0].error
    assert len(ctgov.calls()) == 2 + 4, "pages 1 and 2, then page 3 tried four times"
    store = env.store()
    assert store.records("clinicaltrials") == [] and store.count("studies") == 0
    assert store.positions()[0].window_end is None
    ctgov.scripted.clear()
    report = pipeline.poll(env.config(), store, settings, sources=sources)
    assert report.outcomes[0].error is None and report.outcomes[0].new == 10


def test_fresh_page_tokens_for_ever_stop_at_the_announced_total_and_keep_the_window(
        env, ctgov):
    # A registry that keeps paging past its countTotal, each page with a new token: not a
    # repeated token, so only the total can stop it (the fake gives up after 500 pages, so the
    # code before this fix polled 500 pages and called it a success).
    for n in range(1, 6):
        ctgov.add_study(ketamine_trial(f"NCT0900000{n}"), updated=days_ago(1))
    ctgov.extra_pages = 500
    env.write_queries(TRIALS_YAML)
    settings = env.settings(WATCHER_CTGOV_URL=ctgov.url)
    sources = {"clinicaltrials": ClinicalTrialsSource(
        settings.source("clinicaltrials"), pipeline.client_for(settings), page_size=2)}
    report = pipeline.poll(env.config(), env.store(), settings, sources=sources)
    error = report.outcomes[0].error
    assert error == ("ClinicalTrials.gov search: 9 pages brought 17 studies, more than the 5 "
                     "of its countTotal; stopped rather than page for ever")
    assert len(ctgov.calls()) == 9, "stopped a few pages past the total, not 500 later"
    store = env.store()
    assert store.records("clinicaltrials") == [] and store.count("studies") == 0
    assert store.positions()[0].window_end is None


def test_a_poll_that_pages_on_past_its_deadline_fails_and_keeps_the_window(env, ctgov):
    # Every page is fine, but 40 of them at 5 requests a second outlast WATCHER_POLL_TIMEOUT:
    # the poll stops at its deadline, whatever each request's own deadline allows.
    for n in range(1, 41):
        ctgov.add_study(ketamine_trial(f"NCT090000{n:02d}"), updated=days_ago(1))
    env.write_queries(TRIALS_YAML)
    settings = env.settings(WATCHER_CTGOV_URL=ctgov.url, WATCHER_CTGOV_RATE="5",
                            WATCHER_POLL_TIMEOUT="1")
    assert settings.poll_timeout == 1
    sources = {"clinicaltrials": ClinicalTrialsSource(
        settings.source("clinicaltrials"), pipeline.client_for(settings), page_size=1)}
    report = pipeline.poll(env.config(), env.store(), settings, sources=sources)
    error = report.outcomes[0].error or ""
    assert error.startswith(f"ClinicalTrials.gov (127.0.0.1:{ctgov.port}): the poll ran past "
                            "its deadline (1s, WATCHER_POLL_TIMEOUT); stopped (page ")
    assert "\n" not in error
    assert len(ctgov.calls()) < 40
    store = env.store()
    assert store.records("clinicaltrials") == [] and store.positions()[0].window_end is None
    # The next poll has a deadline of its own: with time enough it gets everything.
    settings = settings.with_(poll_timeout=600.0).with_source("clinicaltrials", rate=50.0)
    sources = {"clinicaltrials": ClinicalTrialsSource(
        settings.source("clinicaltrials"), pipeline.client_for(settings), page_size=10)}
    report = pipeline.poll(env.config(), store, settings, sources=sources)
    assert report.outcomes[0].error is None and report.outcomes[0].new == 40


def test_two_revisions_before_one_digest_tell_the_whole_way_from_what_was_told(env, ctgov):
    """Recruiting when told; two polls see it stop recruiting, then complete; one digest. The
    reader was told 'Recruiting': a change from 'Active, not recruiting' alone would claim a
    status they never saw and hide the revision that ended recruitment."""
    ctgov.add_study(ketamine_trial("NCT09000001", status="RECRUITING"), updated=days_ago(3))
    env.write_queries(TRIALS_YAML)
    url = {"WATCHER_CTGOV_URL": ctgov.url}
    assert env.cli("run", "--once", **url).exit_code == 0
    for status in ("ACTIVE_NOT_RECRUITING", "COMPLETED"):
        def revise(data, status=status):
            data["protocolSection"]["statusModule"]["overallStatus"] = status
            data["protocolSection"]["designModule"]["enrollmentInfo"] = {
                "count": 80 if status == "COMPLETED" else 60, "type": "ESTIMATED"}

        ctgov.update("NCT09000001", revise, updated=days_ago(0))
        assert env.cli("poll", **url).exit_code == 0
    told = env.cli("digest", **url)
    assert told.exit_code == 0, told.stderr
    said = " ".join(told.stdout.split())
    assert said.count("https://clinicaltrials.gov/study/NCT09000001") == 1, said
    assert "status Recruiting → Active, not recruiting → Completed" in said, said
    assert "enrollment 250 → 60 → 80 (estimated)" in said, said
    assert said.count("status ") == 1 and said.count("enrollment ") == 1, said


def test_a_trial_changed_before_its_first_digest_is_told_once_as_it_is_now(env, ctgov):
    """Found recruiting, completed by the next poll, and no digest in between: the team is
    told of the trial once (its new item, with today's facts), not once as new and once more
    as a change from a status they never saw; nor is the change offered again later."""
    ctgov.add_study(ketamine_trial("NCT09000001", status="RECRUITING"), updated=days_ago(3))
    env.write_queries(TRIALS_YAML)
    url = {"WATCHER_CTGOV_URL": ctgov.url}
    assert env.cli("poll", **url).exit_code == 0

    def complete(data):
        data["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"

    ctgov.update("NCT09000001", complete, updated=days_ago(0))
    assert env.cli("poll", **url).exit_code == 0
    told = env.cli("digest", **url)
    assert told.exit_code == 0, told.stderr
    assert told.stdout.count("https://clinicaltrials.gov/study/NCT09000001") == 1, told.stdout
    assert "1 new study" in told.stdout.splitlines()[0] and "change" not in told.stdout
    assert "Completed" in told.stdout
    again = env.cli("digest", **url)
    assert "NCT09000001" not in again.stdout, again.stdout
    assert env.store().pending_counts() == {}


def test_a_study_without_status_module_is_quarantined_and_asked_for_again_by_id(
        env, ctgov):
    ctgov.add_study(ketamine_trial("NCT09000001"), updated=days_ago(1))
    ctgov.add_study(ketamine_trial("NCT09000002"), updated=days_ago(1))

    def statusless(data):
        del data["protocolSection"]["statusModule"]

    ctgov.served["NCT09000002"] = statusless
    env.write_queries(TRIALS_YAML)
    url = {"WATCHER_CTGOV_URL": ctgov.url}
    first = env.cli("run", "--once", **url)
    assert first.exit_code == 0, first.stderr
    assert "clinicaltrials.gov/study/NCT09000001" in first.stdout
    assert "ClinicalTrials.gov record NCT09000002 was set aside for query trials" in first.stdout
    assert "no statusModule" in env.cli("status").stdout
    assert env.store().positions()[0].window_end == days_ago(0).isoformat()

    # Fixed upstream, but its last update is now outside the window: asked for by id.
    del ctgov.served["NCT09000002"]
    ctgov.update("NCT09000002", lambda data: None, updated=days_ago(60))
    second = env.cli("run", "--once", **url)
    assert second.exit_code == 0, second.stderr
    assert ctgov.calls()[-1]["filter.ids"] == "NCT09000002"
    assert second.stdout.count("clinicaltrials.gov/study/NCT09000002") == 1
    assert "QUARANTINED" not in env.cli("status").stdout


def test_the_track_list_and_the_polite_rate():
    assert Settings.from_env({}).source("clinicaltrials").rate == 1.0, \
        "about one request per second by default"
    options = REGISTRY["clinicaltrials"].options(condition="x")
    assert options.track[:3] == ["status", "phases", "enrollment"]


# --- end to end: new, then changed once --------------------------------------------------------

def test_a_status_change_upstream_is_told_once_and_untracked_edits_not_at_all(env, ctgov):
    ctgov.add_study(ketamine_trial("NCT09000001", status="RECRUITING"), updated=days_ago(3))
    env.write_queries(TRIALS_YAML)
    url = {"WATCHER_CTGOV_URL": ctgov.url}
    first = env.cli("run", "--once", **url)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.count("https://clinicaltrials.gov/study/NCT09000001") == 1
    assert "changed:" not in first.stdout

    def complete(data):
        data["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"

    ctgov.update("NCT09000001", complete, updated=days_ago(0))
    second = env.cli("run", "--once", **url)
    assert second.exit_code == 0, second.stderr
    assert second.stdout.count("changed: status Recruiting → Completed") == 1
    assert second.stdout.count("changed:") == 1

    def reword(data):
        data["protocolSection"]["descriptionModule"]["briefSummary"] = "Reworded summary."

    ctgov.update("NCT09000001", reword, updated=days_ago(0))
    third = env.cli("run", "--once", **url)
    assert third.exit_code == 0, third.stderr
    assert "changed:" not in third.stdout and "NCT09000001" not in third.stdout
    fourth = env.cli("run", "--once", **url)
    assert "changed:" not in fourth.stdout and "NCT09000001" not in fourth.stdout
    store = env.store()
    study_id = store.find_study({"nct": "NCT09000001"})
    assert [e.kind for e in store.events_of(study_id)] == ["new", "trial_changed"]
    assert store.get_study(study_id).details["overall_status"] == "COMPLETED"

    history = env.cli("status", "--study", "nct09000001")
    assert history.exit_code == 0, history.stderr
    lines = history.stdout.splitlines()
    versions = [x for x in lines if x.startswith("  ClinicalTrials.gov NCT09000001: fetched")]
    assert len(versions) == 3, "first, completed, reworded: every version kept"
    assert any("trial_changed: status Recruiting → Completed" in x for x in lines)
    assert sum(x.strip().startswith("to team: sent") for x in lines) == 2
    unknown = env.cli("status", "--study", "NCT00000000")
    assert unknown.exit_code == 2 and "no stored study has nct NCT00000000" in unknown.stderr


def test_kept_trial_records_reparse_without_the_network(env, ctgov):
    ctgov.add_study(ketamine_trial("NCT09000001"), updated=days_ago(1))
    env.write_queries(TRIALS_YAML)
    assert env.cli("run", "--once", WATCHER_CTGOV_URL=ctgov.url).exit_code == 0
    ctgov.stop()
    counts = pipeline.reparse(env.config(), env.store())
    assert counts == {"records": 1, "fixed": 0, "failed": 0}


# --- the shipped queries -----------------------------------------------------------------------

def test_every_shipped_condition_finds_its_ketamine_trial_on_the_local_server(env, ctgov, http):
    """Each shipped query's ClinicalTrials.gov terms run against the local server holding every
    recorded study plus, per condition, a ketamine trial for it and a trial of that condition
    without ketamine: the query finds its own ketamine trial and neither of the others."""
    shipped = config_module.load(ROOT / "queries")
    for path in V2_FILES:
        ctgov.add_files([path], updated=days_ago(2))
    examples = {
        "depression": "Treatment Resistant Depression", "ptsd": "PTSD",
        "anxiety": "Social Anxiety Disorder", "chronic-pain": "Fibromyalgia",
        "ocd": "Obsessive-Compulsive Disorder", "substance-use": "Alcohol Use Disorder",
        "autism": "Autism Spectrum Disorder", "adhd": "ADHD",
        "neurodivergence": "Emotional Dysregulation", "suicidal-ideation": "Suicidal Ideation"}
    assert set(examples) == {q.id for q in shipped.queries}
    ids = {}
    for n, (query_id, condition) in enumerate(examples.items(), start=1):
        ids[query_id] = ctgov.add_study(ketamine_trial(f"NCT0910{n:04d}", condition=condition,
                                                       drug="Esketamine"), updated=days_ago(1))
        ctgov.add_study(ketamine_trial(f"NCT0920{n:04d}", condition=condition,
                                       drug="Placebo"), updated=days_ago(1))
    source = ClinicalTrialsSource(
        env.settings(WATCHER_CTGOV_URL=ctgov.url).source("clinicaltrials"), http)
    for query in shipped.queries:
        result = source.fetch(query.search("clinicaltrials"), Window(days_ago(30), days_ago(0)),
                              FetchContext(lambda s, i: set()))
        assert result.matched == [ids[query.id]], query.id


@pytest.mark.parametrize("page,nct,facts", [
    ("search_melanoma_recruiting_limit3_20260811.json", "NCT04114136", "Phase 2 · Recruiting"),
    ("search_keytruda_limit3_20260811.json", "NCT05431270", "Phase 1/2 · Recruiting"),
    ("search_phelan_next_20260811.json", "NCT07014020", "Phase 1 · Active, not recruiting"),
    ("search_phelan_next_20260811.json", "NCT03836300", "Enrolling by invitation"),  # NA
])
def test_phase_and_status_read_in_words_not_registry_codes(page, nct, facts):
    # real answers say PHASE2, [PHASE1, PHASE2], ACTIVE_NOT_RECRUITING, NA
    studies = parse_search_page((BIOMCP / page).read_bytes()).studies
    [trial] = [parse_study(s) for s in studies if s["protocolSection"]["identificationModule"]
               ["nctId"] == nct]
    assert trial_facts(trial).startswith(facts + " · "), trial_facts(trial)
    assert "PHASE" not in trial_facts(trial) and "_" not in trial_facts(trial)
