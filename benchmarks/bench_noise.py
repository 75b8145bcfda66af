"""Noise benchmark: recall and false alerts of the SHIPPED queries on a labelled set.

    .venv/bin/python benchmarks/bench_noise.py [QUERIES_DIR]

The set (benchmarks/noise/records.yaml) holds realistic PubMed records written for the purpose,
positives for every watched condition and ketamine's anaesthesia / sedation / emergency
literature as negatives, plus the real fixture records. Each is served as PubMed XML by the
local E-utilities server; the queries are loaded by the real config loader and polled by the
real poll (PubMed only), and what would reach the team is read from the real digest of each
destination. Prints, per query, recall on its positives and the records it alerts that it
should not. tests/test_noise.py asserts the same figures, so a query edit that loses a real
study fails CI. Figures are recorded in benchmarks/README.md.
"""

from __future__ import annotations

import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from watcher import config as config_module  # noqa: E402
from watcher.db import Store  # noqa: E402
from watcher.delivery import build_digest  # noqa: E402
from watcher.fakes.eutils import EutilsServer, records_from_xml  # noqa: E402
from watcher.http import client_for  # noqa: E402
from watcher.polling import poll  # noqa: E402
from watcher.settings import Settings  # noqa: E402
from watcher.sources import build_sources  # noqa: E402

SET = Path(__file__).resolve().parent / "noise" / "records.yaml"


@dataclass
class Entry:
    """One labelled record: its PubMed XML and the queries that must (or may) alert it."""

    pmid: str
    title: str
    article: ET.Element
    expect: list[str]
    also_ok: list[str] = field(default_factory=list)
    heldout: bool = False  # written after the queries were tuned on the rest
    known_noise: list[str] = field(default_factory=list)  # alerts it, documented, not filtered

    @property
    def negative(self) -> bool:
        return not self.expect


@dataclass
class QueryFigures:
    query_id: str
    positives: list[str] = field(default_factory=list)  # PMIDs it must alert
    found: list[str] = field(default_factory=list)  # of those, alerted
    false_alerts: list[str] = field(default_factory=list)  # alerted, neither expected nor ok

    @property
    def missed(self) -> list[str]:
        return [p for p in self.positives if p not in self.found]

    @property
    def recall(self) -> float:
        return len(self.found) / len(self.positives) if self.positives else 1.0


@dataclass
class Measurement:
    entries: list[Entry]
    queries: dict[str, QueryFigures]
    alerted: dict[str, set[str]]  # PMID -> query ids that alerted it
    #: PMID -> the query id of the condition that tells it in full (its primary condition)
    placed: dict[str, str] = field(default_factory=dict)

    @property
    def negatives_alerting(self) -> list[str]:
        return [e.pmid for e in self.entries if e.negative and self.alerted.get(e.pmid)]


def load_set(path: Path = SET) -> list[Entry]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    entries = []
    for key in ("records", "heldout"):
        for item in data.get(key) or []:
            entries.append(Entry(str(item["id"]), item["title"], article(item),
                                 list(item.get("expect") or []),
                                 list(item.get("also_ok") or []), heldout=key == "heldout",
                                 known_noise=list(item.get("known_noise") or [])))
    for item in data.get("fixtures") or []:
        for pmid, element in records_from_xml((ROOT / item["path"]).read_bytes()):
            title = "".join(element.find("MedlineCitation/Article/ArticleTitle").itertext())
            entries.append(Entry(pmid, title, element, list(item.get("expect") or []),
                                 list(item.get("also_ok") or [])))
    return entries


def article(item: dict) -> ET.Element:
    """A PubmedArticle as efetch returns one, from a labelled record."""
    root = ET.Element("PubmedArticle")
    citation = ET.SubElement(root, "MedlineCitation", {"Status": "PubMed-not-MEDLINE"
                                                       if not item.get("mesh") else "MEDLINE",
                                                       "Owner": "NLM"})
    ET.SubElement(citation, "PMID", {"Version": "1"}).text = str(item["id"])
    art = ET.SubElement(citation, "Article", {"PubModel": "Print-Electronic"})
    journal = ET.SubElement(art, "Journal")
    issue = ET.SubElement(journal, "JournalIssue", {"CitedMedium": "Internet"})
    pub_date = ET.SubElement(issue, "PubDate")
    ET.SubElement(pub_date, "Year").text = "2026"
    ET.SubElement(pub_date, "Month").text = "Nov"
    ET.SubElement(journal, "Title").text = "Noise Benchmark Journal"
    ET.SubElement(journal, "ISOAbbreviation").text = "Noise Bench J"
    ET.SubElement(art, "ArticleTitle").text = " ".join(str(item["title"]).split())
    abstract = ET.SubElement(art, "Abstract")
    for line in str(item.get("abstract") or "").splitlines():
        label, sep, text = line.partition(": ")
        section = ET.SubElement(abstract, "AbstractText")
        if sep and label.isupper():
            section.set("Label", label)
            section.text = text.strip()
        else:
            section.text = line.strip()
    authors = ET.SubElement(art, "AuthorList", {"CompleteYN": "Y"})
    author = ET.SubElement(authors, "Author", {"ValidYN": "Y"})
    ET.SubElement(author, "LastName").text = "Example"
    ET.SubElement(author, "Initials").text = "A"
    ET.SubElement(art, "Language").text = "eng"
    types = ET.SubElement(art, "PublicationTypeList")
    for name in item.get("types") or ["Journal Article"]:
        ET.SubElement(types, "PublicationType").text = name
    if item.get("mesh"):
        headings = ET.SubElement(citation, "MeshHeadingList")
        for heading in item["mesh"]:
            node = ET.SubElement(headings, "MeshHeading")
            ET.SubElement(node, "DescriptorName", {
                "MajorTopicYN": "Y" if heading.startswith("*") else "N"}).text = \
                heading.lstrip("*")
    data = ET.SubElement(root, "PubmedData")
    ET.SubElement(data, "History")  # the server writes the entry date
    ET.SubElement(data, "PublicationStatus").text = "aheadofprint"
    ids = ET.SubElement(data, "ArticleIdList")
    ET.SubElement(ids, "ArticleId", {"IdType": "pubmed"}).text = str(item["id"])
    return root


