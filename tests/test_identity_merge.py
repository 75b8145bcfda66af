"""Records sharing an id are one study whichever arrived first; a preprint and its published
version are one study once a link says so; what was told is never told again for a copy
merged later; conflicting ids are logged and both studies kept."""

from __future__ import annotations

import json

from tests.helpers import FIXTURES
from tests.helpers.pubmed import studies_of
from watcher.db import Store
from watcher.events import NewStudy, NowPublished
from watcher.identity import apply_link
from watcher.models import Study
from watcher.versions import AUTHORITATIVE, VersionLink

#: A real PubMed record (Krystal JH et al., PNAS 2023): the published version.
PUBLISHED = studies_of((FIXTURES / "pubmed_metapub/38011560.xml").read_bytes())[0]
PMID, DOI = PUBLISHED.ids["pmid"], PUBLISHED.ids["doi"]
PPR, PREPRINT_DOI = "PPR700001", "10.1101/2023.05.01.538999"


def preprint(title: str = "", **ids: str) -> Study:
    """The same study as a Europe PMC preprint record would give it."""
    return Study(source="europepmc", kind="preprint",
                 ids=ids or {"ppr": PPR, "preprint_doi": PREPRINT_DOI},
                 title=title or "Ketamine and the neurobiology of depression: toward "
                 "next-generation rapid-acting antidepressants",
                 authors=["Krystal JH", "Kaye AP"], journal="bioRxiv", year=2023,
                 published="2023 May 2")


def save(store: Store, study: Study, source_id: str, now: str, source: str = "") -> int:
    with store.transaction():
        saved = store.save_record(source or study.source, source_id,
                                  json.dumps(study.to_dict()), study, now)
    assert saved.study_id is not None
    return saved.study_id


def tell(store: Store, study_id: int, destination: str, now: str, *, sent: bool) -> int:
    """Queue the study's new-study item to *destination* (and deliver it when *sent*)."""
    with store.transaction():
        event_id, _ = store.add_event(NewStudy.of(study_id), now)
        store.queue(destination, event_id, now)
    outbox_id = store.conn.execute("SELECT id FROM outbox WHERE destination = ? AND"
                                   " event_id = ?", (destination, event_id)).fetchone()[0]
    if sent:
        digest = store.begin_digest(destination, [outbox_id], now=now, through_poll=0,
                                    receipt="")
        store.record_message(digest, destination, part=1, outbox_ids=[outbox_id],
                             external_id=None, now=now)
        store.finish_digest(digest, now=now)
    return outbox_id


def owed(store: Store, destination: str) -> list[tuple[str, int | None]]:
    return [(item.event.kind, item.event.study_id) for item in store.pending(destination)]


def link(**extra: str) -> VersionLink:
    return VersionLink(preprint=("ppr", PPR), published=("pmid", PMID), basis=AUTHORITATIVE,
                       via="europepmc", note="CrossRef Pre-print loader", **extra)


def test_a_told_preprint_and_its_published_record_become_one_study_told_as_now_published(
        tmp_path):
    store = Store(tmp_path / "w.db")
    pre = save(store, preprint(), PPR, "2026-11-20T09:00:00")
    tell(store, pre, "team", "2026-11-20T09:00:00", sent=True)
    pub = save(store, PUBLISHED, PMID, "2026-12-01T09:00:00")
    assert pub != pre, "nothing shared yet: two studies"
    tell(store, pub, "team", "2026-12-01T09:00:00", sent=False)

    with store.transaction():
        queued = apply_link(store, None, link(published_date="2023-12-05"),
                            "2026-12-01T09:00:01")
    assert queued == 1
    assert not store.study_exists(pub) and store.survivor_of(pub) == pre
    study = store.get_study(pre)
    assert study.ids["ppr"] == PPR and study.ids["preprint_doi"] == PREPRINT_DOI
    assert study.ids["pmid"] == PMID and study.ids["doi"] == DOI
    assert study.title == PUBLISHED.title, "the merged view is the published record's"
    [(kind, study_id)] = owed(store, "team")
    assert (kind, study_id) == ("now_published", pre), "the copy's new-study item set aside"
    [event] = [e for e in store.events_of(pre) if isinstance(e, NowPublished)]
    assert event.key == f"now_published:{pre}:pmid:{PMID}"
    assert event.changes_text().startswith(
        "now published in Proc Natl Acad Sci U S A (2023 Dec 5); was a bioRxiv preprint")
    urls = [url for _, url in event.links()]
    assert f"https://europepmc.org/article/PPR/{PPR}" in urls
    assert f"https://doi.org/{PREPRINT_DOI}" in urls
    assert f"https://pubmed.ncbi.nlm.nih.gov/{PMID}/" in urls
    assert f"https://doi.org/{DOI}" in urls
    assert event.preprint_title and event.published_title == PUBLISHED.title

    with store.transaction():
        assert apply_link(store, None, link(), "2026-12-02T09:00:00") == 0, "told once"


