"""The demo's two weeks upstream, dated relative to the day it runs, so nothing in its digest
reads as old news: last week's studies and trials (told in last week's digest), then this week's
new papers, preprints and trials, the registries' revisions of last week's trials (a status, an
enrolment, a trial stopped, results posted) and PubMed's of last week's papers (a retraction, an
erratum).

The records are described in watcher/demo_data (papers.yaml, trials.yaml, preprints.yaml;
provenance in its README.md) and built here into what each registry answers: PubMed efetch XML,
ClinicalTrials.gov API v2 JSON (edited copies of real records), an ISRCTN ``fullTrial`` (an
edited copy of a real answer's) and Europe PMC ``resultType=core`` JSON, served by the local fake
servers."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from .fakes.ctgov import CtgovServer
from .fakes.europepmc import EuropePMCServer, preprint
from .fakes.eutils import EutilsServer, records_from_xml
from .fakes.isrctn import NS, IsrctnServer

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def data_dir() -> Path:
    return Path(str(resources.files("watcher") / "demo_data"))


def _load(name: str) -> dict[str, Any]:
    return YAML(typ="safe").load((data_dir() / name).read_text(encoding="utf-8"))


class Corpus:
    """Both weeks of the demo as of *today*. ``serve_last_week`` then ``serve_this_week`` put
    them on the local servers, as upstream would hold them at each poll."""

    def __init__(self, today: date) -> None:
        self.today = today
        self.papers: list[dict[str, Any]] = _load("papers.yaml")["papers"]
        trials = _load("trials.yaml")
        self.trials: list[dict[str, Any]] = trials["clinicaltrials"]
        self.isrctn: list[dict[str, Any]] = trials["isrctn"]
        self.preprints: list[dict[str, Any]] = _load("preprints.yaml")["preprints"]

    def day(self, offset: int) -> date:
        """*offset* days from today (negative: before)."""
        return self.today + timedelta(days=offset)

    def new_this_week(self) -> int:
        """Studies this week's digest tells as new (correction notices are not studies)."""
        # a paper published from last week's preprint is "now published", not a new study
        published = {p["published_as"][0] for p in self.preprints if p.get("week") == "last"}
        papers = [p for p in self.papers if p.get("week") != "last" and "notice_for" not in p
                  and p["pmid"] not in published]
        trials = [t for t in self.trials if t.get("week") != "last"]
        preprints = [p for p in self.preprints if not p.get("noise") and p.get("week") != "last"]
        # (an ISRCTN record here is a trial above, merged)
        return len(papers) + len(trials) + len(preprints)

    def revisions(self) -> str:
        """What upstream revised this week: '3 trials, 1 paper retracted, 1 corrected'."""
        trials = sum(1 for spec in self.trials if spec.get("then"))
        kinds = [paper["revised"]["kind"] for paper in self.papers if paper.get("revised")]
        return (f"{trials} trials, {kinds.count('Retraction')} paper(s) retracted, "
                f"{len(kinds) - kinds.count('Retraction')} corrected")

    def serve_last_week(self, pubmed: EutilsServer, trials: CtgovServer,
                        europepmc: EuropePMCServer | None = None) -> None:
        for paper in self.papers:
            if paper.get("week") == "last":
                pubmed.add_article(self.article(paper), self.day(-paper["days_ago"]))
        for spec in self.trials:
            if spec.get("week") == "last":
                trials.add_study(self.study(spec))
        for spec in self.preprints:  # not yet known published: no link
            if europepmc is not None and spec.get("week") == "last":
                europepmc.add(self.preprint({**spec, "published_as": None}))

    def serve_this_week(self, pubmed: EutilsServer, trials: CtgovServer,
                        isrctn: IsrctnServer, europepmc: EuropePMCServer) -> None:
        for paper in self.papers:
            entered = self.day(-paper["days_ago"])
            if paper.get("week") != "last":
                pubmed.add_article(self.article(paper), entered)
            elif paper.get("revised"):
                revision = paper["revised"]
                pubmed.add_article(self.article(paper, revised=True), entered,
                                   modified=self.day(-revision["days_ago"]))
        for spec in self.trials:
            trials.add_study(self.study(spec, revised=spec.get("week") == "last"))
        for spec in self.isrctn:
            isrctn.add_full_trial(spec["isrctn"], full_trial(spec, self.today),
                                  updated=self.day(spec["dates"]["updated"]))
        for spec in self.preprints:  # (last week's again, now with its link)
            europepmc.add(self.preprint(spec))

    def preprint(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The Europe PMC record of *spec*, first indexed its ``days_ago`` before today."""
        indexed = self.day(-spec["days_ago"])
        link = spec.get("published_as")
        published = (link[0], link[1].format(year=indexed.year,
                                             month=MONTHS[indexed.month - 1])) if link else None
        return preprint(spec["ppr"], title=" ".join(spec["title"].split()), indexed=indexed,
                        abstract=" ".join(str(spec["abstract"]).split()),
                        authors=tuple(spec["authors"]), server=spec["server"], doi="",
                        published_as=published)

    # -- PubMed -------------------------------------------------------------------------------

    def article(self, paper: dict[str, Any], *, revised: bool = False) -> ET.Element:
        """The PubmedArticle efetch returns for *paper* (its journal date the entry day)."""
        return article(paper, self.day(-paper["days_ago"]), revised=revised)

    # -- ClinicalTrials.gov -------------------------------------------------------------------

    def study(self, spec: dict[str, Any], *, revised: bool = False) -> dict[str, Any]:
        """The v2 study JSON of *spec* (as revised this week with its ``then:``)."""
        base = json.loads((data_dir() / "ctgov" / spec["base"]).read_text(encoding="utf-8"))
        results = base.pop("resultsSection", None)
        for section in ("derivedSection", "documentSection"):
            base.pop(section, None)
        then = (spec.get("then") or {}) if revised else {}
        facts = {**spec, **then}
        dates = {**spec["dates"], **then.get("dates", {})}
        protocol = base["protocolSection"]
        protocol.pop("referencesModule", None)  # the real record's papers are not these
        ident = {"nctId": spec["nct"], "orgStudyIdInfo": {"id": f"DEMO-{spec['nct'][-3:]}"},
                 "organization": {"fullName": spec["sponsor"], "class": "OTHER"},
                 "briefTitle": spec["title"], "officialTitle": spec["title"]}
        if spec.get("isrctn"):
            ident["secondaryIdInfos"] = [{"id": spec["isrctn"], "type": "REGISTRY",
                                          "domain": "ISRCTN"}]
        protocol["identificationModule"] = ident
        protocol["statusModule"] = self._status(facts, dates, results is not None and
                                                bool(facts.get("results")))
        protocol["sponsorCollaboratorsModule"] = {
            "responsibleParty": {"type": "SPONSOR"},
            "leadSponsor": {"name": spec["sponsor"], "class": "OTHER"}}
        protocol["descriptionModule"] = {"briefSummary": " ".join(spec["summary"].split())}
        protocol["conditionsModule"] = {"conditions": spec["conditions"],
                                        **({"keywords": spec["keywords"]}
                                           if spec.get("keywords") else {})}
        design = protocol["designModule"]
        design["phases"] = spec["phases"]
        count, kind = facts["enrollment"]
        design["enrollmentInfo"] = {"count": count, "type": kind}
        drug, *other = spec["intervention"]
        protocol["armsInterventionsModule"] = {
            "armGroups": [{"label": drug, "type": "EXPERIMENTAL",
                           "interventionNames": [f"Drug: {drug}"]},
                          {"label": "Control", "type": "PLACEBO_COMPARATOR",
                           "interventionNames": ["Drug: Placebo"]}],
            "interventions": [{"type": "DRUG", "name": drug, "otherNames": other,
                               "armGroupLabels": [drug]},
                              {"type": "DRUG", "name": "Placebo", "armGroupLabels": ["Control"]}]}
        protocol["outcomesModule"] = {"primaryOutcomes": [{"measure": spec["outcome"]}]}
        protocol.get("eligibilityModule", {}).pop("eligibilityCriteria", None)
        protocol["contactsLocationsModule"] = {
            "overallOfficials": [{"name": spec["official"], "affiliation": spec["sponsor"],
                                  "role": "PRINCIPAL_INVESTIGATOR"}],
            "locations": [{"facility": spec["sponsor"], "country": country}
                          for country in spec["countries"]]}
        has_results = revised and bool(facts.get("results")) and results is not None
        if has_results:
            base["resultsSection"] = results
        base["hasResults"] = has_results
        return base

    def _status(self, facts: dict[str, Any], dates: dict[str, int],
                results: bool) -> dict[str, Any]:
        def struct(offset: int) -> dict[str, str]:
            when = self.day(offset)
            return {"date": when.isoformat(),
                    "type": "ACTUAL" if when <= self.today else "ESTIMATED"}

        posted, updated = self.day(dates["first_posted"]), self.day(dates["updated"])
        status: dict[str, Any] = {
            "statusVerifiedDate": updated.isoformat()[:7], "overallStatus": facts["status"]}
        if facts.get("why_stopped"):
            status["whyStopped"] = facts["why_stopped"]
        status.update({
            "expandedAccessInfo": {"hasExpandedAccess": False},
            "startDateStruct": struct(dates["start"]),
            "primaryCompletionDateStruct": struct(dates["primary_completion"]),
            "completionDateStruct": struct(dates["completion"]),
            "studyFirstSubmitDate": (posted - timedelta(days=2)).isoformat(),
            "studyFirstSubmitQcDate": (posted - timedelta(days=1)).isoformat(),
            "studyFirstPostDateStruct": {"date": posted.isoformat(), "type": "ACTUAL"}})
        if results:
            shown = self.day(dates["results_posted"])
            status["resultsFirstSubmitDate"] = (shown - timedelta(days=20)).isoformat()
            status["resultsFirstPostDateStruct"] = {"date": shown.isoformat(), "type": "ACTUAL"}
        status["lastUpdateSubmitDate"] = (updated - timedelta(days=1)).isoformat()
        status["lastUpdatePostDateStruct"] = {"date": updated.isoformat(), "type": "ACTUAL"}
        return status


def article(paper: dict[str, Any], when: date, *, revised: bool = False) -> ET.Element:
    """The PubmedArticle efetch returns for *paper*, its journal date *when*."""
    if paper.get("file"):
        _, record = records_from_xml((data_dir() / "pubmed" / paper["file"]).read_bytes())[0]
        _redate(record, when)
        return record
    root = ET.Element("PubmedArticle")
    indexed = bool(paper.get("mesh"))
    citation = ET.SubElement(root, "MedlineCitation", {
        "Status": "MEDLINE" if indexed else "PubMed-not-MEDLINE", "Owner": "NLM"})
    ET.SubElement(citation, "PMID", {"Version": "1"}).text = paper["pmid"]
    art = ET.SubElement(citation, "Article", {"PubModel": "Print-Electronic"})
    journal = ET.SubElement(art, "Journal")
    issue = ET.SubElement(journal, "JournalIssue", {"CitedMedium": "Internet"})
    _date(ET.SubElement(issue, "PubDate"), when, named_month=True)
    ET.SubElement(journal, "Title").text = paper["journal"]
    ET.SubElement(journal, "ISOAbbreviation").text = paper["iso"]
    ET.SubElement(art, "ArticleTitle").text = " ".join(str(paper["title"]).split())
    doi = f"10.5555/watcher-demo.{paper['pmid']}"  # 10.5555: the DOI prefix for examples
    ET.SubElement(art, "ELocationID", {"EIdType": "doi", "ValidYN": "Y"}).text = doi
    if paper.get("abstract"):
        abstract = ET.SubElement(art, "Abstract")
        for line in str(paper["abstract"]).splitlines():
            label, sep, text = line.partition(": ")
            section = ET.SubElement(abstract, "AbstractText")
            if sep and label.isupper():
                section.set("Label", label)
                section.text = text.strip()
            else:
                section.text = line.strip()
    if paper.get("authors"):
        authors = ET.SubElement(art, "AuthorList", {"CompleteYN": "Y"})
        for name in paper["authors"]:
            last, _, initials = name.rpartition(" ")
            author = ET.SubElement(authors, "Author", {"ValidYN": "Y"})
            ET.SubElement(author, "LastName").text = last
            ET.SubElement(author, "Initials").text = initials
    ET.SubElement(art, "Language").text = "eng"
    if paper.get("registry"):
        banks = ET.SubElement(art, "DataBankList", {"CompleteYN": "Y"})
        bank = ET.SubElement(banks, "DataBank")
        ET.SubElement(bank, "DataBankName").text = "ClinicalTrials.gov"
        numbers = ET.SubElement(bank, "AccessionNumberList")
        ET.SubElement(numbers, "AccessionNumber").text = paper["registry"]
    types = ET.SubElement(art, "PublicationTypeList")
    kinds = list(paper.get("types") or ["Journal Article"])
    if revised and paper["revised"]["kind"] == "Retraction":
        kinds.append("Retracted Publication")
    for name in kinds:
        ET.SubElement(types, "PublicationType").text = name
    _date(ET.SubElement(art, "ArticleDate", {"DateType": "Electronic"}), when)
    links = []
    if revised:
        links.append((f"{paper['revised']['kind']}In", paper["revised"]["notice"]))
    if paper.get("notice_for"):
        kind = paper["notice_for"]["kind"]
        links.append((f"{kind}Of" if kind == "Retraction" else f"{kind}For",
                      paper["notice_for"]["pmid"]))
    if links:
        comments = ET.SubElement(citation, "CommentsCorrectionsList")
        for ref_type, pmid in links:
            link = ET.SubElement(comments, "CommentsCorrections", {"RefType": ref_type})
            ET.SubElement(link, "RefSource").text = f"{paper['iso']}. {when.year}."
            ET.SubElement(link, "PMID", {"Version": "1"}).text = str(pmid)
    if indexed:
        headings = ET.SubElement(citation, "MeshHeadingList")
        for heading in paper["mesh"]:
            node = ET.SubElement(headings, "MeshHeading")
            ET.SubElement(node, "DescriptorName", {
                "MajorTopicYN": "Y" if heading.startswith("*") else "N"}).text = \
                heading.lstrip("*")
    data = ET.SubElement(root, "PubmedData")
    ET.SubElement(data, "History")  # the server writes the entry date
    ET.SubElement(data, "PublicationStatus").text = "aheadofprint"
    ids = ET.SubElement(data, "ArticleIdList")
    ET.SubElement(ids, "ArticleId", {"IdType": "pubmed"}).text = paper["pmid"]
    ET.SubElement(ids, "ArticleId", {"IdType": "doi"}).text = doi
    return root


def full_trial(spec: dict[str, Any], today: date) -> str:
    """The ``fullTrial`` XML of *spec*: the real answer's first trial, edited."""
    root = ET.fromstring((data_dir() / "isrctn" / spec["base"]).read_bytes())
    full = copy.deepcopy(root.find(f"{{{NS}}}fullTrial"))
    trial = full.find(f"{{{NS}}}trial")
    dates = {key: today + timedelta(days=offset) for key, offset in spec["dates"].items()}
    number = spec["isrctn"].removeprefix("ISRCTN")
    trial.set("lastUpdated", f"{dates['updated'].isoformat()}T10:00:00.000Z")
    trial.set("publicIdentifierCanonical", spec["isrctn"])
    trial.set("publicIdentifierDateAssigned", f"{dates['registered'].isoformat()}T10:00:00Z")
    isrctn = _at(trial, "isrctn")
    isrctn.text = number
    isrctn.set("dateAssigned", f"{dates['registered'].isoformat()}T10:00:00Z")
    summary = " ".join(spec["summary"].split())
    texts = {
        "trialDescription/title": spec["title"],
        "trialDescription/scientificTitle": spec["title"],
        "trialDescription/acronym": spec["acronym"],
        "trialDescription/studyHypothesis": summary,
        "trialDescription/plainEnglishSummary": summary,
        "externalRefs/doi": f"10.1186/{spec['isrctn']}",
        "externalRefs/clinicalTrialsGovNumber": spec["nct"],
        "trialDesign/primaryStudyDesign": spec["design"],
        "trialDesign/secondaryStudyDesign": "Randomised controlled trial",
        "trialDesign/overallEndDate": _stamp(dates["overall_end"]),
        "participants/targetEnrolment": str(spec["target"]),
        "participants/recruitmentStart": _stamp(dates["start"]),
        "participants/recruitmentEnd": _stamp(dates["end"]),
        "conditions/condition/description": spec["condition"],
        "conditions/condition/diseaseClass1": "Mental and Behavioural Disorders",
        "interventions/intervention/description": summary,
        "interventions/intervention/interventionType": "Drug",
        "interventions/intervention/phase": spec["phase"],
        "interventions/intervention/drugNames": spec["drug"],
    }
    for path, value in texts.items():
        _at(trial, path).text = value
    for path in ("trialDescription/primaryOutcomes", "trialDescription/secondaryOutcomes",
                 "trialDescription/secondaryOutcome", "participants/trialCentres",
                 "participants/inclusion", "participants/exclusion"):
        node = _at(trial, path)  # the real trial's own text: not this one's
        node.clear()
    countries = _at(trial, "participants/recruitmentCountries")
    countries.clear()
    for country in spec["countries"]:
        ET.SubElement(countries, f"{{{NS}}}country").text = country
    _at(full, "sponsor/organisation").text = spec["sponsor"]
    for node in full.findall(f"{{{NS}}}sponsor/{{{NS}}}rorId"):
        node.text = ""
    return ET.tostring(full, encoding="unicode")


def _at(node: ET.Element, path: str) -> ET.Element:
    found = node.find("/".join(f"{{{NS}}}{part}" for part in path.split("/")))
    if found is None:
        raise ValueError(f"demo ISRCTN record: no <{path}>")
    return found


def _stamp(when: date) -> str:
    return f"{when.isoformat()}T00:00:00.000Z"


def _date(node: ET.Element, when: date, *, named_month: bool = False) -> None:
    for child in list(node):
        node.remove(child)
    ET.SubElement(node, "Year").text = str(when.year)
    ET.SubElement(node, "Month").text = (MONTHS[when.month - 1] if named_month
                                         else f"{when.month:02d}")
    ET.SubElement(node, "Day").text = f"{when.day:02d}"


def _redate(article: ET.Element, when: date) -> None:
    """A real record published on *when*: its journal issue and electronic dates."""
    for node in article.findall("MedlineCitation/Article/Journal/JournalIssue/PubDate"):
        _date(node, when, named_month=True)
    for node in article.findall("MedlineCitation/Article/ArticleDate"):
        _date(node, when)
