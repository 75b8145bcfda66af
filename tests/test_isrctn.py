"""ISRCTN: the XML parser, the fetcher against the local query API server (date limit, the
unpaged total, bad answers), and a trial registered in both registries told once."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from tests.helpers import FIXTURES, days_ago
from watcher.errors import ParseError, SourceError
from watcher.fakes.ctgov import CtgovServer
from watcher.fakes.isrctn import IsrctnServer, trial_xml
from watcher.http import HttpClient, RetryPolicy
from watcher.models import Study
from watcher.parsers.isrctn import changed_fields, parse_records, parse_search
from watcher.render.common import trial_facts
from watcher.sources import REGISTRY

YAML = """\
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
      {sources}
"""
ISRCTN_ONLY = YAML.format(sources="isrctn:\n        condition: depression\n"
                                  "        intervention: ketamine")
BOTH = YAML.format(sources="clinicaltrials:\n        condition: depression\n"
                           "        intervention: ketamine\n"
                           "      isrctn:\n        condition: depression\n"
                           "        intervention: ketamine")


def add(server: IsrctnServer, isrctn="ISRCTN12345678", **kw) -> str:
    fields = {"title": f"Ketamine trial {isrctn}", "condition": "Depression",
              "drug": "Ketamine", "updated": days_ago(1), **kw}
    return server.add(isrctn, **fields)


@pytest.fixture
def http():
    with HttpClient(timeout=5, retry=RetryPolicy(attempts=3, backoff=0.01)) as client:
        yield client


@pytest.fixture
def isrctn():
    with IsrctnServer() as running:
        yield running


def test_a_trial_maps_its_ids_and_details_onto_the_shared_keys():
    xml = trial_xml("ISRCTN12345678", title="K", condition="Depression", drug="Ketamine",
                    updated=days_ago(1), nct="nct09000001", eudract="2023-000123-45")
    answer = parse_search(f'<allTrials xmlns="urn:x" totalCount="1">{xml}</allTrials>')
    [record] = parse_records(answer.trials)
    study = record.study
    assert study.ids == {"isrctn": "ISRCTN12345678", "nct": "NCT09000001",
                         "eudract": "2023-000123-45"}
    assert study.details["overall_status"] == "RECRUITING", "ClinicalTrials.gov's vocabulary"
    assert (study.details["enrollment"], study.details["enrollment_type"]) == (60, "ESTIMATED")
    assert study.details["phases"] == ["Phase II"] and study.details["countries"] == [
        "United Kingdom"]
    assert study.url == "https://www.isrctn.com/ISRCTN12345678"
    assert record.modified == days_ago(1).isoformat()


@pytest.mark.parametrize("written,shared,shown", [
    ("Recruiting", "RECRUITING", "Recruiting"),
    ("No longer recruiting", "ACTIVE_NOT_RECRUITING", "Active, not recruiting"),
    ("Anticipated", "NOT_YET_RECRUITING", "Not yet recruiting"),
    ("Completed", "COMPLETED", "Completed"),
    ("Stopped", "TERMINATED", "Terminated"),
    ("Suspended", "SUSPENDED", "Suspended"),
    ("Active, not recruiting", "ACTIVE_NOT_RECRUITING", "Active, not recruiting"),
    ("Ongoing", "Ongoing", "Ongoing"),  # not in the vocabulary: kept as written, not guessed
])
def test_a_registry_status_is_read_in_clinicaltrials_gov_s_vocabulary(written, shared, shown):
    from watcher.parsers.trial_status import status_name

    xml = trial_xml("ISRCTN12345678", title="K", condition="D", drug="K",
                    updated=days_ago(1), status=written)
    [record] = parse_records(parse_search(f"<allTrials>{xml}</allTrials>").trials)
    assert record.study.details["overall_status"] == shared
    assert status_name(shared) == status_name(written) == shown


@pytest.mark.parametrize("body", ["<!DOCTYPE html><html><body>Oops</body></html>",
                                  '<allTrials totalCount="2"><fullTrial><trial>', "",
                                  "<error>busy</error>"])
def test_answers_that_are_not_the_query_xml_are_refused(body):
    with pytest.raises(ParseError, match="ISRCTN search"):
        parse_search(body)


def test_a_trial_without_its_number_fails_alone():
    good = trial_xml("ISRCTN12345678", title="K", condition="D", drug="K", updated=days_ago(1))
    records = parse_records(["<fullTrial><trial><isrctn/></trial></fullTrial>", good])
    assert records[0].study is None and "no ISRCTN number" in records[0].error
    assert records[1].study is not None


def test_the_poll_asks_for_trials_edited_since_the_window_and_reports_them(env, isrctn):
    add(isrctn)
    add(isrctn, "ISRCTN00000002", updated=days_ago(60))  # edited before the look-back
    add(isrctn, "ISRCTN00000003", drug="Placebo", title="Placebo trial")
    env.write_queries(ISRCTN_ONLY)
    result = env.cli("run", "--once", WATCHER_ISRCTN_URL=isrctn.url)
    assert result.exit_code == 0, result.stderr
    assert "ISRCTN12345678" in result.stdout
    assert "ISRCTN00000002" not in result.stdout and "ISRCTN00000003" not in result.stdout
    assert f"lastEdited GE {days_ago(30).isoformat()}" in isrctn.requests[0]["q"]
    again = env.cli("run", "--once", WATCHER_ISRCTN_URL=isrctn.url)
    assert "ISRCTN12345678" not in again.stdout
    # the second poll starts an overlap before the first one's end, not 30 days back
    assert f"lastEdited GE {days_ago(2).isoformat()}" in isrctn.requests[1]["q"]


@pytest.mark.parametrize("status,body,content_type", [
    (500, "Internal error", "text/plain"),
    (200, "<!DOCTYPE html><html>maintenance</html>", "text/html"),
    (200, '<allTrials totalCount="1"><fullTrial><trial>', "application/xml")])
def test_a_bad_answer_fails_the_poll_and_the_window_is_kept(env, isrctn, status, body,
                                                            content_type):
    add(isrctn)
    for _ in range(10):  # every retry included
        isrctn.fail(status, body, content_type=content_type)
    env.write_queries(ISRCTN_ONLY)
    failed = env.cli("run", "--once", WATCHER_ISRCTN_URL=isrctn.url,
                     WATCHER_RETRY_BACKOFF="0")
    assert failed.exit_code != 0 and "ISRCTN" in failed.stderr + failed.stdout
    assert "Traceback" not in failed.stderr
    isrctn.scripted.clear()
    later = env.cli("run", "--once", WATCHER_ISRCTN_URL=isrctn.url)
    assert later.exit_code == 0, later.stderr
    assert "ISRCTN12345678" in later.stdout
    assert f"lastEdited GE {days_ago(30).isoformat()}" in isrctn.requests[-1]["q"]


def isrctn_settings(env, isrctn):
    """The ISRCTN source's own settings, pointing at the local server."""
    return env.settings(WATCHER_ISRCTN_URL=isrctn.url).source("isrctn")


