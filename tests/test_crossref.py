"""Crossref: every recorded answer parses (every updated-by entry read, not just the first),
and the client asks for many DOIs per request, within Crossref's rate, through 429s and 500s,
against a local server speaking Crossref's protocol."""

from __future__ import annotations

import json

import pytest

from tests.helpers import FIXTURES
from watcher.errors import SourceError
from watcher.fakes.crossref import CrossrefServer, work
from watcher.http import HttpClient, RetryPolicy
from watcher.lookups.crossref import CrossrefClient, parse_answer
from watcher.lookups.settings import LookupSettings
from watcher.versions import AUTHORITATIVE

CROSSREF = FIXTURES / "crossref_real"


def _read(name: str) -> bytes:
    return (CROSSREF / name).read_bytes()


def test_every_updated_by_entry_is_read_retraction_watch_ones_included():
    [wakefield] = parse_answer(_read("wakefield_work.json"))
    assert wakefield.doi == "10.1016/s0140-6736(97)11096-0"
    assert [(u.kind, u.doi, u.source, u.record_id) for u in wakefield.updated_by] == [
        ("correction", "10.1016/s0140-6736(04)15715-2", "retraction-watch", "17269"),
        ("retraction", "10.1016/s0140-6736(10)60175-4", "retraction-watch", "4036")]
    assert [u.stem for u in wakefield.updated_by] == ["Erratum", "Retraction"]
    assert all(u.retraction_watch for u in wakefield.updated_by)
    assert wakefield.links == ()


def test_a_notice_names_what_it_retracts_and_an_addendum_is_no_correction():
    [notice] = parse_answer(_read("retraction_notice.json"))
    assert [(u.kind, u.doi) for u in notice.update_to] == [
        ("retraction", "10.1016/s0140-6736(97)11096-0")]
    assert notice.updated_by == ()
    [nature] = parse_answer(_read("nature_work.json"))
    assert [(u.kind, u.source, u.stem) for u in nature.updated_by] == [
        ("addendum", "publisher", None)]


def test_has_preprint_is_an_authoritative_link_carrying_the_journal_and_date():
    [nature] = parse_answer(_read("nature_work.json"))
    [link] = nature.links
    assert link.preprint == ("preprint_doi", "10.1101/2020.01.22.914952")
    assert link.published == ("doi", "10.1038/s41586-020-2012-7")
    assert (link.basis, link.via, link.journal, link.published_date) == (
        AUTHORITATIVE, "crossref", "Nature", "2020-02-03")
    assert "has-preprint" in link.note


def test_is_preprint_of_links_the_other_way():
    item = work("10.1101/2024.05.01.24306123", relation={"is-preprint-of": [
        {"id-type": "doi", "id": "https://doi.org/10.1001/JAMAPSYCHIATRY.2025.1", "asserted-by":
         "subject"}]})
    [parsed] = parse_answer(json.dumps({"status": "ok", "message-type": "work",
                                        "message": item}))
    [link] = parsed.links
    assert link.preprint == ("preprint_doi", "10.1101/2024.05.01.24306123")
    assert link.published == ("doi", "10.1001/jamapsychiatry.2025.1")


def test_a_work_list_parses_and_anything_else_is_an_error_not_zero_updates():
    assert [w.doi for w in parse_answer(_read("search_response.json"))] == [
        "10.36255/long-covid-public-education", "10.1002/9781119891338.ch1"]
    for bad in (_read("agency_response.json"), b"<html>busy</html>",
                b'{"status": "failed", "message": [{"type": "validation-failure"}]}'):
        with pytest.raises(SourceError):
            parse_answer(bad)


def test_a_malformed_entry_is_skipped_and_the_rest_kept():
    item = work("10.5555/ok", updated_by=[
        {"type": "retraction"}, "nonsense",
        {"DOI": "not a doi", "type": "retraction"},
        {"DOI": "10.5555/notice", "type": "Expression-of-Concern", "source": "publisher"}])
    [parsed] = parse_answer(json.dumps({"status": "ok", "message-type": "work",
                                        "message": item}))
    assert [(u.kind, u.stem) for u in parsed.updated_by] == [
        ("expression_of_concern", "ExpressionOfConcern")]


# --- the client against a local Crossref ------------------------------------------------------

def _client(server: CrossrefServer, *, rate: float = 100.0, batch: int = 50,
            attempts: int = 4) -> CrossrefClient:
    settings = LookupSettings(crossref_url=server.url, crossref_rate=rate,
                              mailto="team@example.org")
    http = HttpClient(timeout=5, retry=RetryPolicy(attempts=attempts, backoff=0.05))
    return CrossrefClient(settings, http, batch=batch)


def test_many_dois_are_asked_in_few_requests_with_the_polite_pool_contact():
    dois = [f"10.5555/study.{n}" for n in range(120)]
    with CrossrefServer() as server:
        for doi in dois[::3]:
            server.add(work(doi))
        found = _client(server).works([d.upper() for d in dois])
    assert len(server.requests) == 3, "120 DOIs, 50 a request"
    assert sorted(found) == sorted(dois[::3])
    assert sorted(server.asked()) == sorted(dois)
    assert all(r.params.get("mailto") == "team@example.org" for r in server.requests)
    assert all(r.params["rows"] == str(len(r.dois)) for r in server.requests)


def test_the_client_slows_to_the_rate_crossref_grants():
    with CrossrefServer(limit=2, interval=1) as server:
        _client(server, rate=100.0, batch=10).works(f"10.5555/s.{n}" for n in range(40))
    times = [r.at for r in server.requests]
    assert len(times) == 4
    assert server.throttled == 0, "never over the limit, so never a 429"
    assert all(sum(t <= other < t + 1.0 for other in times) <= 2 for t in times), \
        "at most 2 requests in any second"


def test_a_429_is_waited_out_as_retry_after_says_then_answered():
    with CrossrefServer(retry_after=1) as server:
        server.add(work("10.5555/a"))
        server.add(work("10.5555/b"))
        client = _client(server, rate=100.0, batch=1)
        found = client.works(["10.5555/a"])
        server.fail(429)
        found.update(client.works(["10.5555/b"]))
    assert sorted(found) == ["10.5555/a", "10.5555/b"]
    assert server.throttled == 1
    retried = [r for r in server.requests if r.dois == ["10.5555/b"]]
    assert len(retried) == 2 and retried[1].at - retried[0].at >= 1.0, "Retry-After obeyed"


def test_a_500_that_persists_is_one_error_line():
    with CrossrefServer() as server:
        server.fail(500, "internal", times=10)
        with pytest.raises(SourceError) as failure:
            _client(server, attempts=2).works(["10.5555/a"])
    assert "Crossref" in str(failure.value) and "500" in str(failure.value)
    assert "\n" not in str(failure.value)


def test_a_doi_with_a_comma_is_asked_alone():
    with CrossrefServer() as server:
        server.add(work("10.5555/a,b"))
        server.add(work("10.5555/c"))
        found = _client(server).works(["10.5555/a,b", "10.5555/c"])
    assert sorted(found) == ["10.5555/a,b", "10.5555/c"]
    assert [r.dois for r in server.requests] == [["10.5555/c"], ["10.5555/a,b"]]
