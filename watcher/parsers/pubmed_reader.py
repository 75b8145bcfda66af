"""One pass over an efetch answer: Biopython's own DataHandler reads it (the bundled DTD, as
``Entrez.read`` would), and each PubmedArticle/PubmedBookArticle, as soon as its end tag is
read, becomes a SourceRecord holding its exact bytes (expat's CurrentByteIndex) and its study.
Its Biopython tree is then dropped, so an answer's parsed trees are never all held at once.

The DataHandler is driven with four economies that change nothing it returns for what the
study parser reads: subtrees no reader uses (``UNREAD``) are skipped as Biopython skips an
element its DTD does not declare; text between elements is not handed to a Python no-op;
expat buffers text; and the cyclic garbage collector waits for the end of the answer (the
trees hold no cycles once read, so reference counting frees each record's as it goes).
Anything unusual (an answer Biopython or expat rejects, an <ERROR>, a root that is not a
PubmedArticleSet) returns None: the caller reads such an answer the careful way.
"""

from __future__ import annotations

import gc
import re
from typing import Any

from Bio.Entrez.Parser import DataHandler

from ..models import SourceRecord
from ..printable import one_line
from .pubmed_study import parse_article, parse_book

RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle")
#: Elements no part of ``pubmed_study``/``pubmed_fields`` reads (a reader of one of them must
#: take it out of here): reference lists alone are a third of a record's elements.
UNREAD = frozenset((
    "ReferenceList", "GrantList", "InvestigatorList", "OtherAbstract", "DateCompleted",
    "DateRevised", "ArticleDate", "CoiStatement", "GeneralNote", "OtherID", "SupplMeshList",
    "PersonalNameSubjectList", "GeneSymbolList", "SpaceFlightMission", "NumberOfReferences",
    "Hour", "Minute", "Second", "PublicationStatus", "CitationSubset", "CopyrightInformation",
    "MedlineTA", "NlmUniqueID", "Language",
))
START_TAG = re.compile(rb"""<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(/?)>""")


class _Reader(DataHandler):
    """Biopython's DataHandler, with each top-level record taken out as it ends."""

    # Biopython sets this as the text handler between elements and in skipped ones: None
    # spares expat a Python call for every stretch of whitespace.
    skipCharacterDataHandler = None

    def __init__(self, xml: bytes):
        super().__init__(validate=False, escape=False, ignore_errors=False)
        self.parser.buffer_text = True
        self.xml = xml
        self.encoding = "utf-8"
        self.records: list[SourceRecord] = []

    def xmlDeclHandler(self, version: str, encoding: str | None, standalone: int) -> None:
        self.encoding = encoding or "utf-8"
        super().xmlDeclHandler(version, encoding, standalone)

    def externalEntityRefHandler(self, context: Any, base: Any, system_id: Any,
                                 public_id: Any) -> int:
        result = super().externalEntityRefHandler(context, base, system_id, public_id)
        for tag in UNREAD:  # now undeclared for Biopython: skipped, never built
            self.constructors.pop(tag, None)
            self.strings.pop(tag, None)
        for tag in RECORD_TAGS:
            if tag in self.constructors and not getattr(self.constructors[tag][0],
                                                        "_watcher", False):
                cls, allowed = self.constructors[tag]
                self.constructors[tag] = (self._starting(cls), allowed)
        return result

    def _starting(self, cls: Any) -> Any:
        """A record's constructor that notes where its start tag is."""
        def build(tag: str, attrs: dict[str, str], *allowed: Any) -> Any:
            element = cls(tag, attrs, *allowed)
            element.watcher_start = start = self.parser.CurrentByteIndex
            tag_match = START_TAG.match(self.xml, start)  # an empty <PubmedArticle/> ends here
            element.watcher_end = tag_match.end() if tag_match and tag_match.group(1) else None
            return element
        build._watcher = True  # type: ignore[attr-defined]
        return build

    def endElementHandler(self, name: str) -> None:
        element = self.element
        parent = element.parent
        super().endElementHandler(name)
        start = getattr(element, "watcher_start", None)
        if start is None or parent is not self.record or parent is None:
            return
        end = element.watcher_end
        if end is None:  # expat points at the end tag's "<"
            end = self.xml.index(b">", self.parser.CurrentByteIndex) + 1
        raw = self.xml[start:end].decode(self.encoding)
        self.records.append(_record(element, raw, len(self.records) + 1))
        kept = parent.get(element.tag) if isinstance(parent, dict) else parent
        if kept and kept[-1] is element:
            kept.pop()  # its study is made: the tree is not needed any more


def read(xml: bytes) -> list[SourceRecord] | None:
    """Every record of a plain PubmedArticleSet answer (*xml* already pinned to a bundled DTD),
    or None when anything about the answer is unusual."""
    if b"<ERROR" in xml:
        return None
    reader = _Reader(xml)
    collecting = gc.isenabled()
    gc.disable()  # ~300 containers a record, none left in a cycle: its passes cost a fifth
    try:
        reader.parser.Parse(xml, True)
    except Exception:  # whatever it is, the careful reading names it
        return None
    finally:
        if collecting:
            gc.enable()
    root = getattr(reader, "record", None)
    if getattr(root, "tag", None) != "PubmedArticleSet" or reader.element is not None:
        return None
    return reader.records


def _record(element: Any, raw: str, position: int) -> SourceRecord:
    """The record's SourceRecord; a shape the study parser does not expect fails it alone."""
    citation = "MedlineCitation" if element.tag == "PubmedArticle" else "BookDocument"
    part = element.get(citation)
    pmid = str(part.get("PMID", "") if isinstance(part, dict) else "").strip()
    parse = parse_article if element.tag == "PubmedArticle" else parse_book
    try:
        study = parse(element)
    except Exception as exc:
        name = pmid or f"#{position} (no PMID)"
        reason = f"unexpected shape ({type(exc).__name__}: {exc})"
        return SourceRecord(pmid, raw, None, one_line(f"PubMed record {name}: {reason}")[:300])
    return SourceRecord(pmid, raw, study)
