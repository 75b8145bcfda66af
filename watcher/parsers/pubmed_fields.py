"""The parts of a PubMed record the team reads beyond the simple Study fields: MeSH headings with
their major-topic flags, author keywords, substances, journal issue data (volume, issue, pages,
ISSNs), structured authors (affiliations, ORCID), labelled abstract sections, and trial-registry
ids from the DataBankList and the abstract text.

Input is the record's elements (``pubmed_xml``); output is plain JSON-ready data kept in
``Study.details`` and ``Study.linked_ids``, so a stored record can be re-parsed into it later.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from ..models import normalize_id
from .pubmed_xml import Element, attribute, child, child_text, children, text

#: Trial-registry id schemes kept in ``Study.linked_ids``, in display order.
REGISTRY_SCHEMES = ("nct", "isrctn", "eudract", "ctis", "drks", "chictr", "actrn")

# Each registry's id as written in an abstract or a DataBankList accession. EudraCT is
# YYYY-NNNNNN-CC; a CTIS (EU CT) number adds a two-digit suffix (YYYY-5NNNNN-NN-NN); both are
# only taken after a word that names the register, since bare digit groups are ambiguous.
# re.ASCII: \d is [0-9] only, so no id is ever kept with another script's digits (see _ascii).
_NCT = re.compile(r"\bNCT\s*[:-]?\s*(\d{8})\b", re.IGNORECASE | re.ASCII)
_ISRCTN = re.compile(r"\bISRCTN[\s:]*(\d{8})\b", re.IGNORECASE | re.ASCII)
_DRKS = re.compile(r"\bDRKS[\s:]*(\d{8})\b", re.IGNORECASE | re.ASCII)
_ACTRN = re.compile(r"\bACTRN[\s:]*(\d{14})\b", re.IGNORECASE | re.ASCII)
_CHICTR = re.compile(r"\bChiCTR(-?(?:[A-Z]{3}-?)?\d{8,10})\b", re.IGNORECASE | re.ASCII)
_EU_NUMBER = r"((?:19|20)\d{2}-\d{6}-\d{2}(?:-\d{2})?)(?![\d-]\d)"
_EU_REGISTER = re.compile(
    r"\b(?:EudraCT|EUCTR|CTIS|EU[\s-]?CT|EU\s+Clinical\s+Trials?\s+(?:Register|Information"
    r"\s+System))(?![a-z])[^\d;]{0,40}?" + _EU_NUMBER, re.IGNORECASE | re.ASCII)
# "EudraCT 2012-000123-12 and 2013-000456-34": a number listed right after one the register named.
_EU_NEXT = re.compile(r"\s*(?:,|/|&|and)\s*" + _EU_NUMBER, re.IGNORECASE | re.ASCII)
_EU_BARE = re.compile(r"(?<![\d-])" + _EU_NUMBER, re.ASCII)
#: What every pattern above starts with: most abstracts name no register, and one search for
#: this is a third of the cost of trying each pattern.
_ANY_REGISTER = re.compile(r"\b(?:NCT|ISRCTN|DRKS|ACTRN|ChiCTR|EU|CTIS)", re.IGNORECASE | re.ASCII)
_ORCID = re.compile(r"(\d{4})[-\s]?(\d{4})[-\s]?(\d{4})[-\s]?(\d{3}[\dX])$",
                    re.IGNORECASE | re.ASCII)
#: Hyphens and dashes publishers put where an id has "-" (U+2010 is common in Wiley abstracts).
_DASH_CHARS = "\u2010\u2011\u2012\u2013\u2212\ufe63\uff0d"
DASHES = str.maketrans({c: "-" for c in _DASH_CHARS})


def _ascii(text: str) -> str:
    """Text as the id patterns read it: full-width digits and letters (NFKC) and Unicode hyphens
    become ASCII, so 'NCT０１２３４５６７' and 'ChiCTR\u2010IOR\u201017012345' are found in the form
    the registries use."""
    if text.isascii():  # (nothing to change)
        return text
    text = unicodedata.normalize("NFKC", text)
    for dash in _DASH_CHARS:  # (a few scans: str.translate with a table is ten times slower)
        if dash in text:
            text = text.replace(dash, "-")
    return text


def _eu_scheme(number: str) -> str:
    return "ctis" if number.count("-") == 3 else "eudract"


def registry_ids_in_text(text: str) -> dict[str, list[str]]:
    """Trial-registry ids named in free text (an abstract), normalized, in order of mention."""
    found: dict[str, list[str]] = {}
    text = _ascii(text)
    if not _ANY_REGISTER.search(text):
        return found

    def add(scheme: str, value: str) -> None:
        value = normalize_id(scheme, value)
        if value not in found.setdefault(scheme, []):
            found[scheme].append(value)

    for match in _NCT.finditer(text):
        add("nct", "NCT" + match.group(1))
    for scheme, pattern, prefix in (("isrctn", _ISRCTN, "ISRCTN"), ("drks", _DRKS, "DRKS"),
                                    ("actrn", _ACTRN, "ACTRN"), ("chictr", _CHICTR, "ChiCTR")):
        for match in pattern.finditer(text):
            add(scheme, prefix + match.group(1))
    for match in _EU_REGISTER.finditer(text):
        while match:
            add(_eu_scheme(match.group(1)), match.group(1))
            match = _EU_NEXT.match(text, match.end())
    return {scheme: values for scheme, values in found.items() if values}


def _databank_reader(name: str) -> Callable[[str], tuple[str, str] | None] | None:
    """How a trial registry's DataBankList accession becomes (scheme, id); None for a databank
    that is not a trial registry this watcher links (GEO, PubChem ...)."""
    name = name.strip().lower()
    prefixed = {"isrctn": ("isrctn", _ISRCTN, "ISRCTN"), "drks": ("drks", _DRKS, "DRKS"),
                "anzctr": ("actrn", _ACTRN, "ACTRN"), "chictr": ("chictr", _CHICTR, "ChiCTR")}
    if name.startswith("clinicaltrials"):
        def read_nct(value: str) -> tuple[str, str]:
            match = _NCT.search(_ascii(value))
            return "nct", "NCT" + match.group(1) if match else normalize_id("nct", value)
        return read_nct
    if name in prefixed:
        scheme, pattern, prefix = prefixed[name]

        def read(value: str) -> tuple[str, str]:
            match = pattern.search(_ascii(value))
            return scheme, normalize_id(scheme, prefix + match.group(1) if match else value)
        return read
    if name in ("eudract", "ctis", "euctr"):
        def read_eu(value: str) -> tuple[str, str] | None:
            match = _EU_BARE.search(_ascii(value))
            return (_eu_scheme(match.group(1)), match.group(1)) if match else None
        return read_eu
    return None


def databanks(article: Element) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Every DataBankList entry as [{"name", "accessions"}] (GEO and PubChem ones too), and the
    trial-registry ids among them by scheme."""
    return databank_entries(
        (child_text(bank, "DataBankName"),
         [text(a) for a in children(child(bank, "AccessionNumberList"), "AccessionNumber")])
        for bank in children(child(article, "DataBankList"), "DataBank"))


