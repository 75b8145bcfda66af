"""bioRxiv/medRxiv: every recorded answer parses into preprint -> published links, and the
client asks the likelier server first, medRxiv only for its new 10.64898 DOIs, against a local
server speaking the API's protocol."""

from __future__ import annotations

import pytest

from tests.helpers import FIXTURES
from watcher.errors import SourceError
from watcher.fakes.biorxiv import BiorxivServer
from watcher.http import HttpClient, RetryPolicy
from watcher.lookups.biorxiv import BiorxivClient, parse_details, parse_pubs, servers_for
from watcher.lookups.settings import LookupSettings
from watcher.versions import AUTHORITATIVE

BIORXIV = FIXTURES / "biorxiv_real"


def test_pubs_maps_a_preprint_to_its_journal_article():
    answer = parse_pubs((BIORXIV / "pubs_zhou.json").read_bytes())
    [link] = answer.links
    assert answer.found
    assert link.preprint == ("preprint_doi", "10.1101/2020.01.22.914952")
    assert link.published == ("doi", "10.1038/s41586-020-2012-7")
    assert (link.basis, link.via, link.journal, link.published_date) == (
        AUTHORITATIVE, "biorxiv", "Nature", "2020-02-03")
    [medrxiv] = parse_pubs((BIORXIV / "pubs_zhou_as_medrxiv.json").read_bytes()).links
    assert medrxiv.journal == "Scientific Reports" and "medRxiv" in medrxiv.note


def test_details_give_the_published_doi_and_na_is_not_published():
    [zhou] = parse_details((BIORXIV / "details_zhou.json").read_bytes()).links
    assert zhou.published == ("doi", "10.1038/s41586-020-2012-7")
    new_prefix = parse_details((BIORXIV / "details_medrxiv_new_prefix.json").read_bytes())
    assert new_prefix.found and new_prefix.links == [], '"published": "NA"'
    page = parse_details((BIORXIV / "interval_page.json").read_bytes())
    assert [link.published[1] for link in page.links] == [
        "10.1002/jmv.70630", "10.1080/09638288.2026.2723379"]


def test_no_posts_is_not_found_and_an_error_is_an_error():
    for parse in (parse_pubs, parse_details):
        answer = parse((BIORXIV / "no_posts.json").read_bytes())
        assert not answer.found and answer.links == []
    for bad in (b"<html>", b'{"messages": [{"status": "error"}], "collection": []}', b"{}"):
        with pytest.raises(SourceError):
            parse_pubs(bad)


def test_which_server_holds_a_preprint():
    assert servers_for("10.64898/2026.09.22.26363331") == ("medrxiv",)
    assert servers_for("10.1101/2021.01.27.21250617") == ("medrxiv", "biorxiv")
    assert servers_for("10.1101/2020.01.22.914952") == ("biorxiv", "medrxiv")
    assert servers_for("10.21203/rs.3.rs-123/v1") == ()


def _client(server: BiorxivServer) -> BiorxivClient:
    settings = LookupSettings(biorxiv_url=server.url, biorxiv_rate=100.0)
    return BiorxivClient(settings, HttpClient(timeout=5, retry=RetryPolicy(backoff=0.05)))


def test_the_client_finds_a_medrxiv_mapping_with_the_new_prefix():
    with BiorxivServer() as server:
        server.add("10.64898/2026.01.05.26300001", server="medrxiv",
                   published_doi="10.1001/jamapsychiatry.2026.0042",
                   journal="JAMA Psychiatry", published_date="2026-11-20")
        [link] = _client(server).published("10.64898/2026.01.05.26300001")
    assert link.published == ("doi", "10.1001/jamapsychiatry.2026.0042")
    assert link.journal == "JAMA Psychiatry"
    assert server.requests == ["/pubs/medrxiv/10.64898/2026.01.05.26300001/na/json"]


def test_the_other_server_is_asked_only_when_the_first_has_nothing():
    with BiorxivServer() as server:
        server.add("10.1101/2020.01.22.914952", server="medrxiv",
                   published_doi="10.5555/published")
        [link] = _client(server).published("10.1101/2020.01.22.914952")
        assert link.published == ("doi", "10.5555/published")
        assert [p.split("/")[2] for p in server.requests] == ["biorxiv", "medrxiv"]
        server.requests.clear()
        server.add("10.1101/2025.02.01.25321234", server="medrxiv")  # not published yet
        assert _client(server).published("10.1101/2025.02.01.25321234") == []
        assert len(server.requests) == 2
