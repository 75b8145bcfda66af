"""Pure parsers for Europe PMC's REST ``search`` answer (``format=json``, ``resultType=core``
or ``lite``): the answer's ``hitCount`` and ``nextCursorMark``, and one :class:`SourceRecord`
per result, its raw JSON kept so it can be re-read offline.

No network here. A preprint (``source: PPR``) is a ``preprint`` study with its ``ppr`` id and
its server's DOI (``preprint_doi``); a PubMed record (``MED``) carries ``pmid`` (and ``pmcid``,
``doi``); a PMC-only one ``pmcid``. The links Europe PMC knows between a preprint and its
published version (``commentCorrection`` of type "Preprint of" / "Preprint in") become
``details["versions"]`` (:class:`watcher.versions.VersionLink`). Anything that is not a search
answer (an ``errorBean``, an empty object, an HTML page, truncated JSON, a ``hitCount`` without
its ``resultList``) is a :class:`ParseError`, never zero hits; one result that cannot be read
fails alone.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import ParseError
from ..models import SourceRecord, Study
from ..versions import AUTHORITATIVE, GUESSED, VersionLink, clean_doi, doi_scheme
from .pubmed_fields import registry_ids_in_text

SOURCE = "europepmc"
PAGE_URL = "https://europepmc.org/article/{source}/{id}"
#: The words of a link's note saying Europe PMC guessed it from a title and first author.
_GUESS = re.compile(r"title.{0,3}first.{0,3}author", re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
#: Inline markup, removed without a space ("<i>BRCA</i>-negative" stays one word).
_INLINE = re.compile(r"</?(?:i|b|em|strong|sup|sub|u|sc|span|italic|bold)(?:\s[^>]*)?>",
                     re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: "Nature. 2020 Mar;579(7798):270-273" -> journal, date
_REFERENCE = re.compile(r"^\s*(?P<journal>[^.]+?)\.\s+(?P<date>\d{4}(?:\s+\w{3})?(?:\s+\d{1,2})?)")
_PUBLISHED_SCHEME = {"MED": "pmid", "PMC": "pmcid"}


@dataclass
class SearchAnswer:
    """One page of a search: what it matched in all (``hitCount``), the cursor of the next
    page (None when the answer gives none) and each result as its JSON text."""

    hit_count: int
    next_cursor: str | None
    results: list[str]


def parse_search(body: bytes | str) -> SearchAnswer:
    """A search answer; anything else raises ParseError with one line saying what came."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    stripped = text.lstrip()
    if not stripped:
        raise ParseError("Europe PMC search: empty response body")
    if stripped[:15].lower().startswith(("<!doctype html", "<html")):
        raise ParseError("Europe PMC search: received an HTML page, not the REST API's JSON "
                         "(an error page or a wrong WATCHER_EUROPEPMC_URL)")
    if stripped.startswith("<"):
        message = re.search(r"<errMsg>(.*?)</errMsg>", stripped, re.DOTALL)
        raise ParseError("Europe PMC search: " + (
            f"error answer: {_clean(message.group(1))}" if message
            else "received XML, not the JSON asked for (format=json)"))
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise ParseError(f"Europe PMC search: invalid or truncated JSON ({exc.msg} at "
                         f"character {exc.pos})") from None
    if not isinstance(data, dict):
        raise ParseError(f"Europe PMC search: the answer is a JSON {type(data).__name__}, "
                         "not a search answer")
    error = data.get("errorBean") if isinstance(data.get("errorBean"), dict) else (
        data if "errMsg" in data or "errCode" in data else None)
    if error is not None:
        raise ParseError(f"Europe PMC search: error answer (errCode {error.get('errCode')}): "
                         f"{_clean(str(error.get('errMsg') or 'no message'))}")
    if not data:
        raise ParseError("Europe PMC search: an empty JSON object, not a search answer")
    raw_count = data.get("hitCount")
    if isinstance(raw_count, str) and raw_count.strip().isdigit():
        raw_count = int(raw_count)
    if not isinstance(raw_count, int) or isinstance(raw_count, bool) or raw_count < 0:
        raise ParseError("Europe PMC search: no hitCount in the answer" if raw_count is None
                         else f"Europe PMC search: hitCount {raw_count!r} is not a count")
    listing = data.get("resultList")
    if listing is None:
        if raw_count:
            raise ParseError(f"Europe PMC search: hitCount is {raw_count} but the answer has "
                             "no resultList")
        if "request" not in data:  # a real answer of no hits still echoes its request
            raise ParseError("Europe PMC search: a stub (hitCount 0, no resultList, no "
                             "request), not a search answer")
        results: list[Any] = []
    else:
        results = listing.get("result") if isinstance(listing, dict) else None
        if results is None and isinstance(listing, dict) and not raw_count:
            results = []
        if not isinstance(results, list):
            raise ParseError("Europe PMC search: resultList holds no result list")
    cursor = data.get("nextCursorMark")
    return SearchAnswer(raw_count, str(cursor) if cursor not in (None, "") else None,
                        [json.dumps(item, ensure_ascii=False) for item in results])


