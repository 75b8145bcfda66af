"""Europe PMC answers that are not what they should be: each fails the poll with one clear line
(never zero hits), and the query's position stays where it was, so the next good poll asks for
the same window again and loses nothing. And a record without any id: kept, told once."""

from __future__ import annotations

import json

import pytest

from tests.helpers import FIXTURES, days_ago
from watcher.errors import ParseError
from watcher.fakes.europepmc import EuropePMCServer, preprint
from watcher.parsers.europepmc import parse_search

YAML = """\
destinations:
  team:
    kind: terminal
defaults:
  destinations: [team]
  lookback_days: 30
queries:
  - id: preprints
    condition: Depression preprints
    sources:
      europepmc:
        terms: ketamine AND depression
"""
WANTED = "Ketamine for depression: a medRxiv preprint"


@pytest.fixture
def epmc():
    with EuropePMCServer() as running:
        for n in range(4):
            running.add(preprint(f"PPR90{n}", title=f"{WANTED} ({n})", indexed=days_ago(3)))
        yield running


def poll(env, epmc):
    return env.cli("run", "--once", WATCHER_EUROPEPMC_URL=epmc.url, WATCHER_RETRY_BACKOFF="0")


def assert_failed_and_kept(env, epmc, failed, message: str):
    """The run failed with one line naming Europe PMC and *message*; nothing was told and the
    position did not move; the next good poll asks for the whole look-back and tells it all."""
    assert failed.exit_code != 0
    out = failed.stderr + failed.stdout
    assert "Traceback" not in out
    lines = [line for line in failed.stderr.splitlines() if message in line]
    assert len(lines) == 1 and "Europe PMC" in lines[0], failed.stderr
    assert WANTED not in failed.stdout
    assert env.store().position("preprints", "europepmc").window_end is None
    epmc.scripted.clear()
    epmc.stuck_cursor = epmc.no_result_list = epmc.endless = False
    epmc.hit_count = None
    later = poll(env, epmc)
    assert later.exit_code == 0, later.stderr
    assert later.stdout.count(WANTED) == 4
    assert f"FIRST_IDATE:[{days_ago(30).isoformat()} TO" in epmc.queries[-1]


@pytest.mark.parametrize("body,content_type,message", [
    (json.dumps({"errorBean": {"errCode": 500, "errMsg": "Search engine unavailable"}}),
     "application/json", "error answer (errCode 500): Search engine unavailable"),
    ("{}", "application/json", "an empty JSON object, not a search answer"),
    ("", "application/json", "empty response body"),
    ("<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html",
     "received an HTML page"),
    ('{"version":"6.9","hitCount":4,"resultList":{"result":[{"id":"PPR9', "application/json",
     "invalid or truncated JSON"),
    ('{"version":"6.9","hitCount":0}', "application/json", "a stub"),
    ((FIXTURES / "europepmc_biomcp/error_not_open_access.xml").read_text(encoding="utf-8"),
     "application/xml", "error answer: Article with id PMC3040717 is not open access one"),
], ids=["errorBean", "empty-object", "empty-body", "html", "truncated", "stub", "xml-error"])
def test_an_answer_that_is_not_a_search_answer_fails_the_poll(env, epmc, body, content_type,
                                                             message):
    epmc.fail(200, body, content_type=content_type)
    env.write_queries(YAML)
    assert_failed_and_kept(env, epmc, poll(env, epmc), message)


def test_an_http_error_fails_the_poll_after_its_retries(env, epmc):
    for _ in range(10):
        epmc.fail(503, "Service Unavailable", content_type="text/plain")
    env.write_queries(YAML)
    assert_failed_and_kept(env, epmc, poll(env, epmc), "answered HTTP 503")


def test_a_hit_count_without_a_result_list_is_a_failure_not_zero_hits(env, epmc):
    epmc.no_result_list = True
    env.write_queries(YAML)
    assert_failed_and_kept(env, epmc, poll(env, epmc),
                           "hitCount is 4 but the answer has no resultList")


def test_a_cursor_that_never_advances_fails_rather_than_looping(env, epmc):
    for n in range(4, 2100):  # three pages of 1000
        epmc.add(preprint(f"PPR9{n:04d}", title=f"{WANTED} ({n})", indexed=days_ago(2)))
    epmc.stuck_cursor = True  # the second page hands back the cursor it was asked with
    env.write_queries(YAML)
    failed = poll(env, epmc)
    assert failed.exit_code != 0 and "Traceback" not in failed.stderr
    [line] = [line for line in failed.stderr.splitlines() if "cursor" in line]
    assert "Europe PMC search: the cursor did not advance" in line
    assert ("(page 2 gave a nextCursorMark already used) after 2000 of 2100 records; stopped "
            "rather than loop (preprints not polled; window kept for the next run)") in line
    assert len(epmc.requests) == 2, "stopped at the first repeated cursor"
    assert env.store().position("preprints", "europepmc").window_end is None


def test_more_records_than_the_hit_count_can_explain_fail_the_poll(env, epmc):
    for n in range(4, 40):
        epmc.add(preprint(f"PPR9{n:03d}", title=f"{WANTED} ({n})", indexed=days_ago(3)))
    epmc.hit_count = 4  # the answer says 4 and sends 40
    env.write_queries(YAML)
    failed = poll(env, epmc)
    assert failed.exit_code != 0
    assert "brought 40 records, more than the 4 of its hitCount" in failed.stderr
    assert env.store().position("preprints", "europepmc").window_end is None


def test_pages_that_repeat_themselves_with_fresh_cursors_fail_the_poll(env, epmc, http):
    from watcher.sources import FetchContext, Window
    from watcher.sources.europepmc import EuropePMCSettings, EuropePMCSource

    epmc.endless = True  # every page: a new cursor and the first page's records again
    env.write_queries(YAML)
    source = EuropePMCSource(EuropePMCSettings(url=epmc.url), http, page_size=2, rate=500)
    with pytest.raises(Exception, match=r"^Europe PMC search: 2 distinct records arrived of "
                                        r"the 4 of its hitCount"):
        source.fetch(env.config().query("preprints").search("europepmc"),
                     Window(days_ago(30), days_ago(0)), FetchContext(lambda s, i: set()))


@pytest.fixture
def http():
    from watcher.http import HttpClient, RetryPolicy

    with HttpClient(timeout=5, retry=RetryPolicy(attempts=2, backoff=0.01)) as client:
        yield client


def test_a_record_without_any_id_is_kept_and_told_once(env, epmc):
    epmc.add({"source": "PPR", "title": "Ketamine and depression: a record with no id",
              "firstIndexDate": days_ago(2).isoformat(), "bookOrReportDetails":
              {"publisher": "Research Square"}})
    env.write_queries(YAML)
    first = poll(env, epmc)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.count("a record with no id") == 1
    second = poll(env, epmc)
    assert second.exit_code == 0 and "a record with no id" not in second.stdout
    kept = [r for r in env.store().records() if r["source_id"].startswith("unidentified-")]
    assert len(kept) == 1


@pytest.mark.parametrize("body,message", [
    ('{"hitCount": "many", "resultList": {"result": []}}', "hitCount 'many' is not a count"),
    ('{"version": "6.9", "resultList": {"result": []}}', "no hitCount in the answer"),
    ('{"hitCount": 2, "resultList": {"result": {"id": 1}}}', "resultList holds no result list"),
    ("[1, 2]", "the answer is a JSON list, not a search answer"),
])
def test_other_shapes_are_refused_with_one_line(body, message):
    with pytest.raises(ParseError, match=message):
        parse_search(body)