def test_more_trials_than_the_answer_holds_fails_rather_than_dropping_some(env, isrctn, http):
    from watcher.sources import FetchContext, Window
    from watcher.sources.isrctn import ISRCTNSource
    for n in range(3):
        add(isrctn, f"ISRCTN0000001{n}")
    env.write_queries(ISRCTN_ONLY)
    source = ISRCTNSource(isrctn_settings(env, isrctn), http, limit=2)
    with pytest.raises(Exception, match="3 trials match but the answer holds 2"):
        source.fetch(env.config().query("trials").search("isrctn"),
                     Window(days_ago(30), days_ago(0)), FetchContext(lambda s, i: set()))


def test_an_answer_holding_far_more_trials_than_its_total_fails(env, isrctn, http):
    from watcher.sources import FetchContext, Window
    from watcher.sources.isrctn import ISRCTNSource
    trials = "".join(trial_xml(f"ISRCTN{n:08d}", title="K", condition="Depression",
                               drug="Ketamine", updated=days_ago(1)) for n in range(1, 21))
    isrctn.fail(200, f'<allTrials totalCount="2">{trials}</allTrials>',
                content_type="application/xml")
    env.write_queries(ISRCTN_ONLY)
    source = ISRCTNSource(isrctn_settings(env, isrctn), http)
    with pytest.raises(Exception, match=r"^ISRCTN search: the answer holds 20 trials, more "
                                        r"than the 2 of its totalCount$"):
        source.fetch(env.config().query("trials").search("isrctn"),
                     Window(days_ago(30), days_ago(0)), FetchContext(lambda s, i: set()))


