"""A preprint the team was told about whose published version appears: one "now published in
JOURNAL (date)" item, never a second new study; through real polls of the local E-utilities
and Europe PMC servers and the real CLI."""

from __future__ import annotations

import json

import pytest

from tests.helpers import FIXTURES, days_ago
from watcher import digest as digest_module
from watcher.db.rows import PendingItem
from watcher.events import NowPublished
from watcher.fakes.europepmc import EuropePMCServer, preprint, publication
from watcher.fakes.eutils import records_from_xml
from watcher.identity import apply_link
from watcher.models import Match, Study
from watcher.render import email, slack, text
from watcher.versions import AUTHORITATIVE, VersionLink

#: The published version: a real PubMed record (Krystal JH et al., PNAS 2023).
PUBMED_FILE = FIXTURES / "pubmed_metapub/38011560.xml"
PMID, DOI, PMCID = "38011560", "10.1073/pnas.2305772120", "PMC10710048"
TITLE = ("Ketamine and the neurobiology of depression: Toward next-generation rapid-acting "
         "antidepressant treatments.")
PPR = "PPR700001"
PREPRINT_TITLE = "Ketamine and the neurobiology of depression: a review for clinicians"
PREPRINT_DOI = "10.1101/2023.05.01.700001"
JOURNAL = "Proc Natl Acad Sci U S A"

YAML = """\
destinations:
  team:
    kind: terminal
defaults:
  destinations: [team]
  lookback_days: 30
queries:
  - id: ketamine
    condition: Ketamine
    sources:
      pubmed:
        terms: all[sb]
      europepmc:
        terms: ketamine
        preprints_only: false
"""


@pytest.fixture
def epmc():
    with EuropePMCServer() as running:
        yield running


def run(env, epmc, *args: str) -> str:
    """One run's output, its wrapped lines joined again."""
    result = env.cli("run", "--once", *args, WATCHER_EUROPEPMC_URL=epmc.url)
    assert result.exit_code == 0, result.stderr
    return " ".join(result.stdout.split())


def the_preprint(epmc, indexed) -> None:
    epmc.add(preprint(PPR, title=PREPRINT_TITLE, indexed=indexed, doi=PREPRINT_DOI,
                      authors=("Krystal JH", "Kaye AP"), server="bioRxiv"))


def the_published_version(env, epmc, indexed) -> None:
    """The article reaches PubMed and Europe PMC (whose record says which preprint it was)."""
    _, article = records_from_xml(PUBMED_FILE.read_bytes())[0]
    env.server.add_article(article, entry_date=indexed)
    epmc.add(publication(PMID, title=TITLE, indexed=indexed, journal=JOURNAL,
                         preprint_of=PPR, doi=DOI))


def kinds(env, study_id: int) -> list[tuple[str, str, str]]:
    store = env.store()
    return [(event.kind, told.destination, told.state) for event in store.events_of(study_id)
            for told in store.deliveries_of(event.id)]


def test_preprint_told_last_week_then_published_is_one_now_published_item_told_once(
        env, epmc):
    env.write_queries(YAML)
    the_preprint(epmc, days_ago(8))
    first = run(env, epmc)
    assert first.count(PREPRINT_TITLE) == 1, first

    the_published_version(env, epmc, days_ago(0))
    second = run(env, epmc)
    assert "now published in Proc Natl Acad Sci U S A (2023 Dec 5); was a bioRxiv preprint" \
        in second, second
    assert "watcher: 1 now published since" in second
    assert second.count(f"* {TITLE}") == 1, "the study once, as its published version"
    for url in (f"https://europepmc.org/article/PPR/{PPR}", f"https://doi.org/{PREPRINT_DOI}",
                f"https://pubmed.ncbi.nlm.nih.gov/{PMID}/", f"https://doi.org/{DOI}"):
        assert url in second, url
    assert PREPRINT_TITLE in second, "the title changed: the preprint's is shown too"

    for _ in range(2):
        again = run(env, epmc)
        assert TITLE.rstrip(".") not in again and PREPRINT_TITLE not in again, again
    store = env.store()
    study_id = store.owner_of("ppr", PPR)
    assert store.owner_of("pmid", PMID) == study_id
    assert store.owner_of("preprint_doi", PREPRINT_DOI) == study_id
    assert store.owner_of("doi", DOI) == study_id
    told = kinds(env, study_id)
    assert told.count(("new", "team", "sent")) == 1
    assert told.count(("now_published", "team", "sent")) == 1
    assert [k for k in told if k[2] == "pending"] == []
    study = store.get_study(study_id)
    assert study.kind == "publication" and study.title == TITLE

    history = env.cli("status", "--study", PPR)
    assert history.exit_code == 0, history.stderr
    assert "Europe PMC link (CrossRef Pre-print loader)" in history.stdout, history.stdout
    assert f"ppr:{PPR} -> pmid:{PMID}" in history.stdout


def test_preprint_then_pubmed_then_europe_pmc_in_one_run_is_one_new_study(env, epmc):
    """All three versions arrive before the team was told anything: one new-study item (the
    study as published, every id on it), and no "now published" (nobody was told the
    preprint)."""
    env.write_queries(YAML)
    the_preprint(epmc, days_ago(3))
    the_published_version(env, epmc, days_ago(1))
    out = run(env, epmc)
    assert out.count(f"* {TITLE}") == 1, out
    assert PREPRINT_TITLE not in out and "now published" not in out
    store = env.store()
    study_id = store.owner_of("ppr", PPR)
    assert {scheme for scheme, _ in store.all_ids(study_id)} >= {
        "ppr", "preprint_doi", "pmid", "doi", "pmcid"}
    assert [k[0] for k in kinds(env, study_id)] == ["new"]


