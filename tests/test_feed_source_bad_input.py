"""Feeds as a source, the hard cases: what the parser makes of real publishers' shapes and of
broken answers (never zero entries for a body that is not a feed), how an entry's ids are
found and normalised, which words match, and the YAML's feed options refused with
`path:line: message`."""

from __future__ import annotations

import json

import pytest

from tests.fakes.feed import Article, journal_rss, medrxiv_rss, publisher_rss
from watcher.errors import ParseError
from watcher.parsers.feed import parse_feed, parse_records
from watcher.sources.feed_terms import FeedMatcher, problem

URL = "https://feeds.example.org/toc.rss?token=s3cret"


def one(document: str, **kw):
    answer = parse_feed(document.encode("utf-8"), url=URL, **kw)
    [record] = answer.records
    return record


@pytest.mark.parametrize("body,what", [
    (b"", "an empty answer"),
    (b"   \n", "an empty answer"),
    (b"<!DOCTYPE html><html><head><title>503</title></head><body>Down</body></html>",
     "an HTML page"),
    (b'{"error": "rate limited"}', "it begins '{\"error\": \"rate limited\"}'"),
    (b"Service Unavailable", "it begins 'Service Unavailable'"),
])
def test_a_body_that_is_not_a_feed_is_a_failure_never_zero_entries(body, what):
    with pytest.raises(ParseError) as failed:
        parse_feed(body, url=URL, content_type="text/html")
    assert str(failed.value) == ("feed https://feeds.example.org/toc.rss: the answer is not an "
                                 f"RSS or Atom feed ({what})")
    assert "s3cret" not in str(failed.value), "a private feed's token is never shown"


def test_a_feed_broken_before_any_entry_is_a_failure_but_an_empty_feed_is_not():
    with pytest.raises(ParseError, match="malformed feed, no entry could be read"):
        parse_feed(b'<rss version="2.0"><channel><title>T</title><item><title>a</titl',
                   url=URL)  # the fragment of an entry it holds carries nothing
    empty = parse_feed(b'<rss version="2.0"><channel><title>Quiet journal</title></channel>'
                       b"</rss>", url=URL)
    assert (empty.title, empty.records, empty.warnings) == ("Quiet journal", [], [])


def test_a_feed_served_as_html_or_with_a_wrong_charset_reads_without_a_warning():
    document = journal_rss("Molecular Psychiatry", [Article("Ketamine", doi="10.1038/x1")])
    answer = parse_feed(document.encode(), url=URL, content_type="text/html; charset=latin-1")
    assert answer.warnings == [] and len(answer.records) == 1


def test_a_journal_rss_entry_keeps_its_doi_authors_journal_and_date():
    record = one(journal_rss("Molecular Psychiatry", [Article(
        "Ketamine &amp; depression", "<p>Rapid <i>effect</i>.</p>",
        doi="10.1038/S41380-026-01234-5", date="2026-06-01")]))
    study = record.study
    assert record.source_id == "https://www.nature.com/articles/10.1038/S41380-026-01234-5"
    assert study.ids == {"doi": "10.1038/s41380-026-01234-5"}, "lower-cased, one scheme"
    assert study.title == "Ketamine & depression" and study.kind == "publication"
    assert study.abstract.endswith("Rapid effect .")
    assert (study.authors, study.journal, study.published, study.year) == (
        ["Jane Smith", "Bob Jones"], "Molecular Psychiatry", "2026-06-01", 2026)


def test_a_publisher_rss_entry_takes_its_doi_from_the_link_without_its_query():
    article = Article("Ketamine in adolescents", "Trial.", doi=None,
                      link="https://onlinelibrary.wiley.com/doi/10.1002/da.23456?af=R",
                      authors=("A. Author",))
    study = one(publisher_rss("Depression and Anxiety", [article])).study
    assert study.ids == {"doi": "10.1002/da.23456"}
    assert study.journal == "Depression and Anxiety", "prism:publicationName"
    assert study.published == "2026-06-01", "pubDate"