def test_an_answer_filled_to_its_limit_without_a_total_fails_rather_than_dropping_some(
        env, isrctn, http):
    # Without totalCount, an answer holding exactly `limit` trials may have left some out:
    # taking it as whole advanced the window past trials never fetched (missed for good).
    from watcher.sources import FetchContext, Window
    from watcher.sources.isrctn import ISRCTNSource
    trials = [trial_xml(f"ISRCTN{n:08d}", title="K", condition="Depression", drug="Ketamine",
                        updated=days_ago(1)) for n in range(1, 3)]
    env.write_queries(ISRCTN_ONLY)
    source = ISRCTNSource(isrctn_settings(env, isrctn), http, limit=2)
    query = env.config().query("trials").search("isrctn")
    window = Window(days_ago(30), days_ago(0))
    isrctn.fail(200, f"<allTrials>{''.join(trials)}</allTrials>", content_type="application/xml")
    with pytest.raises(SourceError, match=r"^ISRCTN search: the answer holds 2 trials, its "
                                          r"limit, and no totalCount: more may match; narrow "
                                          r"the terms$"):
        source.fetch(query, window, FetchContext(lambda s, i: set()))
    # Below the limit, the answer is whole, total or not.
    isrctn.fail(200, f"<allTrials>{trials[0]}</allTrials>", content_type="application/xml")
    assert source.fetch(query, window, FetchContext(lambda s, i: set())).matched == [
        "ISRCTN00000001"]


def test_a_status_change_between_two_polls_is_one_change_item(env, isrctn):
    add(isrctn)
    env.write_queries(ISRCTN_ONLY)
    assert env.cli("run", "--once", WATCHER_ISRCTN_URL=isrctn.url).exit_code == 0
    add(isrctn, status="Completed", updated=days_ago(0))
    second = env.cli("run", "--once", WATCHER_ISRCTN_URL=isrctn.url)
    assert second.exit_code == 0, second.stderr
    assert second.stdout.count("changed: status Recruiting → Completed") == 1
    assert second.stdout.count("changed:") == 1


def ctgov_trial(nct: str, isrctn: str, status: str = "RECRUITING") -> dict:
    return {"protocolSection": {
        "identificationModule": {"nctId": nct, "briefTitle": f"Ketamine trial {nct}",
                                 "secondaryIdInfos": [{"id": isrctn, "type": "REGISTRY",
                                                       "domain": "ISRCTN"}]},
        "statusModule": {"overallStatus": status},
        "conditionsModule": {"conditions": ["Depression"]},
        "armsInterventionsModule": {"interventions": [{"type": "DRUG", "name": "Ketamine"}]}}}


@pytest.mark.parametrize("isrctn_first", [False, True])
def test_a_trial_in_both_registries_is_one_study_with_both_ids_told_once(env, isrctn,
                                                                        isrctn_first):
    with CtgovServer() as ctgov:
        urls = {"WATCHER_CTGOV_URL": ctgov.url, "WATCHER_ISRCTN_URL": isrctn.url}
        env.write_queries(BOTH)
        if isrctn_first:
            add(isrctn, nct="NCT09000001")
            first = env.cli("run", "--once", **urls)
            ctgov.add_study(ctgov_trial("NCT09000001", "ISRCTN12345678"), updated=days_ago(0))
            second = env.cli("run", "--once", **urls)
            out = first.stdout + second.stdout
            assert second.exit_code == 0, second.stderr
        else:
            ctgov.add_study(ctgov_trial("NCT09000001", "ISRCTN12345678"), updated=days_ago(1))
            add(isrctn, nct="NCT09000001")
            first = env.cli("run", "--once", **urls)
            out = first.stdout
        assert first.exit_code == 0, first.stderr
        assert out.count("Ketamine trial") == 1, out
    store = env.store()
    study_id = store.find_study({"isrctn": "ISRCTN12345678"})
    assert study_id is not None and study_id == store.find_study({"nct": "NCT09000001"})
    assert [e.kind for e in store.events_of(study_id)] == ["new"]