def measure(queries: Path = ROOT / "queries", entries: list[Entry] | None = None,
            today: date | None = None) -> Measurement:
    """Serve the set, poll every PubMed query in *queries* once, read what each destination's
    digest would carry, and score it against the labels."""
    entries = entries if entries is not None else load_set()
    today = today or datetime.now(UTC).date()
    with EutilsServer() as server, tempfile.TemporaryDirectory() as tmp:
        for n, entry in enumerate(entries):
            server.add_article(entry.article, entry_date=today - timedelta(days=1 + n % 20))
        settings = Settings.from_env({"WATCHER_QUERIES": str(queries),
                                      "WATCHER_DB": str(Path(tmp) / "noise.db"),
                                      "WATCHER_EUTILS_URL": server.url,
                                      "NCBI_API_KEY": "noise-benchmark"})
        cfg = config_module.load(settings.queries)
        store = Store(settings.db)
        http = client_for(settings)
        try:
            pubmed = {"pubmed": build_sources(settings.sources, http)["pubmed"]}
            report = poll(cfg, store, settings, sources=pubmed)
            failures = [f"{o.query_id}: {o.error}" for o in report.failures]
            if failures:
                raise RuntimeError("poll failed: " + "; ".join(failures))
            alerted, placed = _alerted(cfg, store)
        finally:
            http.close()
            store.close()
    figures = {q.id: QueryFigures(q.id) for q in cfg.queries if "pubmed" in q.sources}
    for entry in entries:
        for query_id in entry.expect:
            if query_id in figures:  # a folder may hold only some of the queries
                figures[query_id].positives.append(entry.pmid)
        for query_id in alerted.get(entry.pmid, set()):
            if query_id in entry.expect:
                figures[query_id].found.append(entry.pmid)
            elif query_id not in entry.also_ok:
                figures[query_id].false_alerts.append(entry.pmid)
    return Measurement(entries, figures, alerted, placed)


def _alerted(cfg: config_module.Config, store: Store
             ) -> tuple[dict[str, set[str]], dict[str, str]]:
    """PMID -> the queries under which the team would see it, from every destination's
    pending digest (the filters re-judged there, as on delivery); and PMID -> the query of the
    condition that tells it in full."""
    by_condition = {q.condition: q.id for q in cfg.queries}
    alerted: dict[str, set[str]] = {}
    placed: dict[str, str] = {}
    now = datetime.now(UTC)
    for destination in cfg.all_destinations():
        digest = build_digest(cfg, store, destination, now=now).digest
        for item in digest.items:
            if item.study is None:
                continue
            found = {by_condition[c] for c in item.conditions if c in by_condition}
            alerted.setdefault(item.study.ids["pmid"], set()).update(found)
            if item.conditions[0] in by_condition:
                placed.setdefault(item.study.ids["pmid"], by_condition[item.conditions[0]])
    return alerted, placed


def report(result: Measurement) -> str:
    titles = {e.pmid: e.title for e in result.entries}
    noise = {e.pmid: e.known_noise for e in result.entries}
    positives = sum(1 for e in result.entries if not e.negative)
    heldout = sum(1 for e in result.entries if e.heldout)
    lines = [f"{len(result.entries)} records: {positives} positives, "
             f"{len(result.entries) - positives} negatives; {heldout} written after tuning", "",
             "| query | positives | recall | false alerts |", "| --- | --- | --- | --- |"]
    for figures in result.queries.values():
        lines.append(f"| {figures.query_id} | {len(figures.positives)} | "
                     f"{figures.recall:.0%} ({len(figures.found)}/{len(figures.positives)}) | "
                     f"{len(figures.false_alerts)} |")
    lines.append("")
    for figures in result.queries.values():
        for pmid in figures.missed:
            lines.append(f"MISSED by {figures.query_id}: {pmid} {titles[pmid][:90]}")
        for pmid in figures.false_alerts:
            known = " (known, documented)" if figures.query_id in noise.get(pmid, []) else ""
            lines.append(f"false alert by {figures.query_id}{known}: {pmid} "
                         f"{titles[pmid][:80]}")
    noisy = result.negatives_alerting
    lines.append(f"negatives alerting any query: {len(noisy)} of "
                 f"{len(result.entries) - positives}")
    return "\n".join(lines)


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "queries"
    print(report(measure(folder)))
