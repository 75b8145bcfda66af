"""Export benchmark: a realistic database of N studies (80% real PubMed records renumbered and
polled by three queries through the local E-utilities server, every 25th retracted, one with 500
authors and LaTeX-hostile text; 20% real ClinicalTrials.gov records renumbered, parsed and kept
as a poll keeps them) exported by `watcher export` in all four formats, each read back by an
independent reader (rispy, bibtexparser, csv, json) and checked study by study: title, first
author, year, DOI, PMID or registry id, author count; the JSON lines against the stored study
field by field, with its matches and events.

    .venv/bin/python benchmarks/bench_export.py [N]

Prints the time of each export and of reading it back, its size, and any study lost or changed
(the script exits 1 if one is). Figures are recorded in benchmarks/README.md.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bibtexparser  # noqa: E402
import rispy  # noqa: E402
from bibtexparser import middlewares  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from tests.helpers import FIXTURES, PUBMED_FILES, QUERIES_YAML, renumbered, retracted  # noqa: E402
from watcher import config, pipeline  # noqa: E402
from watcher.cli import main as cli  # noqa: E402
from watcher.db import Store  # noqa: E402
from watcher.fakes.ctgov import renumbered as renumbered_trial  # noqa: E402
from watcher.fakes.ctgov import studies_in  # noqa: E402
from watcher.fakes.eutils import EutilsServer  # noqa: E402
from watcher.models import Study  # noqa: E402
from watcher.parsers import clinicaltrials  # noqa: E402
from watcher.settings import Settings  # noqa: E402

HOSTILE = 'Ketamine {x} }y{ at 50% & more: Ærø naïve café "$5" #1 a_b back\\slash ~ ₃'


def hostile(article: ET.Element) -> ET.Element:
    art = article.find("MedlineCitation/Article")
    title = art.find("ArticleTitle")
    for part in list(title):
        title.remove(part)
    title.text = HOSTILE
    authors = art.find("AuthorList")
    for author in list(authors):
        authors.remove(author)
    for n in range(500):
        author = ET.SubElement(authors, "Author", {"ValidYN": "Y"})
        ET.SubElement(author, "LastName").text = "O'Brien-Müller" if n == 0 else f"Ørsted{n}"
        ET.SubElement(author, "ForeName").text = "José"
    pub_date = art.find("Journal/JournalIssue/PubDate")
    for part in list(pub_date):
        pub_date.remove(part)
    return article


def fill(tmp: Path, count: int) -> tuple[Settings, dict[int, Study]]:
    today = datetime.now(UTC).date()
    papers, trials = count - count // 5, count // 5
    queries = tmp / "queries"
    queries.mkdir()
    (queries / "q.yaml").write_text(QUERIES_YAML)
    with EutilsServer() as server:
        templates = [p for p in PUBMED_FILES if b"<PubmedArticle>" in p.read_bytes()]
        for n in range(papers):
            pmid = str(90_000_000 + n)
            article = renumbered(templates[n % len(templates)], pmid)
            if n == 7:
                article = hostile(article)
            elif n % 25 == 3:
                article = retracted(article, str(80_000_000 + n))
            server.add_article(article, entry_date=today - timedelta(days=n % 28))
        settings = Settings.from_env({"WATCHER_QUERIES": str(queries),
                                      "WATCHER_DB": str(tmp / "w.db"),
                                      "WATCHER_EUTILS_URL": server.url,
                                      "WATCHER_NCBI_RATE": "50", "NCBI_API_KEY": "benchmark"})
        store = Store(settings.db)
        report = pipeline.poll(config.load(settings.queries), store, settings)
        assert not [o.error for o in report.outcomes if o.error], report.outcomes
    bases = [s for p in sorted(FIXTURES.glob("ctgov_aact/NCT*.json")) for s in studies_in(p)]
    now = pipeline.stamp(pipeline.utc_now())
    with store.transaction():
        for n in range(trials):
            nct = f"NCT{91_000_000 + n:08d}"
            data = renumbered_trial(bases[n % len(bases)], nct, title=f"Ketamine trial {n}")
            record = clinicaltrials.study_records([data])[0]
            saved = store.save_record("clinicaltrials", nct, record.raw, record.study, now)
            store.add_match(saved.study_id, "depression", "clinicaltrials", run_id=0, now=now,
                            excluded=None, labels=[])
    stored = {row["id"]: store.get_study(row["id"]) for row in store.db["studies"].rows}
    store.close()
    return settings, stored


def key(ids: dict[str, str]) -> str:
    return ids.get("pmid") or ids.get("nct") or ""


def first_name(study: Study) -> str:
    listed = study.details.get("author_list") or []
    if listed:
        return listed[0]["collective_name"] or listed[0]["last_name"]
    return study.authors[0] if study.authors else ""


def read_ris(text: str) -> dict[str, tuple]:
    return {r["accession_number"]: (r["title"], (r.get("authors") or [""])[0], r.get("year", ""),
                                    r.get("doi", ""), len(r.get("authors", [])))
            for r in rispy.loads(text)}


def read_bibtex(text: str) -> dict[str, tuple]:
    library = bibtexparser.parse_string(text, append_middleware=[
        middlewares.LatexDecodingMiddleware(keep_braced_groups=True),
        middlewares.SeparateCoAuthors(), middlewares.SplitNameParts()])
    assert not library.failed_blocks, library.failed_blocks[:1]
    found = {}
    for entry in library.entries:
        f = {field.key: field.value for field in entry.fields}
        names = f.get("author") or []
        first = " ".join(names[0].last).strip("{}") if names else ""
        found[f.get("pmid") or f["number"]] = (f["title"], first, f.get("year", ""),
                                               f.get("doi", ""), len(names))
    return found


def read_csv(text: str) -> dict[str, tuple]:
    return {r["pmid"] or r["registry_ids"].split("; ")[0]: (
        r["title"], r["first_author"], r["year"], r["doi"],
        len(r["authors"].split("; ")) if r["authors"] else 0)
        for r in csv.DictReader(io.StringIO(text, newline=""))}


def check(name: str, found: dict[str, tuple], stored: dict[int, Study]) -> list[str]:
    problems = []
    if len(found) != len(stored):
        problems.append(f"{name}: {len(found)} read back of {len(stored)}")
    for study in stored.values():
        got = found.get(key(study.ids))
        if got is None:
            problems.append(f"{name}: {key(study.ids)} missing")
            continue
        title, first, year, doi, count = got
        names = study.details.get("author_list") or study.authors
        if (" ".join(title.split()) != " ".join(study.title.split())
                or not first.startswith(first_name(study)) or str(year) != str(study.year or "")
                or doi != study.ids.get("doi", "") or count != len(names)):
            problems.append(f"{name}: {key(study.ids)} read back as {got[:4]}")
    return problems


def check_json(text: str, stored: dict[int, Study]) -> list[str]:
    problems = []
    docs = [json.loads(line) for line in text.splitlines()]
    if len(docs) != len(stored):
        problems.append(f"json: {len(docs)} read back of {len(stored)}")
    for doc in docs:
        study = stored[doc["study_id"]]
        as_read = Study.from_dict(doc)
        if as_read != study or not doc["matches"] or not doc["conditions"]:
            problems.append(f"json: {key(study.ids)} differs")
        if study.source == "pubmed" and not doc["events"]:
            problems.append(f"json: {key(study.ids)} has no events")
    return problems


READERS = {"ris": read_ris, "bibtex": read_bibtex, "csv": read_csv}


def main(count: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        started = time.perf_counter()
        settings, stored = fill(tmp, count)
        trials = sum(s.kind == "trial" for s in stored.values())
        print(f"database: {len(stored)} studies ({trials} trials) in "
              f"{time.perf_counter() - started:.1f}s, "
              f"{Path(settings.db).stat().st_size / 1e6:.1f} MB")
        env = {"WATCHER_DB": str(settings.db), "WATCHER_QUERIES": str(settings.queries)}
        problems: list[str] = []
        for fmt in ("ris", "bibtex", "csv", "json"):
            out = tmp / f"export.{fmt}"
            started = time.perf_counter()
            result = CliRunner().invoke(cli, ["export", "--format", fmt, "-o", str(out)],
                                        env=env, catch_exceptions=False)
            exported = time.perf_counter() - started
            assert result.exit_code == 0, result.stderr
            text = out.read_text(encoding="utf-8")
            started = time.perf_counter()
            found = (check_json(text, stored) if fmt == "json"
                     else check(fmt, READERS[fmt](text), stored))
            if fmt == "csv":  # every retracted paper says so
                marked = {r["pmid"] for r in csv.DictReader(io.StringIO(text, newline=""))
                          if r["retracted"] == "yes"}
                wanted = {s.ids["pmid"] for s in stored.values()
                          if "Retracted Publication" in s.publication_types}
                if marked != wanted or not wanted:
                    found.append(f"csv: {len(marked)} marked retracted of {len(wanted)}")
            problems += found
            print(f"{fmt:7s} export {exported:.2f}s, {len(text.encode()) / 1e6:.1f} MB; read "
                  f"back and checked in {time.perf_counter() - started:.2f}s: "
                  f"{'nothing lost' if not found else f'{len(found)} problem(s)'}")
        for line in problems[:20]:
            print("  " + line)
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