def test_a_change_both_registries_report_is_one_item_telling_each_field_once(env, isrctn):
    """ClinicalTrials.gov says COMPLETED, ISRCTN says "Completed" (and its enrolment grew):
    one item for the trial, its status told once, in one vocabulary, and ISRCTN's field
    that ClinicalTrials.gov did not change told with it."""
    with CtgovServer() as ctgov:
        urls = {"WATCHER_CTGOV_URL": ctgov.url, "WATCHER_ISRCTN_URL": isrctn.url}
        env.write_queries(BOTH)
        ctgov.add_study(ctgov_trial("NCT09000001", "ISRCTN12345678"), updated=days_ago(2))
        add(isrctn, nct="NCT09000001", updated=days_ago(2))
        first = env.cli("run", "--once", **urls)
        assert first.exit_code == 0, first.stderr
        assert "\n  Recruiting · registered " in first.stdout, first.stdout  # dates labelled
        ctgov.add_study(ctgov_trial("NCT09000001", "ISRCTN12345678", "COMPLETED"),
                        updated=days_ago(0))
        add(isrctn, nct="NCT09000001", status="Completed", enrolment=80, updated=days_ago(0))
        second = env.cli("run", "--once", **urls)
    assert second.exit_code == 0, second.stderr
    assert "1 trial change" in second.stdout.splitlines()[0], second.stdout
    assert second.stdout.count("Ketamine trial") == 1, second.stdout
    assert second.stdout.count("status ") == 1, second.stdout
    assert "changed: status Recruiting → Completed; enrollment 60 → 80 (estimated)" in second.stdout
    third = env.cli("run", "--once", **urls)
    assert "Ketamine trial" not in third.stdout, "both change items were sent with it"


def test_a_status_kept_in_the_registry_s_own_words_is_no_change_after_the_upgrade(
        env, isrctn):
    """Records kept before statuses shared one vocabulary hold ISRCTN's 'Recruiting': the
    same status read now as RECRUITING is no change."""
    import json

    env.write_queries(ISRCTN_ONLY)
    add(isrctn, updated=days_ago(2))
    assert env.cli("run", "--once", WATCHER_ISRCTN_URL=isrctn.url).exit_code == 0
    store = env.store()
    [record] = store.records("isrctn")
    parsed = json.loads(record["parsed"])
    parsed["details"]["overall_status"] = "Recruiting"  # as the earlier parser kept it
    with store.transaction():
        store.db["source_records"].update(record["id"], {"parsed": json.dumps(parsed)})
    add(isrctn, enrolment=80, updated=days_ago(0))
    second = env.cli("run", "--once", WATCHER_ISRCTN_URL=isrctn.url)
    assert second.exit_code == 0, second.stderr
    assert "changed: enrollment 60 → 80" in second.stdout, second.stdout
    assert "status" not in second.stdout.split("changed:")[1].split("\n")[0]


def test_the_source_is_registered_after_clinicaltrials():
    names = list(REGISTRY)
    assert names.index("isrctn") == names.index("clinicaltrials") + 1
    assert REGISTRY["isrctn"].scheme == "isrctn"


# --- a real answer's shape: enrolment and a status derived from the dates ---------------------

REAL = FIXTURES / "isrctn_real" / "search_mecfs_3of11.xml"


def real_trials(as_of: date | None) -> dict[str, Study]:
    """The real answer's trials by ISRCTN number, read as of *as_of*."""
    answer = parse_search(REAL.read_bytes())
    return {r.source_id: r.study for r in parse_records(answer.trials, as_of=as_of)}