def databank_entries(entries: Iterable[tuple[str, list[str]]]
                     ) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """(name, accessions) pairs as ``databanks`` gives them."""
    banks: list[dict[str, Any]] = []
    trials: dict[str, list[str]] = {}
    for name, given in entries:
        name = name.strip()
        accessions = [a.strip() for a in given if a.strip()]
        banks.append({"name": name, "accessions": accessions})
        reader = _databank_reader(name)
        pairs = [reader(accession) for accession in accessions] if reader else []
        for pair in pairs:
            if pair and pair[1] not in trials.setdefault(pair[0], []):
                trials[pair[0]].append(pair[1])
    return banks, {scheme: values for scheme, values in trials.items() if values}


def merge_ids(*groups: dict[str, list[str]]) -> dict[str, list[str]]:
    """Several {scheme: ids} into one, first seen first, schemes in REGISTRY_SCHEMES order."""
    merged: dict[str, list[str]] = {}
    for group in groups:
        for scheme, values in group.items():
            known = merged.setdefault(scheme, [])
            known.extend(v for v in values if v not in known)
    order = {scheme: i for i, scheme in enumerate(REGISTRY_SCHEMES)}
    return {s: merged[s] for s in sorted(merged, key=lambda s: order.get(s, len(order)))
            if merged[s]}


def _yes(element: Element | None, name: str = "MajorTopicYN") -> bool:
    return (attribute(element, name) or "N") == "Y"


def mesh_headings(citation: Element, clean: Callable[[Any], str]) -> list[dict[str, Any]]:
    """[{"descriptor", "ui", "major", "qualifiers": [{"name", "ui", "major"}], "major_topic"}]:
    ``major`` is the descriptor's own MajorTopicYN; ``major_topic`` is what PubMed stars (the
    descriptor or any of its qualifiers is major), i.e. what [majr] searches find."""
    headings = []
    for heading in children(child(citation, "MeshHeadingList"), "MeshHeading"):
        descriptor = child(heading, "DescriptorName")
        qualifiers = [{"name": clean(text(q)), "ui": attribute(q, "UI"), "major": _yes(q)}
                      for q in children(heading, "QualifierName")]
        major = _yes(descriptor)
        name = clean(text(descriptor))
        if not name:
            continue  # a heading without its descriptor says nothing
        headings.append({"descriptor": name, "ui": attribute(descriptor, "UI"),
                         "major": major, "qualifiers": qualifiers,
                         "major_topic": major or any(q["major"] for q in qualifiers)})
    return headings


def keywords(keyword_lists: list[Element], clean: Callable[[Any], str]) -> list[dict[str, Any]]:
    """[{"keyword", "major", "owner"}]: author keywords are owner NOTNLM."""
    found = []
    for keyword_list in keyword_lists:
        owner = attribute(keyword_list, "Owner")
        for keyword in children(keyword_list, "Keyword"):
            value = clean(text(keyword))
            if value:
                found.append({"keyword": value, "major": _yes(keyword), "owner": owner})
    return found


