"""The look-ups after a poll, end to end through the CLI and the real client: a retraction
Crossref knows (Retraction Watch's data) told once to whoever was told of the study, whichever
of Crossref and PubMed tells first; an upstream that fails or hangs keeps its check due and
holds nothing else back."""

from __future__ import annotations

import pytest

from tests.helpers import EVERYTHING, FIXTURES, days_ago, renumbered, retracted
from watcher.fakes.crossref import CrossrefServer, update, work

STUDY, NOTICE = "39000001", "39000002"
SOURCE = FIXTURES / "pubmed_metapub/36318760.xml"
NOTICE_DOI = "10.1016/s0140-6736(26)00001-x"


@pytest.fixture
def crossref():
    with CrossrefServer() as running:
        yield running


def _told(env, server) -> str:
    """The study told in a first run (Crossref unreachable then); its DOI."""
    env.write_queries(EVERYTHING)
    server.add_article(renumbered(SOURCE, STUDY), entry_date=days_ago(10))
    first = env.cli("run", "--once")
    assert first.exit_code == 0, first.stderr
    assert f"pubmed.ncbi.nlm.nih.gov/{STUDY}/" in first.stdout
    store = env.store()
    return store.get_study(store.find_study({"pmid": STUDY})).ids["doi"]


def _retracted_in_crossref(crossref, doi: str) -> None:
    crossref.add(work(doi, updated_by=[
        update("correction", "10.1016/s0140-6736(04)99999-2", source="retraction-watch",
               record_id="17269"),
        update("retraction", NOTICE_DOI, source="retraction-watch", record_id="4036")]))


def _corrections(env) -> list:
    store = env.store()
    return [e for e in store.events_of(store.find_study({"pmid": STUDY}))
            if e.kind == "correction"]