def test_an_ongoing_trial_shows_its_target_enrolment_and_an_ended_one_its_final_figure():
    # HERITAGE (ISRCTN15375673) is ongoing: totalFinalEnrolment 0, targetEnrolment 3060.
    trials = real_trials(date(2026, 12, 5))
    ongoing, ended = trials["ISRCTN15375673"], trials["ISRCTN16132141"]
    assert (ongoing.details["enrollment"], ongoing.details["enrollment_type"]) == (
        3060, "ESTIMATED")
    assert "3060 participants (estimated)" in trial_facts(ongoing)
    assert "(actual)" not in trial_facts(ongoing)
    # ended: final 49 of a target of 50
    assert (ended.details["enrollment"], ended.details["enrollment_type"]) == (49, "ACTUAL")
    assert "49 participants (actual)" in trial_facts(ended)


@pytest.mark.parametrize("isrctn,as_of,status,shown", [
    # recruitment 2026-09-01 .. 2028-02-29, trial ends 2028-08-31
    ("ISRCTN16025168", date(2026, 6, 1), "NOT_YET_RECRUITING", "Not yet recruiting"),
    ("ISRCTN16025168", date(2026, 9, 1), "RECRUITING", "Recruiting"),
    ("ISRCTN16025168", date(2028, 2, 29), "RECRUITING", "Recruiting"),
    ("ISRCTN16025168", date(2028, 3, 1), "ACTIVE_NOT_RECRUITING", "Active, not recruiting"),
    ("ISRCTN16025168", date(2028, 9, 1), "COMPLETED", "Completed"),
    # recruitment 2024-09-23 .. 2025-10-27, trial ends 2025-12-31
    ("ISRCTN16132141", date(2025, 11, 15), "ACTIVE_NOT_RECRUITING", "Active, not recruiting"),
    ("ISRCTN16132141", date(2026, 12, 5), "COMPLETED", "Completed"),
])
def test_a_trial_stating_no_status_has_the_one_its_dates_give_on_the_answer_s_day(
        isrctn, as_of, status, shown):
    study = real_trials(as_of)[isrctn]
    assert study.details["overall_status"] == status
    assert study.details["status_as_of"] == as_of.isoformat()
    assert shown in trial_facts(study)


def test_a_stated_status_wins_over_the_dates_and_no_day_means_no_guess():
    xml = trial_xml("ISRCTN12345678", title="K", condition="D", drug="K",
                    updated=days_ago(1), status="Suspended")
    [record] = parse_records([xml], as_of=date(2030, 1, 1))  # dates would say completed
    assert record.study.details["overall_status"] == "SUSPENDED"
    assert "status_as_of" not in record.study.details
    assert real_trials(None)["ISRCTN15375673"].details["overall_status"] == ""


def edited(study: Study, **details) -> Study:
    """*study* as the registry might have edited it."""
    return replace(study, details={**study.details, **details})


def test_time_passing_alone_is_no_status_change_but_the_registry_moving_a_date_is():
    before = real_trials(date(2026, 6, 1))["ISRCTN16025168"]  # not yet recruiting then
    later = real_trials(date(2026, 12, 5))["ISRCTN16025168"]  # recruiting now
    # an edit elsewhere in the record: the calendar's move is not told as a change
    assert changed_fields(before, edited(later, enrollment=250), []) == [
        ("enrollment", "enrollment 210 → 250 (estimated)")]
    # the registry closes recruitment early: the status it now gives is told, with the date
    closed = real_trials(date(2026, 12, 5))["ISRCTN16025168"]
    closed = edited(closed, primary_completion_date="2026-11-30",
                    overall_status="ACTIVE_NOT_RECRUITING")
    assert changed_fields(before, closed, []) == [
        ("status", "status Recruiting → Active, not recruiting"),
        ("primary_completion_date", "primary completion 2028-02-29 → 2026-11-30")]


def test_a_trial_kept_before_statuses_were_derived_raises_no_status_change():
    kept = real_trials(None)["ISRCTN15375673"]  # the earlier parser: no status at all
    now = real_trials(date(2026, 12, 5))["ISRCTN15375673"]
    assert now.details["overall_status"] == "RECRUITING"
    assert changed_fields(kept, now, []) == []