def test_a_published_version_known_only_by_its_link_is_told_and_its_record_attaches_later(
        env, epmc):
    env.write_queries(YAML)
    the_preprint(epmc, days_ago(8))
    run(env, epmc)
    store = env.store()
    study_id = store.owner_of("ppr", PPR)
    with store.transaction():  # a look-up (bioRxiv's mapping) says where it was published
        queued = apply_link(store, env.config(), VersionLink(
            preprint=("preprint_doi", PREPRINT_DOI), published=("doi", DOI),
            basis=AUTHORITATIVE, via="biorxiv", journal="PNAS", published_date="2023-12-05"),
            "2026-12-05T10:00:00+00:00")
    assert queued == 1
    assert store.owner_of("doi", DOI) == study_id, "the published DOI is claimed"
    store.close()

    the_published_version(env, epmc, days_ago(0))  # its records arrive afterwards
    out = run(env, epmc)
    assert "now published in PNAS (2023-12-05)" in out, out
    assert "1 now published" in out and out.count(f"* {TITLE}") == 1
    assert "watcher: 1 now published since" in out, "no second new-study alert"
    store = env.store()
    assert store.owner_of("pmid", PMID) == study_id
    assert [k[0] for k in kinds(env, study_id)] == ["new", "now_published"]
    assert run(env, epmc).count(TITLE.rstrip(".")) == 0


def test_every_renderer_says_now_published_what_changed_and_every_link():
    event = NowPublished.of(
        7, ("pmid", PMID), journal=JOURNAL, date="2023-12-05",
        published_ids=[f"pmid:{PMID}", f"doi:{DOI}"],
        preprint_ids=[f"ppr:{PPR}", f"preprint_doi:{PREPRINT_DOI}"],
        preprint_title=PREPRINT_TITLE, published_title=TITLE,
        rule="Europe PMC link (CrossRef Pre-print loader)")

    study = Study("pubmed", "publication", {"pmid": PMID, "doi": DOI}, TITLE,
                  journal=JOURNAL, authors=["Krystal JH"], year=2023)
    built = digest_module.build("team", [PendingItem(1, event, study,
                                                     [Match("ketamine", "pubmed")])],
                                {"ketamine": "Ketamine"}, [],
                                generated="2026-12-05T00:00:00", since=None)
    words = ["now published in Proc Natl Acad Sci U S A (2023-12-05)", PREPRINT_TITLE,
             f"europepmc.org/article/PPR/{PPR}", f"doi.org/{PREPRINT_DOI}",
             f"pubmed.ncbi.nlm.nih.gov/{PMID}/", f"doi.org/{DOI}"]
    shown = " ".join(text.render(built).split())
    posted = json.dumps([m.payload() for m in slack.render(built, threaded=True)])
    html = email.render(built).html
    for word in words:
        assert word in shown, ("text", word)
        assert word in posted, ("slack", word)
        assert word.replace("&", "&amp;") in html, ("email", word)
    assert "1 now published" in shown and "1 now published" in posted


def test_a_preprint_and_its_article_both_told_then_linked_tell_nothing_more(env, epmc):
    """Told as two studies before any link was known; the link arrives later: they become
    one study (the one told first), and neither alert nor a "now published" is sent again."""
    env.write_queries(YAML.replace("        preprints_only: false\n", ""))  # preprints only
    the_preprint(epmc, days_ago(8))
    assert PREPRINT_TITLE in run(env, epmc)
    _, article = records_from_xml(PUBMED_FILE.read_bytes())[0]
    env.server.add_article(article, entry_date=days_ago(1))
    assert f"* {TITLE}" in run(env, epmc), "no link known yet: told as a new study"
    store = env.store()
    pre, pub = store.owner_of("ppr", PPR), store.owner_of("pmid", PMID)
    assert pre != pub
    store.close()

    env.write_queries(YAML)  # now the Europe PMC search finds the article's record too
    epmc.add(publication(PMID, title=TITLE, indexed=days_ago(0), journal=JOURNAL,
                         preprint_of=PPR, doi=DOI))
    out = run(env, epmc)
    assert TITLE not in out and PREPRINT_TITLE not in out and "now published" not in out, out
    store = env.store()
    assert store.owner_of("pmid", PMID) == pre and store.survivor_of(pub) == pre
    told = kinds(env, pre)
    assert told == [("new", "team", "sent"), ("new", "team", "sent")], told


def test_a_study_known_as_published_carries_its_preprint_s_links_in_every_renderer():
    from watcher.events import NewStudy

    study = Study("pubmed", "publication", {"pmid": PMID, "doi": DOI, "ppr": PPR,
                                            "preprint_doi": PREPRINT_DOI}, TITLE,
                  journal=JOURNAL, authors=["Krystal JH"], year=2023)
    built = digest_module.build("team", [PendingItem(1, NewStudy.of(7), study,
                                                     [Match("ketamine", "pubmed")])],
                                {"ketamine": "Ketamine"}, [],
                                generated="2026-12-05T00:00:00", since=None)
    shown = " ".join(text.render(built).split())
    posted = json.dumps([m.payload() for m in slack.render(built, threaded=True)])
    mail = email.render(built)
    for url in (f"https://europepmc.org/article/PPR/{PPR}", f"https://doi.org/{PREPRINT_DOI}"):
        assert url in shown and url in posted, url
        assert f'href="{url}"' in mail.html, url
        assert url in " ".join(mail.text.split()), url