def test_a_copy_merged_after_its_alert_was_sent_is_not_sent_again(tmp_path):
    store = Store(tmp_path / "w.db")
    first = save(store, PUBLISHED, PMID, "2026-11-01T09:00:00")
    tell(store, first, "team", "2026-11-01T09:00:00", sent=True)
    # The same article from a feed, only its DOI-less link known: a second study, queued.
    copy = Study(source="feed", kind="publication", ids={"pmcid": PUBLISHED.ids["pmcid"],
                                                          "doi": "10.9999/other-copy"},
                 title=PUBLISHED.title)
    with store.transaction():
        store.conn.execute("DELETE FROM study_ids WHERE scheme = 'pmcid'")  # as if unknown
    second = save(store, copy, "feed-1", "2026-11-02T09:00:00")
    assert second != first
    tell(store, second, "team", "2026-11-02T09:00:00", sent=False)
    tell(store, second, "elsewhere", "2026-11-02T09:00:00", sent=False)

    # A record carrying ids of both: one study, the one told first.
    bridge = Study(source="pubmed", kind="publication",
                   ids={"pmid": PMID, "doi": "10.9999/other-copy"}, title=PUBLISHED.title)
    assert save(store, bridge, PMID, "2026-11-03T09:00:00") == first
    assert store.survivor_of(second) == first
    assert owed(store, "team") == [], "team had it already: the copy is never sent"
    assert owed(store, "elsewhere") == [("new", first)], \
        "only the copy was owed there: still owed, showing the survivor"
    assert store.new_item_states(first) == {"elsewhere": "pending", "team": "sent"}
    joins = [(j.source, j.source_id, j.merged_study, j.rule) for j in store.joins_of(first)]
    assert joins == [("pubmed", PMID, None, "first record"),
                     ("feed", "feed-1", None, "first record"),
                     ("pubmed", PMID, second, "shared id doi:10.9999/other-copy")]


def test_one_doi_claimed_by_two_pmids_is_logged_and_both_studies_kept(tmp_path):
    store = Store(tmp_path / "w.db")
    article = save(store, PUBLISHED, PMID, "2026-11-01T09:00:00")
    erratum = Study(source="pubmed", kind="publication", ids={"pmid": "99000001", "doi": DOI},
                    title="Correction to: " + PUBLISHED.title)
    other = save(store, erratum, "99000001", "2026-11-02T09:00:00")
    assert other != article and store.study_exists(article) and store.study_exists(other)
    [conflict] = store.id_conflicts()
    assert (conflict.scheme, conflict.value, conflict.owner_study,
            conflict.claimed_by_study) == ("doi", DOI, article, other)
    # a link naming the erratum's PMID as the preprint's published version: still two
    pre = save(store, preprint(), PPR, "2026-11-03T09:00:00")
    with store.transaction():
        apply_link(store, None, link(), "2026-11-03T09:00:01")
        assert apply_link(store, None, VersionLink(
            preprint=("ppr", PPR), published=("pmid", "99000001"), basis=AUTHORITATIVE,
            via="europepmc"), "2026-11-03T09:00:02") == 0
    assert store.survivor_of(pre) == article, "nothing told: the older study kept"
    assert store.study_exists(other)
    assert any(c.value == "99000001" and c.claimed_by_study == article
               for c in store.id_conflicts())


def test_two_preprints_claiming_one_pmid_are_a_conflict_never_merged(tmp_path):
    store = Store(tmp_path / "w.db")
    one = save(store, preprint(), PPR, "2026-11-01T09:00:00")
    two = save(store, preprint(ppr="PPR700002"), "PPR700002", "2026-11-01T09:00:00")
    pub = save(store, PUBLISHED, PMID, "2026-11-02T09:00:00")
    with store.transaction():
        apply_link(store, None, link(), "2026-11-02T09:00:01")
        apply_link(store, None, VersionLink(preprint=("ppr", "PPR700002"),
                                            published=("pmid", PMID), basis=AUTHORITATIVE,
                                            via="europepmc"), "2026-11-02T09:00:02")
    assert store.survivor_of(pub) == one
    assert store.study_exists(two) and store.get_study(two).ids == {"ppr": "PPR700002"}