def parse_records(raws: list[str]) -> list[SourceRecord]:
    """Each kept result parsed alone (SPEC.parse_records): one bad result fails alone."""
    records = []
    for number, raw in enumerate(raws, start=1):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            records.append(SourceRecord("", raw, None, f"Europe PMC result {number}: invalid "
                                                       f"JSON ({exc.msg})"))
            continue
        if not isinstance(data, dict):
            records.append(SourceRecord("", raw, None, f"Europe PMC result {number}: a JSON "
                                                       f"{type(data).__name__}, not a record"))
            continue
        source_id = record_id(data)
        try:
            study = parse_result(data)
        except (ParseError, TypeError, ValueError, AttributeError) as exc:
            name = source_id or f"result {number}"
            records.append(SourceRecord(source_id, raw, None,
                                        f"Europe PMC {name}: {_clean(str(exc))}"))
            continue
        records.append(SourceRecord(source_id, raw, study, None))
    return records


def record_id(data: dict[str, Any]) -> str:
    """The record's Europe PMC id, as watcher keeps it: "PPR109910", "PMC11627200" (ids that
    carry their source) or "MED:32015507"; "" when it has none."""
    value, source = _text(data.get("id")), _text(data.get("source")).upper()
    if not value:
        return ""
    if source and value.upper().startswith(source):
        return value.upper()
    return f"{source}:{value}" if source else value


def parse_result(data: dict[str, Any]) -> Study:
    """One result into a :class:`Study`. Every field is optional (a record with no id at all
    is kept under its source id); a result with neither id nor title is refused."""
    source = _text(data.get("source")).upper()
    epmc_id = _text(data.get("id"))
    title = _clean(data.get("title"))
    if not title and not epmc_id:
        raise ParseError("neither an id nor a title")
    preprint = source == "PPR"
    ids: dict[str, str] = {}
    if preprint and epmc_id:
        ids["ppr"] = epmc_id.upper()
    pmid = _text(data.get("pmid")) or (epmc_id if source == "MED" else "")
    if pmid.isdigit():
        ids["pmid"] = pmid
    pmcid = _text(data.get("pmcid")) or (epmc_id if source == "PMC" else "")
    if re.fullmatch(r"PMC\d+", pmcid.upper()):
        ids["pmcid"] = pmcid.upper()
    doi = clean_doi(_text(data.get("doi")))
    if doi:
        ids[doi_scheme(doi)] = doi
    book = data.get("bookOrReportDetails") if isinstance(data.get("bookOrReportDetails"),
                                                         dict) else {}
    journal_info = data.get("journalInfo") if isinstance(data.get("journalInfo"), dict) else {}
    journal_block = journal_info.get("journal") if isinstance(journal_info.get("journal"),
                                                              dict) else {}
    journal = (_text(book.get("publisher")) if preprint else "") or _text(
        journal_block.get("title")) or _text(data.get("journalTitle")) or _text(
        book.get("publisher"))
    published = _text(data.get("firstPublicationDate")) or _text(
        journal_info.get("printPublicationDate")) or _text(data.get("pubYear"))
    year_text = _text(data.get("pubYear")) or published[:4]
    abstract = _clean(data.get("abstractText"))
    types = _publication_types(data)
    if preprint and "Preprint" not in types:
        types.insert(0, "Preprint")
    entry = _text(data.get("firstIndexDate")) or _text(data.get("firstPublicationDate"))
    details: dict[str, Any] = {"europepmc_id": epmc_id, "europepmc_source": source}
    if preprint and book.get("publisher"):
        details["server"] = _text(book.get("publisher"))
    links = version_links(data)
    if links:
        details["versions"] = [link.to_dict() for link in links]
    return Study(
        source=SOURCE, kind="preprint" if preprint else "publication", ids=ids,
        title=title or record_id(data), abstract=abstract, authors=_authors(data),
        journal=journal, published=published,
        year=int(year_text) if year_text.isdigit() else None,
        entry_date=entry if _DATE.match(entry) else None, publication_types=types,
        mesh_terms=_mesh(data), linked_ids=registry_ids_in_text(f"{title}\n{abstract}"),
        url=PAGE_URL.format(source=source, id=epmc_id) if source and epmc_id else "",
        details=details)