def test_a_retraction_only_in_retraction_watch_is_told_once_then_pubmed_adds_nothing(
        env, server, crossref):
    doi = _told(env, server)
    _retracted_in_crossref(crossref, doi)

    second = env.cli("run", "--once", WATCHER_CROSSREF_URL=crossref.url)
    assert second.exit_code == 0, second.stderr
    assert "1 correction since" in second.stdout, second.stdout
    assert second.stdout.count(f"pubmed.ncbi.nlm.nih.gov/{STUDY}/") == 1
    assert "RETRACTED" in second.stdout
    assert f"https://doi.org/{NOTICE_DOI}" in second.stdout, "the notice is linked by its DOI"
    assert "Retraction Watch" in second.stdout
    assert doi in crossref.asked()
    assert len(_corrections(env)) == 1, "the later correction entry was read, but the " \
        "study has a PMID and its notice is not held: PubMed's path tells errata"

    # PubMed revises the record: Retracted Publication, RetractionIn the notice's PMID
    server.add_article(retracted(renumbered(SOURCE, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    third = env.cli("run", "--once", WATCHER_CROSSREF_URL=crossref.url)
    assert third.exit_code == 0, third.stderr
    assert "RETRACTED" not in third.stdout and f"/{STUDY}/" not in third.stdout
    assert [e.key for e in _corrections(env)] == [
        f"correction:{_study_id(env)}:retraction"]


def test_a_retraction_pubmed_told_first_is_not_told_again_from_crossref(env, server,
                                                                          crossref):
    doi = _told(env, server)
    server.add_article(retracted(renumbered(SOURCE, STUDY), NOTICE), entry_date=days_ago(10),
                       modified=days_ago(0))
    second = env.cli("run", "--once")  # Crossref unreachable: PubMed tells it
    assert second.exit_code == 0, second.stderr
    assert "1 correction since" in second.stdout, second.stdout
    assert f"pubmed.ncbi.nlm.nih.gov/{NOTICE}/" in second.stdout

    _retracted_in_crossref(crossref, doi)
    third = env.cli("run", "--once", WATCHER_CROSSREF_URL=crossref.url)
    assert third.exit_code == 0, third.stderr
    assert doi in crossref.asked(), "Crossref was asked"
    assert "RETRACTED" not in third.stdout and f"/{STUDY}/" not in third.stdout
    assert len(_corrections(env)) == 1


def test_a_crossref_timeout_keeps_the_check_due_and_the_digest_goes_out(env, server,
                                                                         crossref):
    env.write_queries(EVERYTHING)
    server.add_article(renumbered(SOURCE, STUDY), entry_date=days_ago(10))
    crossref.delay = 3.0
    first = env.cli("run", "--once", WATCHER_CROSSREF_URL=crossref.url,
                    WATCHER_HTTP_TIMEOUT="0.5", WATCHER_LOOKUP_TIMEOUT="1.5")
    assert first.exit_code == 0, first.stderr
    assert f"pubmed.ncbi.nlm.nih.gov/{STUDY}/" in first.stdout, "delivered all the same"
    status = env.cli("status", WATCHER_CROSSREF_URL=crossref.url)
    line = next(x for x in status.stdout.splitlines() if x.startswith("look-up Crossref"))
    assert "last success never" in line and "LAST ERROR" in line, line

    crossref.delay = 0.0
    doi = env.store().get_study(_study_id(env)).ids["doi"]
    _retracted_in_crossref(crossref, doi)
    second = env.cli("run", "--once", WATCHER_CROSSREF_URL=crossref.url)
    assert second.exit_code == 0, second.stderr
    assert "RETRACTED" in second.stdout, "the check stayed due and was made"
    status = env.cli("status", WATCHER_CROSSREF_URL=crossref.url)
    line = next(x for x in status.stdout.splitlines() if x.startswith("look-up Crossref"))
    assert "LAST ERROR" not in line and "last success never" not in line, line


def _study_id(env) -> int:
    return env.store().find_study({"pmid": STUDY})


# --- the step over a store: which studies are asked, how often, in how many requests ----------

def _told_studies(env, count: int, *, scheme: str = "doi", prefix: str = "10.5555/told.",
                  kind: str = "publication") -> list[str]:
    """*count* studies told to the terminal, the last one the newest; their ids of *scheme*."""
    from tests.helpers.studies import store_study
    from watcher.events import NewStudy
    from watcher.models import Study

    env.write_queries(EVERYTHING)
    [destination] = env.config().all_destinations()
    values = [f"{prefix}{n}" for n in range(count)]
    with env.store() as store, store.transaction():
        for n, value in enumerate(values):
            study = Study(source="europepmc", kind=kind, ids={scheme: value}, title=f"S {n}")
            study_id, _ = store_study(store, study, f"2026-01-01T00:00:{n % 60:02d}+00:00"
                                      if n < 60 else f"2026-01-01T00:01:{n % 60:02d}+00:00")
            event_id, _ = store.add_event(NewStudy.of(study_id), "2026-01-02T00:00:00+00:00")
            store.queue(destination, event_id, "2026-01-02T00:00:00+00:00")
    return values


def _run(env, when: str, **extra: str):
    from datetime import datetime

    from watcher.lookups import step

    with env.store() as store:
        return step.run(env.config(), store, env.settings(**extra),
                        now=datetime.fromisoformat(when))


def test_told_dois_are_asked_in_batches_newest_first_and_not_again_until_due(env, crossref):
    dois = _told_studies(env, 120)
    url = {"WATCHER_CROSSREF_URL": crossref.url, "WATCHER_CROSSREF_RATE": "100",
           "WATCHER_LOOKUPS_PER_RUN": "100"}
    first = _run(env, "2026-02-01T10:00:00+00:00", **url)
    assert len(crossref.requests) == 2, "100 DOIs (the per-run cap), 50 a request"
    assert set(crossref.asked()) == set(dois[20:]), "the newest studies first"
    assert first.outcomes[0].asked == 100 and not first.failures

    _run(env, "2026-02-01T12:00:00+00:00", **url)
    assert set(crossref.asked()[100:]) == set(dois[:20]), "then the rest, and only the rest"
    _run(env, "2026-02-03T12:00:00+00:00", **url)
    assert len(crossref.requests) == 3, "nothing is due again within the re-check days"
    _run(env, "2026-02-09T10:00:01+00:00", **url)
    assert len(crossref.requests) == 5 and crossref.throttled == 0


def test_a_doi_a_told_study_gains_later_and_a_study_told_later_are_asked(env, crossref):
    """The schedule reads only the ids stored since its last look: one added to an old study
    (a later record carries its DOI) is on it, and a study nobody was told of waits, then is
    asked once somebody is."""
    dois = _told_studies(env, 3)
    url = {"WATCHER_CROSSREF_URL": crossref.url, "WATCHER_CROSSREF_RATE": "100"}
    _run(env, "2026-02-01T10:00:00+00:00", **url)
    assert set(crossref.asked()) == set(dois)
    [destination] = env.config().all_destinations()
    with env.store() as store, store.transaction():
        old = store.find_study({"doi": dois[0]})
        store.conn.execute("INSERT INTO study_ids (scheme, value, study_id) VALUES"
                           " ('preprint_doi', '10.1101/2026.01.01.000001', ?)", (old,))
        quiet = store.find_study({"doi": dois[1]})
        store.conn.execute("UPDATE outbox SET state = 'withheld' WHERE event_id IN (SELECT id"
                           " FROM events WHERE study_id = ?)", (quiet,))  # nobody told now
        store.conn.execute("INSERT INTO study_ids (scheme, value, study_id) VALUES"
                           " ('doi', '10.5555/later.1', ?)", (quiet,))
    _run(env, "2026-02-01T12:00:00+00:00", **url)
    assert crossref.asked()[3:] == ["10.1101/2026.01.01.000001"], \
        "the DOI the told study gained is asked; the withheld study's is not"
    with env.store() as store, store.transaction():
        store.conn.execute("UPDATE outbox SET state = 'pending' WHERE state = 'withheld'")
    _run(env, "2026-02-01T13:00:00+00:00", **url)
    assert len(crossref.asked()) == 4, "told now, it waits the period it was set aside for"
    _run(env, "2026-02-08T12:00:01+00:00", **url)
    assert "10.5555/later.1" in crossref.asked()[4:], "then it is asked with the rest"


def test_a_failing_crossref_is_recorded_and_its_checks_stay_due(env, crossref):
    dois = _told_studies(env, 60)
    url = {"WATCHER_CROSSREF_URL": crossref.url, "WATCHER_CROSSREF_RATE": "100",
           "WATCHER_RETRY_BACKOFF": "0.01"}
    crossref.fail(500, times=8)  # every try of this run
    report = _run(env, "2026-02-01T10:00:00+00:00", **url)
    assert report.failures and "500" in (report.failures[0].error or "")
    with env.store() as store:
        [status] = store.lookup_statuses()
    assert status.last_success is None and "500" in (status.last_error or "")
    crossref.scripted.clear()
    again = _run(env, "2026-02-01T11:00:00+00:00", **url)
    assert not again.failures and again.outcomes[0].asked == 60
    assert set(dois) <= set(crossref.asked())


def test_a_told_preprint_biorxiv_maps_is_one_now_published_item(env):
    import io

    from watcher import pipeline
    from watcher.fakes.biorxiv import BiorxivServer

    [doi] = _told_studies(env, 1, scheme="preprint_doi", prefix="10.64898/2026.01.05.2630000",
                          kind="preprint")
    with env.store() as store:
        pipeline.deliver(env.config(), store, env.settings(), stream=io.StringIO())
    with BiorxivServer() as biorxiv:
        biorxiv.add(doi, server="medrxiv", published_doi="10.1001/jamapsychiatry.2026.0042",
                    journal="JAMA Psychiatry", published_date="2026-11-20")
        url = {"WATCHER_BIORXIV_URL": biorxiv.url, "WATCHER_BIORXIV_RATE": "100"}
        first = _run(env, "2026-12-01T10:00:00+00:00", **url)
        _run(env, "2026-12-03T10:00:00+00:00", **url)  # published now: not asked again
    [outcome] = [o for o in first.outcomes if o.upstream == "biorxiv"]
    assert (outcome.asked, outcome.links, outcome.queued) == (1, 1, 1)
    assert biorxiv.requests == [f"/pubs/medrxiv/{doi}/na/json"]
    digest = io.StringIO()
    with env.store() as store:
        pipeline.deliver(env.config(), store, env.settings(), stream=digest)
        study = store.find_study({"preprint_doi": doi})
        assert store.find_study({"doi": "10.1001/jamapsychiatry.2026.0042"}) == study
    assert digest.getvalue().count("now published in JAMA Psychiatry") == 1, digest.getvalue()


def test_crossref_has_preprint_joins_a_new_article_to_its_told_preprint(env, crossref):
    import io

    from tests.helpers.studies import store_study
    from watcher import pipeline
    from watcher.events import NewStudy
    from watcher.models import Study

    [pre_doi] = _told_studies(env, 1, scheme="preprint_doi", prefix="10.1101/2026.03.01.263000",
                              kind="preprint")
    with env.store() as store:
        pipeline.deliver(env.config(), store, env.settings(), stream=io.StringIO())
        [destination] = env.config().all_destinations()
        with store.transaction():  # this run's poll found the journal article
            article = Study(source="pubmed", kind="publication", ids={
                "pmid": "41000001", "doi": "10.1001/jamapsychiatry.2026.7"},
                title="Ketamine for depression: a trial", journal="JAMA Psychiatry")
            study_id, _ = store_study(store, article, "2026-12-01T09:00:00+00:00")
            event_id, _ = store.add_event(NewStudy.of(study_id), "2026-12-01T09:00:00+00:00")
            store.queue(destination, event_id, "2026-12-01T09:00:00+00:00")
    crossref.add(work("10.1001/jamapsychiatry.2026.7", journal="JAMA Psychiatry", relation={
        "has-preprint": [{"id-type": "doi", "id": pre_doi, "asserted-by": "object"}]}))
    report = _run(env, "2026-12-01T10:00:00+00:00", WATCHER_CROSSREF_URL=crossref.url,
                  WATCHER_CROSSREF_RATE="100")
    assert not [o for o in report.failures if o.upstream == "crossref"]
    assert len(crossref.requests) == 1, "the preprint's and the article's DOIs in one request"
    digest = io.StringIO()
    with env.store() as store:
        pipeline.deliver(env.config(), store, env.settings(), stream=digest)
        assert store.find_study({"pmid": "41000001"}) == store.find_study(
            {"preprint_doi": pre_doi}), "one study"
    text = digest.getvalue()
    assert text.count("now published in JAMA Psychiatry") == 1, text
    assert "1 now published since" in text and "new" not in text.split("\n")[0], text
    assert text.count("* Ketamine for depression: a trial") == 1, "not a second new study"


def test_an_expression_of_concern_of_a_study_pubmed_does_not_index_is_told_once(env, crossref):
    import io

    from watcher import pipeline

    [doi] = _told_studies(env, 1)
    with env.store() as store:
        pipeline.deliver(env.config(), store, env.settings(), stream=io.StringIO())
    crossref.add(work(doi, updated_by=[
        update("expression_of_concern", "10.5555/concern.1"),
        update("addendum", "10.5555/addendum.1")]))
    url = {"WATCHER_CROSSREF_URL": crossref.url, "WATCHER_CROSSREF_RATE": "100"}
    _run(env, "2026-12-01T10:00:00+00:00", **url)
    _run(env, "2026-12-09T10:00:00+00:00", **url)  # asked again a week later: nothing new
    assert len(crossref.requests) == 2
    digest = io.StringIO()
    with env.store() as store:
        pipeline.deliver(env.config(), store, env.settings(), stream=digest)
        [event] = [e for e in store.events_of(store.find_study({"doi": doi}))
                   if e.kind == "correction"]
    assert event.key.endswith(":concern:10.5555/concern.1"), "keyed by the notice's DOI"
    text = digest.getvalue()
    assert "1 correction since" in text and "expression of concern" in text, text
    assert "https://doi.org/10.5555/concern.1" in text and "addendum" not in text.lower()


def test_an_erratum_whose_notice_we_hold_takes_pubmeds_key(env, crossref):
    from tests.helpers.studies import store_study
    from watcher.models import Study

    [doi] = _told_studies(env, 1)
    with env.store() as store, store.transaction():
        notice = Study(source="pubmed", kind="publication", title="Correction.",
                       ids={"pmid": "41000009", "doi": "10.5555/erratum.9"},
                       publication_types=["Published Erratum"])
        store_study(store, notice, "2026-12-01T09:00:00+00:00")
    crossref.add(work(doi, updated_by=[update("correction", "10.5555/erratum.9")]))
    _run(env, "2026-12-01T10:00:00+00:00", WATCHER_CROSSREF_URL=crossref.url,
         WATCHER_CROSSREF_RATE="100")
    with env.store() as store:
        study = store.find_study({"doi": doi})
        assert [e.key for e in store.events_of(study) if e.kind == "correction"] == [
            f"correction:{study}:erratum:41000009"], "the key PubMed's path makes"


def test_a_dry_run_asks_crossref_but_keeps_and_sends_nothing(env, server, crossref):
    doi = _told(env, server)
    _retracted_in_crossref(crossref, doi)
    dry = env.cli("run", "--once", "--dry-run", WATCHER_CROSSREF_URL=crossref.url)
    assert dry.exit_code == 0, dry.stderr
    assert doi in crossref.asked()
    assert _corrections(env) == [], "nothing of the dry run was kept"
    real = env.cli("run", "--once", WATCHER_CROSSREF_URL=crossref.url)
    assert real.exit_code == 0, real.stderr
    assert "1 correction since" in real.stdout, "still due: the dry run marked nothing checked"


def test_status_json_lists_each_lookup_with_its_last_failure(env, server):
    import json

    _told(env, server)  # Crossref unreachable in that run
    status = env.cli("status", "--json")
    assert status.exit_code == 0, status.stderr
    crossref = next(row for row in json.loads(status.stdout)["lookups"]
                    if row["upstream"] == "crossref")
    assert crossref["last_success"] is None and "could not reach" in crossref["last_error"]
