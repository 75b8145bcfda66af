"""The conservative title + first-author rule that confirms an upstream's guessed link, and
`watcher status --study`: which records were joined, by which link or rule, and when."""

from __future__ import annotations

import json
from dataclasses import replace

from tests.helpers import FIXTURES
from tests.helpers.pubmed import studies_of
from watcher.db import Store
from watcher.identity import apply_link, same_study, surname
from watcher.models import Study
from watcher.versions import AUTHORITATIVE, GUESSED, VersionLink

#: A real PubMed record (Krystal JH et al., PNAS 2023).
PUBLISHED = studies_of((FIXTURES / "pubmed_metapub/38011560.xml").read_bytes())[0]
PMID = PUBLISHED.ids["pmid"]
PPR = "PPR700001"


def preprint(**changes) -> Study:
    study = Study(source="europepmc", kind="preprint",
                  ids={"ppr": PPR, "preprint_doi": "10.1101/2023.05.01.538999"},
                  title="Ketamine and the neurobiology of depression: toward next-generation "
                        "rapid-acting antidepressant treatments",
                  authors=["Krystal, John H.", "Kaye AP"], year=2023)
    return replace(study, **changes)


def save(store: Store, study: Study, source_id: str, now: str) -> int:
    with store.transaction():
        saved = store.save_record(study.source, source_id, json.dumps(study.to_dict()), study,
                                  now)
    assert saved.study_id is not None
    return saved.study_id


GUESS = VersionLink(preprint=("ppr", PPR), published=("pmid", PMID), basis=GUESSED,
                    via="europepmc", note="Link created based on a title-first author match")


def test_the_rule_joins_only_a_near_identical_title_by_the_same_first_author():
    assert surname("Krystal JH") == surname("Krystal, John H.") == \
        surname("John H. Krystal") == "krystal"
    reason = same_study(preprint(), PUBLISHED)
    assert reason is not None and "first author" in reason and "Krystal" in reason
    assert same_study(preprint(authors=["Sanacora G", "Krystal JH"]), PUBLISHED) is None
    assert same_study(preprint(title="Ketamine and the neurobiology of anxiety"),
                      PUBLISHED) is None
    assert same_study(preprint(year=2019), PUBLISHED) is None, "years too far apart"
    # a word changed is another title; punctuation is not; a number apart ('phase 2' /
    # 'phase 3') never
    trial = "Ketamine for chronic PTSD in veterans a randomized phase 2 trial of repeated doses"
    a = preprint(title=trial)
    assert same_study(a, replace(PUBLISHED, title=trial.replace("repeated", "repeat"))) is None
    assert same_study(a, replace(PUBLISHED, title=trial + ".")) is not None
    assert same_study(a, replace(PUBLISHED, title=trial.replace("2", "3"))) is None
    # never two trial registrations, never two different PMIDs
    assert same_study(replace(a, kind="trial"), replace(PUBLISHED, title=trial)) is None
    assert same_study(replace(a, ids={"pmid": "1"}), replace(PUBLISHED, title=trial)) is None


def test_a_guessed_link_with_another_first_author_does_not_join(tmp_path):
    store = Store(tmp_path / "w.db")
    pre = save(store, preprint(authors=["Sanacora G"]), PPR, "2026-11-01T09:00:00")
    pub = save(store, PUBLISHED, PMID, "2026-11-02T09:00:00")
    with store.transaction():
        assert apply_link(store, None, GUESS, "2026-11-02T09:00:01") == 0
    assert store.study_exists(pre) and store.study_exists(pub)
    assert "pmid" not in store.get_study(pre).ids


def test_a_guessed_link_the_rule_confirms_joins_and_says_title_and_first_author(tmp_path):
    store = Store(tmp_path / "w.db")
    pre = save(store, preprint(), PPR, "2026-11-01T09:00:00")
    pub = save(store, PUBLISHED, PMID, "2026-11-02T09:00:00")
    with store.transaction():
        apply_link(store, None, GUESS, "2026-11-02T09:00:01")
    assert store.survivor_of(pub) == pre
    merge = store.joins_of(pre)[-1]
    assert merge.merged_study == pub and merge.basis == GUESSED
    assert merge.rule.startswith("title and first author: ")
    assert "guessed by Europe PMC link (Link created based on a title-first author match)" \
        in merge.rule


def test_a_guessed_link_with_only_one_side_stored_claims_nothing(tmp_path):
    store = Store(tmp_path / "w.db")
    pre = save(store, preprint(), PPR, "2026-11-01T09:00:00")
    with store.transaction():
        apply_link(store, None, GUESS, "2026-11-02T09:00:00")
    assert "pmid" not in store.get_study(pre).ids, "nothing to compare: not joined"