def version_links(data: dict[str, Any]) -> list[VersionLink]:
    """The preprint <-> published links a record carries: a preprint's "Preprint of"
    (published side named by the link) and a published record's "Preprint in" (preprint side
    named by the link). AUTHORITATIVE unless the note says it is a title and first-author
    match."""
    source = _text(data.get("source")).upper()
    epmc_id = _text(data.get("id"))
    block = data.get("commentCorrectionList")
    items = block.get("commentCorrection") if isinstance(block, dict) else None
    if isinstance(items, dict):
        items = [items]
    links = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        kind = _text(item.get("type")).lower()
        other_source, other_id = _text(item.get("source")).upper(), _text(item.get("id"))
        note = _text(item.get("note"))
        journal, when = _reference(_text(item.get("reference")))
        basis = GUESSED if _GUESS.search(note) else AUTHORITATIVE
        if kind == "preprint of" and source == "PPR" and epmc_id and other_id:
            published = _side(other_source, other_id)
            if published:
                links.append(VersionLink(("ppr", epmc_id.upper()), published, basis,
                                         "europepmc", note, journal, when))
        elif kind == "preprint in" and other_source == "PPR" and other_id:
            published = _own_side(data, source)
            if published:
                links.append(VersionLink(
                    ("ppr", other_id.upper()), published, basis, "europepmc", note,
                    _journal(data), _text(data.get("firstPublicationDate")),
                    _clean(data.get("title"))))
    return links


def _side(source: str, value: str) -> tuple[str, str] | None:
    scheme = _PUBLISHED_SCHEME.get(source)
    if scheme == "pmid" and value.isdigit():
        return ("pmid", value)
    if scheme == "pmcid":
        return ("pmcid", value.upper())
    return None


def _own_side(data: dict[str, Any], source: str) -> tuple[str, str] | None:
    pmid = _text(data.get("pmid")) or (_text(data.get("id")) if source == "MED" else "")
    if pmid.isdigit():
        return ("pmid", pmid)
    pmcid = _text(data.get("pmcid")) or (_text(data.get("id")) if source == "PMC" else "")
    if pmcid:
        return ("pmcid", pmcid.upper())
    doi = clean_doi(_text(data.get("doi")))
    return ("doi", doi) if doi else None


def _journal(data: dict[str, Any]) -> str:
    info = data.get("journalInfo") if isinstance(data.get("journalInfo"), dict) else {}
    block = info.get("journal") if isinstance(info.get("journal"), dict) else {}
    return _text(block.get("title")) or _text(data.get("journalTitle"))


def _reference(text: str) -> tuple[str, str]:
    """(journal, date) from a link's reference ("Nature. 2020 Mar;579(7798):270-273")."""
    match = _REFERENCE.match(text)
    if not match:
        return "", ""
    return match.group("journal").strip(), match.group("date").strip()


def _authors(data: dict[str, Any]) -> list[str]:
    block = data.get("authorList")
    people = block.get("author") if isinstance(block, dict) else None
    if isinstance(people, list) and people:
        names = []
        for person in people:
            if not isinstance(person, dict):
                continue
            name = _text(person.get("fullName")) or " ".join(
                part for part in (_text(person.get("lastName")), _text(person.get("initials")))
                if part) or _text(person.get("collectiveName"))
            if name:
                names.append(name)
        return names
    text = _text(data.get("authorString")).rstrip(".")
    return [name.strip() for name in text.split(",") if name.strip()]


def _publication_types(data: dict[str, Any]) -> list[str]:
    block = data.get("pubTypeList")
    listed = block.get("pubType") if isinstance(block, dict) else None
    if isinstance(listed, str):
        listed = [listed]
    if not isinstance(listed, list):
        listed = _text(data.get("pubType")).split(";")
    types: list[str] = []
    for item in listed:
        value = _text(item)
        if value and value not in types:
            types.append(value)
    return types


def _mesh(data: dict[str, Any]) -> list[str]:
    block = data.get("meshHeadingList")
    headings = block.get("meshHeading") if isinstance(block, dict) else None
    return [_text(h.get("descriptorName")) for h in headings or []
            if isinstance(h, dict) and _text(h.get("descriptorName"))]


def _text(value: Any) -> str:
    """A scalar as stripped text ("" for a missing value, a list or an object)."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value).strip()


def _clean(value: Any) -> str:
    """Text without markup (Europe PMC titles and abstracts carry <i>, <sup>, <h4>; some come
    escaped twice), entities decoded, whitespace collapsed."""
    text = _text(value)
    for _ in range(2):
        text = html.unescape(_TAG.sub(" ", _INLINE.sub("", text)))
    return " ".join(text.split())
