"""Raw source payloads in the shapes the real upstreams send, built from the real fixtures.

Each function takes a :class:`Paper` or :class:`Trial` (one version of a study as an upstream
describes it) and returns the payload a source keeps for it:

- PubMed: a ``<PubmedArticle>`` edited from the real MEDLINE RCT record PMID 28731372
  (tests/fixtures/pubmed_metapub/28731372.xml: its structure, journal info, history); the
  reference list, MeSH and chemicals dropped, as a record fresh in PubMed has none.
- Europe PMC: one ``resultList.result`` object of a ``resultType=core`` search, in the shape
  of /work/shared/fixtures/europepmc_real (PPR preprints with ``bookOrReportDetails`` and
  ``commentCorrectionList``; MED records with pmid, pmcid, doi, journalInfo).
- ClinicalTrials.gov: a v2 study edited from tests/fixtures/ctgov_aact/NCT03630471.json (a
  mental-health RCT).
- ISRCTN: a ``<fullTrial>`` edited from the first trial of
  tests/fixtures/isrctn_real/search_mecfs_3of11.xml, serialised as the source keeps it
  (``ET.tostring`` of the element, namespace kept).
- A feed: a one-entry RSS 2.0 document in the shape journals' table-of-contents feeds and
  medRxiv's subject feeds use (``dc:identifier doi:…``, ``prism:doi``, ``dc:creator``).
- Look-up answers: bioRxiv ``/pubs`` and Crossref ``works`` in the shapes of
  /work/shared/fixtures/biorxiv_real/pubs_zhou.json and crossref_real/nature_work.json.
"""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass
class Paper:
    """One version of a publication (a journal article, a preprint, a notice)."""

    title: str
    authors: list[tuple[str, str]]  # (last name, fore name)
    year: int
    month: int = 3
    day: int = 12
    pmid: str = ""
    pmcid: str = ""
    doi: str = ""  # written exactly as given (a malformed one too)
    ppr: str = ""
    journal: str = "Journal of Affective Disorders"
    iso: str = "J Affect Disord"
    server: str = ""  # a preprint's server (medRxiv, bioRxiv, Research Square)
    types: list[str] = field(default_factory=lambda: ["Journal Article"])
    abstract: str = ""
    ncts: list[str] = field(default_factory=list)  # trials it reports (DataBankList)
    corrections: list[tuple[str, str, str]] = field(default_factory=list)  # (RefType, PMID, ref)
    epmc_links: list[dict[str, str]] = field(default_factory=list)  # commentCorrection entries
    url: str = ""  # a feed entry's link when it is not the DOI

    @property
    def iso_date(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


@dataclass
class Trial:
    """One registry's record of a trial."""

    title: str
    official_title: str
    official: tuple[str, str]  # principal investigator (last, fore)
    sponsor: str
    start: str  # YYYY-MM-DD
    nct: str = ""
    isrctn: str = ""
    secondary: list[tuple[str, str]] = field(default_factory=list)  # (id, type)
    conditions: list[str] = field(default_factory=lambda: ["Depression"])
    summary: str = ""
    pmids: list[str] = field(default_factory=list)  # ClinicalTrials.gov references


def initials(fore: str) -> str:
    return "".join(part[0] for part in fore.replace("-", " ").split())


# --- PubMed ------------------------------------------------------------------------------------

def _pubmed_base() -> ET.Element:
    root = ET.fromstring((FIXTURES / "pubmed_metapub/28731372.xml").read_bytes())
    return root.find("PubmedArticle")


_PUBMED = _pubmed_base()


def _date(parent: ET.Element, tag: str, year: int, month: int | str, day: int | None = None,
          **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    ET.SubElement(node, "Year").text = str(year)
    ET.SubElement(node, "Month").text = str(month)
    if day is not None:
        ET.SubElement(node, "Day").text = str(day)
    return node


def pubmed(paper: Paper) -> str:
    """A ``<PubmedArticle>`` as efetch returns it (and the source keeps it)."""
    article = copy.deepcopy(_PUBMED)
    citation = article.find("MedlineCitation")
    citation.set("Status", "PubMed-not-MEDLINE" if "Preprint" in paper.types else "In-Process")
    citation.find("PMID").text = paper.pmid
    for tag in ("DateCompleted", "ChemicalList", "MeshHeadingList", "KeywordList",
                "CoiStatement"):
        for node in citation.findall(tag):
            citation.remove(node)
    art = citation.find("Article")
    journal = art.find("Journal")
    journal.find("Title").text = paper.journal
    journal.find("ISOAbbreviation").text = paper.iso
    issue = journal.find("JournalIssue")
    pub_date = issue.find("PubDate")
    issue.remove(pub_date)
    _date(issue, "PubDate", paper.year, _MONTHS[paper.month - 1])
    art.find("ArticleTitle").text = paper.title
    for child in list(art.find("ArticleTitle")):
        art.find("ArticleTitle").remove(child)
    location = art.find("ELocationID")
    if paper.doi:
        location.text = paper.doi
    else:
        art.remove(location)
    abstract = art.find("Abstract")
    for child in list(abstract):
        abstract.remove(child)
    if paper.abstract:
        ET.SubElement(abstract, "AbstractText").text = paper.abstract
    else:
        art.remove(abstract)
    authors = art.find("AuthorList")
    for child in list(authors):
        authors.remove(child)
    for last, fore in paper.authors:
        author = ET.SubElement(authors, "Author", {"ValidYN": "Y"})
        ET.SubElement(author, "LastName").text = last
        ET.SubElement(author, "ForeName").text = fore
        ET.SubElement(author, "Initials").text = initials(fore)
    if not paper.authors:
        art.remove(authors)
    for node in art.findall("GrantList"):
        art.remove(node)
    types = art.find("PublicationTypeList")
    for child in list(types):
        types.remove(child)
    for kind in paper.types:
        ET.SubElement(types, "PublicationType").text = kind
    if paper.ncts:
        banks = ET.Element("DataBankList", {"CompleteYN": "Y"})
        bank = ET.SubElement(banks, "DataBank")
        ET.SubElement(bank, "DataBankName").text = "ClinicalTrials.gov"
        numbers = ET.SubElement(bank, "AccessionNumberList")
        for nct in paper.ncts:
            ET.SubElement(numbers, "AccessionNumber").text = nct
        art.insert(list(art).index(types), banks)
    article_date = art.find("ArticleDate")
    art.remove(article_date)
    _date(art, "ArticleDate", paper.year, f"{paper.month:02d}", paper.day, DateType="Electronic")
    if paper.corrections:
        comments = ET.SubElement(citation, "CommentsCorrectionsList")
        for ref_type, pmid, source in paper.corrections:
            comment = ET.SubElement(comments, "CommentsCorrections", {"RefType": ref_type})
            ET.SubElement(comment, "RefSource").text = source
            ET.SubElement(comment, "PMID", {"Version": "1"}).text = pmid
    data = article.find("PubmedData")
    for node in list(data):
        data.remove(node)
    history = ET.SubElement(data, "History")
    for status in ("pubmed", "medline", "entrez"):
        node = _date(history, "PubMedPubDate", paper.year, paper.month, paper.day,
                     PubStatus=status)
        ET.SubElement(node, "Hour").text = "6"
        ET.SubElement(node, "Minute").text = "0"
    ET.SubElement(data, "PublicationStatus").text = "epublish"
    ids = ET.SubElement(data, "ArticleIdList")
    ET.SubElement(ids, "ArticleId", {"IdType": "pubmed"}).text = paper.pmid
    if paper.pmcid:
        ET.SubElement(ids, "ArticleId", {"IdType": "pmc"}).text = paper.pmcid
    if paper.doi:
        ET.SubElement(ids, "ArticleId", {"IdType": "doi"}).text = paper.doi
    ET.indent(article, space="  ")
    return ET.tostring(article, encoding="unicode")


# --- Europe PMC --------------------------------------------------------------------------------

def _author_string(paper: Paper) -> str:
    return ", ".join(f"{last} {initials(fore)}" for last, fore in paper.authors) + "."


def europepmc(paper: Paper) -> str:
    """One ``resultType=core`` search result: a PPR preprint when *paper* has a PPR id, else a
    MED record."""
    record: dict = {"id": paper.ppr or paper.pmid, "source": "PPR" if paper.ppr else "MED"}
    if paper.pmid and not paper.ppr:
        record["pmid"] = paper.pmid
    if paper.pmcid:
        record["pmcid"] = paper.pmcid
    if paper.doi:
        record["doi"] = paper.doi
    record["title"] = paper.title
    record["authorString"] = _author_string(paper)
    record["authorList"] = {"author": [
        {"fullName": f"{last} {initials(fore)}", "firstName": fore, "lastName": last,
         "initials": initials(fore)} for last, fore in paper.authors]}
    record["pubYear"] = str(paper.year)
    if paper.abstract:
        record["abstractText"] = paper.abstract
    if paper.ppr:
        record["bookOrReportDetails"] = {"publisher": paper.server or "medRxiv",
                                         "yearOfPublication": paper.year}
        record["pubTypeList"] = {"pubType": ["Preprint"]}
    else:
        record["journalInfo"] = {"journal": {"title": paper.journal,
                                             "isoabbreviation": paper.iso},
                                 "yearOfPublication": paper.year,
                                 "printPublicationDate": paper.iso_date}
        record["pubTypeList"] = {"pubType": [t.lower() for t in paper.types]}
    if paper.epmc_links:
        record["commentCorrectionList"] = {"commentCorrection": paper.epmc_links}
    record["citedByCount"] = 0
    record["firstIndexDate"] = paper.iso_date
    record["firstPublicationDate"] = paper.iso_date
    return json.dumps(record, ensure_ascii=False)


def epmc_link(kind: str, other_source: str, other_id: str, note: str,
              reference: str = "") -> dict[str, str]:
    """A ``commentCorrection`` entry as Europe PMC writes it."""
    link = {"source": other_source, "id": other_id}
    if reference:
        link["reference"] = reference
    link.update({"type": kind, "note": note, "orderIn": 10001})
    return link


# --- a feed entry ------------------------------------------------------------------------------

def feed(paper: Paper, *, channel: str, guid: str | None = None, identifier: bool = True,
         link: str | None = None) -> str:
    """A one-entry RSS 2.0 document (a journal's table of contents, medRxiv's subject feed).
    *identifier* writes the DOI as ``dc:identifier``/``prism:doi`` (as publishers do); the
    link is the DOI resolver's when *link* is not given and the paper has a DOI."""
    href = link or paper.url or (f"https://doi.org/{paper.doi}" if paper.doi else "")
    creators = "".join(f"<dc:creator>{escape(f'{last}, {fore}')}</dc:creator>"
                       for last, fore in paper.authors)
    extra = ""
    if identifier and paper.doi:
        extra = (f"<dc:identifier>doi:{escape(paper.doi)}</dc:identifier>"
                 f"<prism:doi>{escape(paper.doi)}</prism:doi>")
    guid_xml = f'<guid isPermaLink="false">{escape(guid)}</guid>' if guid else ""
    day = f"{paper.day:02d} {_MONTHS[paper.month - 1]} {paper.year}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">\n'
        f"<channel><title>{escape(channel)}</title><link>https://example.org/toc</link>"
        f"<description>{escape(channel)}: latest articles</description>\n"
        f"<item><title>{escape(paper.title)}</title>"
        + (f"<link>{escape(href)}</link>" if href else "")
        + f"{guid_xml}<description>{escape(paper.abstract)}</description>{creators}"
        f"<pubDate>Tue, {day} 08:00:00 +0000</pubDate>"
        f"<dc:date>{paper.iso_date}</dc:date>{extra}</item>\n</channel></rss>\n")


# --- ClinicalTrials.gov and ISRCTN -------------------------------------------------------------

_CTGOV = json.loads((FIXTURES / "ctgov_aact/NCT03630471.json").read_text())


def ctgov(trial: Trial) -> str:
    """A v2 study (``/api/v2/studies/{nct}``)."""
    data = copy.deepcopy(_CTGOV)
    data.pop("documentSection", None)
    protocol = data["protocolSection"]
    ident = protocol["identificationModule"]
    ident.update({"nctId": trial.nct, "briefTitle": trial.title,
                  "officialTitle": trial.official_title,
                  "orgStudyIdInfo": {"id": f"{trial.nct[-5:]}-KET"},
                  "organization": {"fullName": trial.sponsor, "class": "OTHER"}})
    ident.pop("acronym", None)
    ident["secondaryIdInfos"] = [{"id": sid, "type": kind} for sid, kind in trial.secondary]
    status = protocol["statusModule"]
    status["startDateStruct"] = {"date": trial.start, "type": "ACTUAL"}
    status["studyFirstPostDateStruct"] = {"date": trial.start, "type": "ACTUAL"}
    status["lastUpdatePostDateStruct"] = {"date": trial.start, "type": "ACTUAL"}
    protocol["sponsorCollaboratorsModule"] = {"leadSponsor": {"name": trial.sponsor,
                                                              "class": "OTHER"}}
    protocol["descriptionModule"] = {"briefSummary": trial.summary or trial.official_title}
    protocol["conditionsModule"] = {"conditions": trial.conditions}
    protocol["eligibilityModule"]["eligibilityCriteria"] = (
        "Inclusion Criteria:\n\n* Adults 18-70\n* Current diagnosis by structured interview"
        "\n\nExclusion Criteria:\n\n* Psychotic disorder\n* Prior ketamine misuse")
    protocol["outcomesModule"] = {"primaryOutcomes": [
        {"measure": "Change in symptom severity", "timeFrame": "Baseline to week 2"}]}
    protocol["armsInterventionsModule"] = {
        "armGroups": [{"label": "Ketamine", "type": "EXPERIMENTAL",
                       "interventionNames": ["Drug: Ketamine"]},
                      {"label": "Midazolam", "type": "ACTIVE_COMPARATOR",
                       "interventionNames": ["Drug: Midazolam"]}],
        "interventions": [{"type": "DRUG", "name": "Ketamine",
                           "description": "0.5 mg/kg intravenously over 40 minutes"},
                          {"type": "DRUG", "name": "Midazolam",
                           "description": "0.045 mg/kg intravenously over 40 minutes"}]}
    protocol.pop("ipdSharingStatementModule", None)
    last, fore = trial.official
    protocol["contactsLocationsModule"] = {"overallOfficials": [
        {"name": f"{fore} {last}, MD", "affiliation": trial.sponsor,
         "role": "PRINCIPAL_INVESTIGATOR"}]}
    protocol["referencesModule"] = {"references": [
        {"pmid": pmid, "type": "RESULT", "citation": "results"} for pmid in trial.pmids]}
    return json.dumps(data, ensure_ascii=False)


def _isrctn_base() -> ET.Element:
    root = ET.fromstring((FIXTURES / "isrctn_real/search_mecfs_3of11.xml").read_bytes())
    return next(child for child in root if child.tag.endswith("fullTrial"))


_ISRCTN = _isrctn_base()
_NS = "{http://www.67bricks.com/isrctn}"


def isrctn(trial: Trial) -> str:
    """A ``<fullTrial>`` as the source keeps it."""
    full = copy.deepcopy(_ISRCTN)
    node = full.find(f"{_NS}trial")
    node.find(f"{_NS}isrctn").text = trial.isrctn.removeprefix("ISRCTN")
    description = node.find(f"{_NS}trialDescription")
    description.find(f"{_NS}title").text = trial.title
    description.find(f"{_NS}scientificTitle").text = trial.official_title
    description.find(f"{_NS}acronym").text = None
    description.find(f"{_NS}plainEnglishSummary").text = trial.summary or trial.official_title
    refs = node.find(f"{_NS}externalRefs")
    refs.find(f"{_NS}doi").text = f"10.1186/{trial.isrctn}"
    secondary = refs.find(f"{_NS}secondaryNumbers")
    for sid, kind in trial.secondary:
        if kind == "clinicalTrialsGovNumber":
            refs.find(f"{_NS}clinicalTrialsGovNumber").text = sid
        else:
            ET.SubElement(secondary, f"{_NS}secondaryNumber", {"numberType": kind}).text = sid
    participants = node.find(f"{_NS}participants")
    participants.find(f"{_NS}inclusion").text = "1. Adults aged 18 to 70 years\n2. ..."
    participants.find(f"{_NS}exclusion").text = "1. Psychotic disorder\n2. ..."
    description.find(f"{_NS}studyHypothesis").text = trial.official_title
    participants.find(f"{_NS}recruitmentStart").text = f"{trial.start}T00:00:00.000Z"
    conditions = node.find(f"{_NS}conditions/{_NS}condition/{_NS}description")
    conditions.text = "; ".join(trial.conditions)
    full.find(f"{_NS}sponsor/{_NS}organisation").text = trial.sponsor
    return ET.tostring(full, encoding="unicode")


# --- look-up answers ---------------------------------------------------------------------------

def biorxiv_pubs(preprint: Paper, published: Paper) -> str:
    """bioRxiv/medRxiv ``/pubs/{server}/{doi}``: the preprint's published version."""
    authors = "; ".join(f"{last}, {initials(fore)}." for last, fore in preprint.authors[:3])
    return json.dumps({"messages": [{"status": "ok"}], "collection": [{
        "preprint_doi": preprint.doi, "published_doi": published.doi,
        "published_journal": published.journal,
        "preprint_platform": preprint.server or "medRxiv",
        "preprint_title": preprint.title, "preprint_authors": authors,
        "preprint_category": "psychiatry and clinical psychology",
        "preprint_date": preprint.iso_date, "published_date": published.iso_date,
        "preprint_abstract": preprint.abstract}]}, ensure_ascii=False)


def crossref_work(published: Paper, preprint_doi: str) -> str:
    """Crossref ``/works/{doi}`` of the journal article, its preprint in ``relation``."""
    return json.dumps({"status": "ok", "message-type": "work", "message": {
        "DOI": published.doi, "title": [published.title],
        "container-title": [published.journal],
        "issued": {"date-parts": [[published.year, published.month, published.day]]},
        "author": [{"given": fore, "family": last,
                    "sequence": "first" if i == 0 else "additional", "affiliation": []}
                   for i, (last, fore) in enumerate(published.authors)],
        "type": "journal-article",
        "relation": {"has-preprint": [{"id-type": "doi", "id": preprint_doi,
                                       "asserted-by": "object"}]}}}, ensure_ascii=False)