def test_a_medrxiv_entry_is_a_preprint_its_version_not_part_of_the_doi():
    old = Article("Ketamine for PTSD", "Background.", doi="10.1101/2026.05.01.26300001",
                  authors=("Smith, J.", "Doe, A."))
    new = Article("Esketamine in OCD", "Methods.", doi=None,
                  link="https://www.medrxiv.org/content/10.64898/2026.06.15.26355706v2?rss=1")
    answer = parse_feed(medrxiv_rss("Psychiatry", [old, new]).encode(), url=URL)
    first, second = (r.study for r in answer.records)
    assert first.ids == {"preprint_doi": "10.1101/2026.05.01.26300001"}
    assert first.kind == "preprint" and first.authors == ["Smith, J.", "Doe, A."]
    assert second.ids == {"preprint_doi": "10.64898/2026.06.15.26355706"}, "from its link"
    assert first.journal == second.journal == "medRxiv", "the server, not the feed's title"


@pytest.mark.parametrize("item,ids,linked", [
    # a PubMed search feed: the link names the PMID, dc:identifier the DOI
    ("<link>https://pubmed.ncbi.nlm.nih.gov/38011560/?utm_source=rss</link>"
     "<dc:identifier>doi:10.1073/pnas.2305772120</dc:identifier>",
     {"pmid": "38011560", "doi": "10.1073/pnas.2305772120"}, {}),
    # a registry's feed: the trial itself
    ("<link>https://clinicaltrials.gov/study/nct05123456?term=ketamine</link>",
     {"nct": "NCT05123456"}, {}),
    ("<link>https://www.isrctn.com/ISRCTN12345678</link>", {"isrctn": "ISRCTN12345678"}, {}),
    # an article naming its trial: linked, not the article's own id
    ("<link>https://j.example.org/a/1</link><description>Registered as NCT05123456."
     "</description>", {}, {"nct": ["NCT05123456"]}),
    # a publisher's abstract page: the DOI without the page's name
    ("<link>https://onlinelibrary.wiley.com/doi/10.1002/DA.23456/abstract</link>",
     {"doi": "10.1002/da.23456"}, {}),
    # a malformed DOI is no id; the DOI in the text is taken instead
    ("<link>https://j.example.org/a/2</link><prism:doi>10.1038</prism:doi>"
     "<description>See https://doi.org/10.1177/0269881126000001.</description>",
     {"doi": "10.1177/0269881126000001"}, {}),
    # nothing at all
    ("<link>https://j.example.org/a/3</link>", {}, {}),
])
def test_ids_are_found_in_identifiers_links_and_text(item, ids, linked):
    document = ('<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
                'xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/"><channel>'
                f"<title>T</title><item><title>Ketamine</title>{item}</item></channel></rss>")
    study = one(document).study
    assert study.ids == ids and study.linked_ids == linked
    assert study.kind == ("trial" if {"nct", "isrctn"} & set(ids) else "publication")


def test_an_entry_without_any_id_is_keyed_by_its_link_else_a_stable_hash():
    without_link = ('<rss version="2.0"><channel><title>T</title><link>https://j.example.org/'
                    "</link><item><title>Ketamine audit</title><description>Text.</description>"
                    "</item></channel></rss>")
    first, again = one(without_link), one(without_link)
    assert first.source_id.startswith("entry-") and first.source_id == again.source_id
    assert first.study.ids == {}
    numbered = one('<rss version="2.0"><channel><title>T</title><link>https://j.example.org/'
                   '</link><item><title>K</title><guid isPermaLink="false">1234</guid></item>'
                   "</channel></rss>")
    assert numbered.source_id == "https://j.example.org#1234", "a bare number made global"


