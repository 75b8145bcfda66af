"""A small evaluator of PubMed search syntax for the local E-utilities server.

It understands what saved queries use: quoted phrases, trailing-* wildcards, field tags
([tiab], [ti], [ab], [Mesh], [Majr], [pt], [nm], [sb], [la]), AND/OR/NOT evaluated left to right
as PubMed does, parentheses and implicit AND between adjacent terms. MeSH matching is by words
(no tree explosion beyond "heading starts with or contains the phrase").
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

_TOKEN = re.compile(r'\s*(?:(?P<open>\()|(?P<close>\))|"(?P<phrase>[^"]*)"(?:\[(?P<ptag>[^\]]*)\])?'
                    r'|(?P<word>[^\s()"\[\]]+)(?:\[(?P<wtag>[^\]]*)\])?)')
_OPERATORS = {"AND", "OR", "NOT"}


@dataclass
class Document:
    """The searchable fields of one PubMed record."""

    title: str = ""
    abstract: str = ""
    mesh: list[str] = field(default_factory=list)
    major_mesh: list[str] = field(default_factory=list)
    substances: list[str] = field(default_factory=list)
    publication_types: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    language: str = "eng"
    #: Each field's normalized text, once per document: a run's searches read the same
    #: documents with many atoms, and the benchmarks time the watcher, not this evaluator.
    _texts: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def field_text(self, tag: str | None) -> str:
        tag = (tag or "").strip().lower()
        text = self._texts.get(tag)
        if text is None:
            text = self._texts[tag] = self._field_text(tag)
        return text

    def _field_text(self, tag: str) -> str:
        if tag in ("ti", "title"):
            parts = [self.title]
        elif tag in ("ab", "abstract"):
            parts = [self.abstract]
        elif tag in ("tiab", "title/abstract"):
            parts = [self.title, self.abstract, *self.keywords]
        elif tag in ("mh", "mesh", "mesh terms", "mh:noexp", "mesh:noexp"):
            parts = self.mesh
        elif tag in ("majr", "mesh major topic"):
            parts = self.major_mesh
        elif tag in ("nm", "supplementary concept", "substance name"):
            parts = self.substances + self.mesh
        elif tag in ("pt", "publication type"):
            parts = self.publication_types
        elif tag in ("la", "language"):
            parts = [self.language]
        else:
            parts = [self.title, self.abstract, *self.mesh, *self.substances,
                     *self.publication_types, *self.keywords]
        return " | ".join(_normalize(p) for p in parts)


def matches(term: str, doc: Document) -> bool:
    """Whether *doc* is found by the PubMed search *term*."""
    tokens = _tokenize(term)
    if not tokens:
        return False
    result, position = _expression(tokens, 0, doc)
    return result


@functools.lru_cache(maxsize=256)
def _tokenize(term: str) -> list[tuple[str, str, str | None]]:
    tokens: list[tuple[str, str, str | None]] = []
    position = 0
    while position < len(term):
        match = _TOKEN.match(term, position)
        if not match or match.end() == position:
            if term[position:].strip() == "":
                break
            raise ValueError(f"cannot parse search term near {term[position:position + 20]!r}")
        position = match.end()
        if match.group("open"):
            tokens.append(("(", "(", None))
        elif match.group("close"):
            tokens.append((")", ")", None))
        elif match.group("phrase") is not None:
            tokens.append(("atom", match.group("phrase"), match.group("ptag")))
        elif match.group("word"):
            word = match.group("word")
            if word in _OPERATORS and not match.group("wtag"):
                tokens.append(("op", word, None))
            else:
                tokens.append(("atom", word, match.group("wtag")))
    return tokens


def _expression(tokens: list, position: int, doc: Document) -> tuple[bool, int]:
    """PubMed combines terms strictly left to right: a OR b AND c == (a OR b) AND c."""
    value, position = _operand(tokens, position, doc)
    while position < len(tokens) and tokens[position][0] != ")":
        kind, text, _ = tokens[position]
        operator = text if kind == "op" else "AND"  # adjacency is an implicit AND
        if kind == "op":
            position += 1
        right, position = _operand(tokens, position, doc)
        if operator == "AND":
            value = value and right
        elif operator == "OR":
            value = value or right
        else:
            value = value and not right
    return value, position


def _operand(tokens: list, position: int, doc: Document) -> tuple[bool, int]:
    if position >= len(tokens):
        raise ValueError("search term ends where a term was expected")
    kind, text, tag = tokens[position]
    if kind == "(":
        value, position = _expression(tokens, position + 1, doc)
        if position >= len(tokens) or tokens[position][0] != ")":
            raise ValueError("unbalanced parentheses in search term")
        return value, position + 1
    if kind != "atom":
        raise ValueError(f"unexpected {text!r} in search term")
    return _atom(text, tag, doc), position + 1


def _atom(text: str, tag: str | None, doc: Document) -> bool:
    lowered_tag = (tag or "").strip().lower()
    if lowered_tag in ("sb", "filter", "subset"):
        return text.lower() == "all"
    if lowered_tag in ("dp", "edat", "crdt", "pdat", "mhda", "date - publication"):
        return True  # date limits are applied through mindate/maxdate here
    found = _pattern(text)
    if found is None:
        return False
    needle, pattern = found
    haystack = doc.field_text(tag)
    return needle in haystack and pattern.search(haystack) is not None


@functools.lru_cache(maxsize=4096)
def _pattern(text: str) -> tuple[str, re.Pattern[str]] | None:
    """The atom's regular expression, and a plain substring every match contains (its first
    word up to a wildcard), a quick test before the regular expression's."""
    words = [word.replace("\\*", "*") for word in _normalize(text).split()]
    if not words:
        return None
    pattern = r"\s+".join(
        re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) for w in words)
    return words[0].split("*")[0], re.compile(rf"(?<!\w){pattern}(?!\w)")


def _normalize(text: str) -> str:
    return " ".join(re.sub(r"[^\w*]+", " ", text.lower()).split())


def document_of(article: ET.Element) -> Document:
    """What a search reads of a <PubmedArticle>: its title, abstract, MeSH, keywords ..."""
    def text(node: ET.Element | None) -> str:
        return "".join(node.itertext()) if node is not None else ""

    citation = article.find("MedlineCitation")
    headings = citation.findall("MeshHeadingList/MeshHeading") if citation is not None else []
    major = [text(h.find("DescriptorName")) for h in headings
             if h.find("DescriptorName") is not None and (
                 h.find("DescriptorName").get("MajorTopicYN") == "Y"
                 or any(q.get("MajorTopicYN") == "Y" for q in h.findall("QualifierName")))]
    return Document(
        title=text(article.find("MedlineCitation/Article/ArticleTitle")),
        abstract=" ".join(text(a) for a in article.findall(
            "MedlineCitation/Article/Abstract/AbstractText")),
        mesh=[text(h.find("DescriptorName")) for h in headings],
        major_mesh=major,
        substances=[text(c) for c in article.findall(
            "MedlineCitation/ChemicalList/Chemical/NameOfSubstance")],
        publication_types=[text(p) for p in article.findall(
            "MedlineCitation/Article/PublicationTypeList/PublicationType")],
        keywords=[text(k) for k in article.findall("MedlineCitation/KeywordList/Keyword")],
        language=article.findtext("MedlineCitation/Article/Language", "eng"),
    )