def test_a_real_answer_polled_twice_tells_only_what_the_registry_changed(env, isrctn):
    """Stored as of an earlier day (not yet recruiting then), the trial comes back edited
    (its target raised): the team is told the new target, not 'status Not yet recruiting →
    Recruiting', which only the calendar did."""
    import json

    env.write_queries(YAML.format(sources="isrctn:\n        condition: myalgic\n"
                                  "        intervention: coaching"))
    body = REAL.read_text().replace('totalCount="11"', 'totalCount="3"')  # trimmed to 3
    isrctn.fail(200, body, content_type="application/xml")
    first = env.cli("run", "--once", WATCHER_ISRCTN_URL=isrctn.url)
    assert first.exit_code == 0, first.stderr
    assert "3060 participants (estimated)" in first.stdout, first.stdout
    assert "· 0 participants" not in first.stdout
    store = env.store()
    record = next(r for r in store.records("isrctn") if r["source_id"] == "ISRCTN15375673")
    parsed = json.loads(record["parsed"])
    assert parsed["details"]["overall_status"] == "RECRUITING"
    parsed["details"].update(overall_status="NOT_YET_RECRUITING", status_as_of="2026-04-01")
    with store.transaction():
        store.db["source_records"].update(record["id"], {"parsed": json.dumps(parsed)})
    isrctn.fail(200, body.replace("<targetEnrolment>3060<", "<targetEnrolment>3100<")
                .replace('lastUpdated="2026-05-26T', f'lastUpdated="{days_ago(0)}T'),
                content_type="application/xml")
    second = env.cli("run", "--once", WATCHER_ISRCTN_URL=isrctn.url)
    assert second.exit_code == 0, second.stderr
    assert "changed: enrollment 3060 → 3100 (estimated)" in second.stdout, second.stdout
    assert "status" not in second.stdout.split("changed:")[1].split("\n")[0]


def test_an_ongoing_trial_kept_as_0_participants_before_the_fix_raises_no_enrolment_change():
    now = real_trials(date(2026, 12, 5))["ISRCTN15375673"]
    kept = edited(now, enrollment=0, enrollment_type="ACTUAL")  # how the earlier parser read it
    assert changed_fields(kept, now, []) == []
    # a target the registry really changed is still told
    assert changed_fields(now, edited(now, enrollment=3100), []) == [
        ("enrollment", "enrollment 3060 → 3100 (estimated)")]


@pytest.mark.parametrize("written,shown", [
    ("Phase II", "Phase 2"), ("Phase I/II", "Phase 1/2"), ("Phase II/III", "Phase 2/3"),
    ("Phase IV", "Phase 4"), ("Not Applicable", ""),
])
def test_an_isrctn_phase_reads_as_clinicaltrials_gov_s_does(written, shown):
    """ISRCTN's "Phase II · Recruiting" and ClinicalTrials.gov's PHASE2 RECRUITING are told
    the same words: "Phase 2 · Recruiting"."""
    xml = trial_xml("ISRCTN12345678", title="K", condition="D", drug="K",
                    updated=days_ago(1)).replace("<phase>Phase II</phase>",
                                                 f"<phase>{written}</phase>")
    [record] = parse_records([xml])
    facts = trial_facts(record.study)
    assert facts.startswith(f"{shown} · Recruiting · " if shown else "Recruiting · "), facts


def test_a_phase_change_is_told_in_the_same_words():
    now = real_trials(date(2026, 12, 5))["ISRCTN15375673"]
    before, after = edited(now, phases=["Phase II"]), edited(now, phases=["Phase II/III"])
    assert changed_fields(before, after, []) == [("phases", "phase Phase 2 → Phase 2/3")]


def test_an_enrolment_in_digits_int_cannot_read_fails_nothing():
    """'²' is a digit to str.isdigit but not to int(): a record carrying it (an upstream slip
    or a hostile answer) is read without a target, and the rest of the answer is unharmed."""
    body = REAL.read_text(encoding="utf-8").replace(
        "<targetEnrolment>3060</targetEnrolment>", "<targetEnrolment>3²</targetEnrolment>")
    records = parse_records(parse_search(body.encode()).trials, as_of=date(2026, 12, 5))
    assert [r.error for r in records] == [None, None, None]
    heritage = next(r.study for r in records if r.source_id == "ISRCTN15375673")
    assert heritage.details["enrollment"] is None
    assert "participants" not in trial_facts(heritage)