def test_entries_listed_twice_are_kept_once_and_counted_in_one_warning():
    same = Article("Ketamine", "x", doi="10.1000/a", guid="urn:x:1", link="https://j/1")
    document = publisher_rss("J", [same, same, Article("Other", doi="10.1000/b"), same])
    answer = parse_feed(document.encode(), url=URL)
    assert [r.study.ids for r in answer.records] == [{"doi": "10.1000/a"}, {"doi": "10.1000/b"}]
    assert answer.warnings == ["feed https://feeds.example.org/toc.rss lists 2 entries again "
                               "under an id it already used; each is kept once"]


def test_a_kept_entry_reparses_to_the_same_study_and_a_damaged_one_fails_alone():
    record = one(journal_rss("Molecular Psychiatry", [Article("Ketamine", doi="10.1038/x1")]))
    good, damaged = parse_records([record.raw, "{not json"])
    assert (good.source_id, good.study) == (record.source_id, record.study)
    assert damaged.study is None and "not a kept feed entry" in damaged.error
    assert json.loads(record.raw)["feed"] == {"title": "Molecular Psychiatry",
                                              "link": "https://www.nature.com/mp"}


def test_feed_words_match_case_punctuation_phrases_and_prefixes():
    matcher = FeedMatcher.of('ketamine OR "R-ketamine" OR arketamin*',
                             "treatment resistant depression OR TRD")
    assert matcher.matches("(R)-Ketamine in Treatment-Resistant Depression", "")
    assert matcher.matches("Arketamine trial", "adults with TRD")
    assert not matcher.matches("Esketamine in TRD", ""), "esketamine is its own word"
    assert not matcher.matches("Ketamine for pain", "depression of breathing"), "no phrase"
    assert not matcher.matches("Ketaminergic", "TRD")


@pytest.mark.parametrize("terms,message", [
    ("ketamine AND depression", "'AND' is not supported in feed terms"),
    ("ketamine NOT pain", "'NOT' is not supported in feed terms"),
    ("(ketamine)", "'(' is not supported in feed terms"),
    ("ketamine[tiab]", "'[' is not supported in feed terms"),
    ("ketamine OR", "an empty part"),
    ("ket*mine", "a '*' may only end a part"),
])
def test_terms_a_feed_cannot_use_are_refused(terms, message):
    assert message in (problem(terms) or "")


def test_plain_terms_are_accepted():
    assert problem('ketamine OR "R-ketamine" OR arketamin* OR esketamine or not') is None


QUERY = """\
interventions:
  ketamine:
    feed: {intervention}
queries:
  - id: q
    condition: Depression
    intervention: ketamine
    sources:
      feed:
        urls:
          - https://www.nature.com/mp.rss
          - {url}
{terms}"""


@pytest.mark.parametrize("intervention,url,terms,line,message", [
    ("ketamine", "ftp://example.org/feed", "", 12,
     "sources.feed.urls[1]: 'ftp://example.org/feed' is not an http(s) URL with a host"),
    ("ketamine", "https://j.example.org/rss", "        terms: depression AND adults\n", 13,
     "sources.feed.terms: 'AND' is not supported in feed terms"),
    ("ketamine AND esketamine", "https://j.example.org/rss", "", 9,
     "query 'q' cannot use its shared intervention's feed terms: 'AND' is not supported"),
])
def test_bad_feed_options_are_path_line_message(env, intervention, url, terms, line, message):
    path = env.write_queries(QUERY.format(intervention=intervention, url=url, terms=terms))
    result = env.cli("validate")
    assert result.exit_code == 2
    assert f"{path}:{line}: " in result.stderr and message in result.stderr, result.stderr


def test_a_feed_query_without_any_words_is_refused(env):
    path = env.write_queries("queries:\n  - id: q\n    condition: Depression\n    sources:\n"
                             "      feed:\n        urls: [https://www.nature.com/mp.rss]\n")
    result = env.cli("validate")
    assert result.exit_code == 2
    assert f"{path}:5: query 'q' has no feed terms" in result.stderr, result.stderr