def test_a_preprint_doi_given_as_a_plain_doi_is_the_same_preprint(tmp_path):
    """A source that does not tell a preprint server's DOI apart (PubMed lists medRxiv
    preprints with a plain DOI) still finds the preprint Europe PMC gave: one study, both
    versions' DOIs kept under their own schemes."""
    store = Store(tmp_path / "w.db")
    pre = save(store, preprint(), PPR, "2026-11-01T09:00:00")
    same = Study(source="feed", kind="preprint", ids={"doi": f"https://doi.org/{PREPRINT_DOI}"},
                 title="The same preprint, from a feed")
    assert save(store, same, "entry-1", "2026-11-02T09:00:00") == pre
    assert store.joins_of(pre)[-1].rule == f"shared id preprint_doi:{PREPRINT_DOI}"
    published = save(store, PUBLISHED, PMID, "2026-11-03T09:00:00")
    with store.transaction():
        apply_link(store, None, link(), "2026-11-03T09:00:01")
    assert store.survivor_of(published) == pre
    assert store.get_study(pre).ids["preprint_doi"] == PREPRINT_DOI
    assert store.get_study(pre).ids["doi"] == DOI


def test_a_preprint_pubmed_indexes_joins_its_article_by_an_authoritative_link_only(tmp_path):
    """PubMed lists some medRxiv preprints under a PMID of their own: bioRxiv's mapping joins
    it to its article (the article's PMID is the one shown); a guess never does."""
    store = Store(tmp_path / "w.db")
    indexed = Study(source="pubmed", kind="preprint",
                    ids={"pmid": "37000001", "doi": PREPRINT_DOI},
                    title=PUBLISHED.title, authors=["Krystal JH"], year=2023)
    pre = save(store, indexed, "37000001", "2026-11-01T09:00:00")
    tell(store, pre, "team", "2026-11-01T09:00:00", sent=True)
    pub = save(store, PUBLISHED, PMID, "2026-11-02T09:00:00")
    guess = VersionLink(preprint=("preprint_doi", PREPRINT_DOI), published=("pmid", PMID),
                        basis="title_author", via="europepmc")
    with store.transaction():
        assert apply_link(store, None, guess, "2026-11-02T09:00:01") == 0
    assert store.study_exists(pub), "a guess never joins two PMIDs"
    with store.transaction():
        queued = apply_link(store, None, VersionLink(
            preprint=("preprint_doi", PREPRINT_DOI), published=("doi", DOI),
            basis=AUTHORITATIVE, via="biorxiv"), "2026-11-02T09:00:02")
    assert queued == 1 and store.survivor_of(pub) == pre
    assert store.get_study(pre).ids["pmid"] == PMID
    assert ("pmid", "37000001") in store.all_ids(pre)
    # two preprints still never join one article
    other = save(store, preprint(ppr="PPR700009", preprint_doi="10.1101/2023.06.01.000009"),
                 "PPR700009", "2026-11-03T09:00:00")
    with store.transaction():
        apply_link(store, None, VersionLink(preprint=("ppr", "PPR700009"),
                                            published=("pmid", PMID), basis=AUTHORITATIVE,
                                            via="europepmc"), "2026-11-03T09:00:01")
    assert store.study_exists(other) and store.survivor_of(other) == other


def test_a_study_merged_away_leaves_its_number_unused(tmp_path):
    """The newest study merged into an older one: the next new study gets a number of its
    own (the merged one's resolves to its survivor, and its new-study event is taken)."""
    store = Store(tmp_path / "w.db")
    pre = save(store, preprint(), PPR, "2026-11-01T09:00:00")
    pub = save(store, PUBLISHED, PMID, "2026-11-02T09:00:00")
    tell(store, pub, "team", "2026-11-02T09:00:00", sent=False)
    with store.transaction():
        apply_link(store, None, link(), "2026-11-02T09:00:01")
    assert not store.study_exists(pub)
    fresh = save(store, preprint(ppr="PPR700003", preprint_doi="10.1101/2023.07.01.000003",
                                 title="Another study"), "PPR700003", "2026-11-03T09:00:00")
    assert fresh not in (pre, pub) and store.survivor_of(fresh) == fresh
    with store.transaction():
        assert store.add_event(NewStudy.of(fresh), "2026-11-03T09:00:00")[1], "its own event"