def substances(citation: Element, clean: Callable[[Any], str]) -> list[dict[str, str]]:
    """[{"name", "registry_number", "ui"}]; registry number "0" (none assigned) becomes ""."""
    found = []
    for chemical in children(child(citation, "ChemicalList"), "Chemical"):
        name = child(chemical, "NameOfSubstance")
        number = child_text(chemical, "RegistryNumber").strip()
        found.append({"name": clean(text(name)), "registry_number": "" if number == "0"
                      else number, "ui": attribute(name, "UI")})
    return found


def journal_info(article: Element, citation: Element,
                 clean: Callable[[Any], str]) -> dict[str, Any]:
    """{"title", "iso_abbreviation", "volume", "issue", "pages", "elocation_ids", "issn"}.

    ``pages`` is MedlinePgn (else StartPage-EndPage); an online-only article with no pages gets
    its ELocationID instead (a pii such as e0123 first, else its DOI). ``issn`` lists the
    journal's ISSN with its IssnType (Print or Electronic) and the ISSN-L as type "Linking"."""
    journal = child(article, "Journal")
    issue = child(journal, "JournalIssue")
    locations = [{"type": attribute(e, "EIdType"), "id": text(e).strip()}
                 for e in children(article, "ELocationID") if text(e).strip()]
    pages = _pages(child(article, "Pagination"))
    if not pages and locations:
        by_type = {loc["type"]: loc["id"] for loc in reversed(locations)}
        pages = by_type.get("pii") or by_type.get("doi") or locations[0]["id"]
    issns = []
    issn = child(journal, "ISSN")
    if text(issn):
        issns.append({"type": attribute(issn, "IssnType"), "value": text(issn).strip()})
    linking = child_text(child(citation, "MedlineJournalInfo"), "ISSNLinking").strip()
    if linking:
        issns.append({"type": "Linking", "value": linking})
    return {"title": clean(child_text(journal, "Title")),
            "iso_abbreviation": child_text(journal, "ISOAbbreviation").strip(),
            "volume": child_text(issue, "Volume").strip(),
            "issue": child_text(issue, "Issue").strip(),
            "pages": pages, "elocation_ids": locations, "issn": issns}


def book_journal_info(book_title: str, clean: Callable[[Any], str]) -> dict[str, Any]:
    """A book's ``journal_info``: its title, the other keys empty."""
    return {"title": clean(book_title), "iso_abbreviation": "", "volume": "", "issue": "",
            "pages": "", "elocation_ids": [], "issn": []}


def _pages(pagination: Element | None) -> str:
    medline = child_text(pagination, "MedlinePgn").strip()
    if medline:
        return medline
    start = child_text(pagination, "StartPage").strip()
    end = child_text(pagination, "EndPage").strip()
    return f"{start}-{end}" if start and end else start


def normalize_orcid(value: str) -> str:
    """'https://orcid.org/0000-0002-4590-7461' (or the bare 16 characters, or groups split by
    spaces) -> the bare 0000-0000-0000-000X form; "" when it is not an ORCID iD, including a
    wrong check digit (a typo would link the author to nobody's, or somebody else's, profile)."""
    text = re.sub(r"^\s*(?:https?://)?(?:www\.)?orcid\.org/", "", value.strip(),
                  flags=re.IGNORECASE).strip().strip("/")
    match = _ORCID.match(text)
    if not match:
        return ""
    orcid = "-".join(match.groups()).upper()
    return orcid if _orcid_check_digit(orcid.replace("-", "")[:15]) == orcid[-1] else ""


def _orcid_check_digit(digits: str) -> str:
    """ISO 7064 MOD 11-2, the check character ORCID puts last."""
    total = 0
    for digit in digits:
        total = (total + int(digit)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


def authors(author_list: Element | None, clean: Callable[[Any], str]) -> list[dict[str, Any]]:
    """[{"last_name", "fore_name", "initials", "suffix", "collective_name", "affiliations",
    "orcid"}] in byline order; an absent part is ""."""
    found = []
    for author in children(author_list, "Author"):
        orcid = ""
        for identifier in children(author, "Identifier"):
            if attribute(identifier, "Source").upper() == "ORCID":
                orcid = normalize_orcid(text(identifier))
                if orcid:
                    break
        affiliations = [clean(child_text(info, "Affiliation"))
                        for info in children(author, "AffiliationInfo")]
        found.append({"last_name": clean(child_text(author, "LastName")),
                      "fore_name": clean(child_text(author, "ForeName")),
                      "initials": child_text(author, "Initials").strip(),
                      "suffix": clean(child_text(author, "Suffix")),
                      "collective_name": clean(child_text(author, "CollectiveName")),
                      "affiliations": [a for a in affiliations if a], "orcid": orcid})
    return found


def abstract_sections(abstract: Element | None,
                      clean: Callable[[Any], str]) -> list[dict[str, str]]:
    """[{"label", "category", "text"}] per AbstractText: a structured abstract's sections
    (Label, NlmCategory) as given; an unstructured abstract is one section with no label."""
    sections = []
    for part in children(abstract, "AbstractText"):
        value = clean(text(part))
        if value:
            sections.append({"label": attribute(part, "Label"),
                             "category": attribute(part, "NlmCategory"), "text": value})
    return sections
