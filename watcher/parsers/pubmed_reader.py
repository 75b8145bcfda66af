"""One pass over a plain efetch answer: each PubmedArticle/PubmedBookArticle's exact bytes are
found by their tags (a C search, no parser), each is parsed alone into its element
(``pubmed_xml``, ElementTree in C) and read into its study, and only then is the next one
parsed, so an answer's trees are never all held at once.

Only a plain answer is read here: the declaration, the DOCTYPE, the root's start and end tags
and white space around well-formed records, in UTF-8. Anything else (an <ERROR>, a comment
or text between records, a record that does not parse, another encoding) returns None: the
caller reads such an answer the careful way, which says what is wrong or which record.
"""

from __future__ import annotations

import gc
import re

from ..models import SourceRecord
from ..printable import one_line
from . import pubmed_xml
from .pubmed_study import parse_article, parse_book

RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle")
#: A record's start tag after any white space (group 3: "/" when the record is empty).
_RECORD_START = re.compile(rb"\s*(<(PubmedArticle|PubmedBookArticle)(?:\s[^>]*?)?(/?)>)")
#: What may come before the first record: the declaration, the DOCTYPE, the root's start tag.
_HEAD = re.compile(rb"\s*(<\?xml[^>]*\?>)?\s*<!DOCTYPE[^>]*>\s*<PubmedArticleSet\s*>")
_ENCODING = re.compile(rb"encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


class _NotPlain(Exception):
    """The answer is not one this pass reads."""


def read(xml: bytes) -> list[SourceRecord] | None:
    """Every record of a plain PubmedArticleSet answer, or None when anything about the
    answer is unusual."""
    if b"<ERROR" in xml:
        return None
    collecting = gc.isenabled()
    gc.disable()  # ~300 objects a record, none left in a cycle: its passes cost a fifth
    try:
        return [_record(xml[start:end], position, tag)
                for position, (tag, start, end) in enumerate(_spans(xml), start=1)]
    except (_NotPlain, pubmed_xml.ParseError, UnicodeDecodeError):
        return None
    finally:
        if collecting:
            gc.enable()


def _spans(xml: bytes) -> list[tuple[str, int, int]]:
    """Each record's tag and the byte span of its exact text, in document order."""
    head = _HEAD.match(xml)
    if head is None:
        raise _NotPlain("not a plain PubmedArticleSet")
    declaration = head.group(1) or b""
    encoding = _ENCODING.search(declaration)
    if encoding and encoding.group(1).lower() not in (b"utf-8", b"utf8"):
        raise _NotPlain("not UTF-8")
    spans = []
    position = head.end()
    while match := _RECORD_START.match(xml, position):
        tag = match.group(2)
        if match.group(3):
            end = match.end()
        else:
            closing = b"</" + tag + b">"
            found = xml.find(closing, match.end())
            if found < 0:
                raise _NotPlain("a record without its end tag")
            end = found + len(closing)
        spans.append((tag.decode("ascii"), match.start(1), end))
        position = end
    if xml[position:].strip() != b"</PubmedArticleSet>":
        raise _NotPlain("something other than records in the answer")
    return spans


def _record(raw: bytes, position: int, tag: str) -> SourceRecord:
    """The record's SourceRecord; a shape the study parser does not expect fails it alone (one
    that does not parse fails the pass: the careful reading names it)."""
    element = pubmed_xml.parse(raw)
    text = raw.decode("utf-8")
    citation = pubmed_xml.child(
        element, "MedlineCitation" if tag == "PubmedArticle" else "BookDocument")
    if citation is None and len(element):
        raise _NotPlain("a record without its citation (a namespace?): the careful way names it")
    pmid = pubmed_xml.child_text(citation, "PMID").strip()
    parse = parse_article if tag == "PubmedArticle" else parse_book
    try:
        study = parse(element)
    except Exception as exc:
        name = pmid or f"#{position} (no PMID)"
        reason = f"unexpected shape ({type(exc).__name__}: {exc})"
        return SourceRecord(pmid, text, None, one_line(f"PubMed record {name}: {reason}")[:300])
    return SourceRecord(pmid, text, study)