def test_status_study_shows_the_joins_and_a_merged_away_id_resolves(env):
    store = Store(env.db)
    pre = save(store, preprint(), PPR, "2026-11-01T09:00:00")
    pub = save(store, PUBLISHED, PMID, "2026-11-02T09:00:00")
    with store.transaction():
        apply_link(store, None, VersionLink(
            preprint=("ppr", PPR), published=("pmid", PMID), basis=AUTHORITATIVE,
            via="europepmc", note="CrossRef Pre-print loader"), "2026-11-02T09:00:01")
    store.close()

    shown = env.cli("status", "--study", PMID)
    assert shown.exit_code == 0, shown.stderr
    out = shown.stdout
    assert f"study {pre}: {PUBLISHED.title}" in out
    for ident in (f"ppr:{PPR}", "preprint_doi:10.1101/2023.05.01.538999", f"pmid:{PMID}",
                  f"doi:{PUBLISHED.ids['doi']}", f"pmcid:{PUBLISHED.ids['pmcid']}"):
        assert ident in out, ident
    assert f"2026-11-01T09:00:00  Europe PMC {PPR} — first record" in out
    assert f"2026-11-02T09:00:00  PubMed {PMID} — first record" in out
    assert (f"2026-11-02T09:00:01  study {pub} merged in — Europe PMC link (CrossRef Pre-print "
            f"loader) [ppr:{PPR} -> pmid:{PMID}]") in out
    # every id of either version finds it, the preprint's DOI too
    for ident in (PPR, "10.1101/2023.05.01.538999", f"https://doi.org/{PUBLISHED.ids['doi']}"):
        again = env.cli("status", "--study", ident)
        assert again.exit_code == 0 and f"study {pre}:" in again.stdout, ident

    old = env.cli("status", "--study", f"study:{pub}")
    assert old.exit_code == 0, old.stderr
    assert old.stdout.startswith(f"study {pub} was merged into study {pre}")
    as_json = env.cli("status", "--study", f"study:{pub}", "--json")
    assert as_json.exit_code == 0, as_json.stderr
    story = json.loads(as_json.stdout)
    assert story["study"] == pre and "merged into" in story["note"]
    assert {"scheme": "ppr", "value": PPR} in story["ids"]
    assert [j["rule"] for j in story["joins"]] == [
        "first record", "first record", "Europe PMC link (CrossRef Pre-print loader)"]
    assert story["joins"][-1]["merged_study"] == pub

    missing = env.cli("status", "--study", "study:999")
    assert missing.exit_code != 0 and "no stored study is study:999" in missing.stderr


def test_a_database_from_before_joins_lists_its_records_as_kept_before_joins(env):
    store = Store(env.db)
    kept = save(store, PUBLISHED, PMID, "2026-10-01T09:00:00")
    with store.transaction():  # as a watcher of schema 8 left it: no study_joins, and a
        store.conn.execute("DROP TABLE study_joins")  # preprint's DOI kept as a plain doi
        store.conn.execute("INSERT INTO study_ids (scheme, value, study_id) VALUES"
                           " ('doi', '10.1101/2023.05.01.538999', ?)", (kept,))
        store.conn.execute("PRAGMA user_version = 8")
    store.close()
    shown = env.cli("status", "--study", PMID)  # read-only: upgraded in memory
    assert shown.exit_code == 0, shown.stderr
    assert f"(before joins were recorded)  PubMed {PMID} — kept before joins were recorded" \
        in shown.stdout
    upgraded = Store(env.db)
    assert [(j.study_id, j.source_id, j.joined) for j in upgraded.joins_of(kept)] == [
        (kept, PMID, None)]
    assert upgraded.owner_of("preprint_doi", "10.1101/2023.05.01.538999") == kept
    # and it joins from then on (the preprint Europe PMC gives shares that DOI)
    pre = save(upgraded, preprint(ids={"ppr": PPR}), PPR, "2026-11-01T09:00:00")
    with upgraded.transaction():
        apply_link(upgraded, None, VersionLink(preprint=("ppr", PPR), published=("pmid", PMID),
                                               basis=AUTHORITATIVE, via="biorxiv"),
                   "2026-11-01T09:00:01")
    assert upgraded.survivor_of(pre) == kept
    assert upgraded.joins_of(kept)[-1].rule == "bioRxiv mapping"


def test_status_study_takes_each_id_as_it_prints_it_and_refuses_garbage_in_one_line(env):
    store = Store(env.db)
    study_id = save(store, preprint(), PPR, "2026-11-01T09:00:00")
    shown = env.cli("status", "--study", PPR)
    assert shown.exit_code == 0, shown.stderr
    printed = next(line for line in shown.stdout.splitlines() if line.startswith("  ids: "))
    for ident in printed[len("  ids: "):].split(", "):  # "ppr:PPR700001", "preprint_doi:..."
        again = env.cli("status", "--study", ident)
        assert again.exit_code == 0 and f"study {study_id}:" in again.stdout, (ident,
                                                                                again.stderr)
    for garbage in ("study:99999999999999999999", "99999999999999999999999", "ppr:"):
        refused = env.cli("status", "--study", garbage)
        assert refused.exit_code == 2, (garbage, refused.stderr)
        assert refused.stderr.startswith("error: ") and "internal error" not in refused.stderr
