"""One PubMed record's XML as the study parser reads it: an ElementTree element (built in C),
and the text and attribute values Biopython's ``Entrez.read`` would give for it.

Why ElementTree and not Biopython's reader: Biopython calls Python for every start tag, end
tag and stretch of text and builds an object for each element, reference lists included (a
third of a record's elements, which nothing reads); that was 1 ms of a real-sized record's
1.5 ms CPU budget. Here the tree is built in C and only what the study parser reads is
visited in Python. Biopython still supplies what its bundled DTD declares (the attributes'
default values and the MathML character entities), read once from its files: nothing is
ever downloaded.

What Biopython gives is kept: a string element's text keeps its inline markup as text (a
MathML formula by its local names, the outermost with its namespace), an attribute the DTD
gives a default has it, a named entity only the DTD defines is resolved.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any, NamedTuple
from xml.etree import ElementTree

from Bio.Entrez.Parser import DataHandler

ParseError = ElementTree.ParseError
Element = ElementTree.Element

#: The namespaces a PubMed record's MathML may use, declared for a record whose formula
#: relies on the DTD's default declaration.
NAMESPACES = {"mml": "http://www.w3.org/1998/Math/MathML", "xlink": "http://www.w3.org/1999/xlink",
              "ali": "http://www.niso.org/schemas/ali/1.0/"}
_DOCTYPE_ROOT = "PubmedArticleSet"
#: A ReferenceList start, end or empty tag (group 1: "/" for an end tag, 2: for an empty one).
_REFERENCE_LIST = re.compile(rb"<(/?)ReferenceList(?=[\s/>])[^>]*?(/?)>")
#: A named entity other than XML's own in what looks like an attribute value (text that merely
#: looks like one only costs the slower pass).
_ENTITY_IN_ATTRIBUTE = re.compile(
    rb"""=\s*(?:"[^"<]*?|'[^'<]*?)&(?!(?:amp|lt|gt|quot|apos);)[A-Za-z_:]""")
_CHARACTER_REFERENCE = re.compile(r"&#(x[0-9A-Fa-f]+|[0-9]+);")
_NAMED_REFERENCE = re.compile(rb"&([A-Za-z_:][A-Za-z0-9_.:-]*);")
_KNOWN_NAMES = {b"amp", b"lt", b"gt", b"quot", b"apos"}


def _bundled_dtds() -> set[str]:
    names = set(os.listdir(DataHandler.global_dtd_dir))
    if DataHandler.local_dtd_dir and os.path.isdir(DataHandler.local_dtd_dir):
        names.update(os.listdir(DataHandler.local_dtd_dir))
    return names


#: The DTD files Biopython has (never downloaded), and the newest PubMed one among them.
BUNDLED_DTDS = _bundled_dtds()
NEWEST_PUBMED_DTD = max(n for n in BUNDLED_DTDS if re.fullmatch(r"pubmed_\d{6}\.dtd", n))


class _DtdReader(DataHandler):
    """Biopython's DataHandler reading only its bundled PubMed DTD, noting the attributes'
    default values and the general entities as it goes."""

    def __init__(self) -> None:
        super().__init__(validate=False, escape=False, ignore_errors=False)
        self.defaults: dict[tuple[str, str], str] = {}
        self.tokenized: set[tuple[str, str]] = set()
        self.entities: dict[str, str] = {}
        self.parser.AttlistDeclHandler = self._attribute
        self.parser.EntityDeclHandler = self._entity

    def _attribute(self, element: str, name: str, kind: str, default: str | None,
                   required: int) -> None:
        if default is not None and not name.startswith("xmlns"):
            self.defaults[(element, name)] = default
        if kind != "CDATA":  # a list of names or a token: expat trims and collapses its spaces
            self.tokenized.add((element, name))

    def _entity(self, name: str, is_parameter: int, value: str | None, *rest: Any) -> None:
        if not is_parameter and value is not None:
            self.entities[name] = _CHARACTER_REFERENCE.sub(_character, value)


def _character(match: re.Match[str]) -> str:
    number = match.group(1)
    return chr(int(number[1:], 16) if number[0] == "x" else int(number))


class _Dtd(NamedTuple):
    """What the newest bundled PubMed DTD adds to a record's XML."""

    defaults: dict[tuple[str, str], str]  # (element, attribute) -> its default value
    entities: dict[str, str]  # general entity -> its text
    doctype: bytes  # the DOCTYPE declaring it
    tokenized: set[tuple[str, str]]  # (element, attribute) declared other than CDATA


@functools.cache
def _dtd() -> _Dtd:
    """The newest bundled PubMed DTD, read once by Biopython from its own files."""
    doctype = (f'<!DOCTYPE {_DOCTYPE_ROOT} PUBLIC "-//NLM//DTD PubMedArticle//EN" '
               f'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/{NEWEST_PUBMED_DTD}">').encode()
    reader = _DtdReader()
    reader.parser.Parse(b'<?xml version="1.0"?>\n' + doctype + b"\n<PubmedArticleSet/>", True)
    return _Dtd(reader.defaults, reader.entities, doctype, reader.tokenized)


def parse(raw: bytes) -> Element:
    """One record's element. A formula whose namespace only the DTD declares, a named entity
    only the DTD defines, or one nobody defines (dropped), is read as Biopython read it (a
    second, rarer pass)."""
    try:
        return ElementTree.fromstring(_without_references(raw))
    except ParseError:
        pass
    entities, doctype = _dtd().entities, _dtd().doctype
    declared = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NAMESPACES.items())
    parser = ElementTree.XMLParser()
    parser.entity.update(entities)  # (ElementTree's table serves text only, not attributes)
    for name in set(_NAMED_REFERENCE.findall(raw)) - _KNOWN_NAMES:
        name_text = name.decode("ascii")
        if name_text not in entities:  # nobody defines it: dropped, as Biopython's reading did
            parser.entity[name_text] = ""
    if _ENTITY_IN_ATTRIBUTE.search(raw):
        doctype = _declaring_doctype()
    parser.feed(doctype + f"<{_DOCTYPE_ROOT} {declared}>".encode())
    parser.feed(raw)
    parser.feed(f"</{_DOCTYPE_ROOT}>".encode())
    root = parser.close()
    if len(root) != 1:
        raise ParseError("not one record")
    return root[0]


@functools.cache
def _declaring_doctype() -> bytes:
    """The DOCTYPE with the DTD's general entities declared in it, so that expat resolves them
    in attribute values too, as Biopython's reading of the DTD did (rarer still: it costs
    twice the parse)."""
    entities, doctype = _dtd().entities, _dtd().doctype
    declarations = "".join(
        f'<!ENTITY {name} "{"".join(f"&#{ord(c)};" for c in value)}">'
        for name, value in entities.items())
    return doctype[:-1] + b" [" + declarations.encode("ascii") + b"]>"


def _without_references(raw: bytes) -> bytes:
    """An article's text without its reference lists, which nothing reads and which are a
    third of its elements: they are PubmedData's last children (by the DTD), so the cut is
    made only when all that stands between the first of them and ``</PubmedData>`` is
    reference lists (no comment or CDATA that could hide a tag), else the text is kept."""
    data = raw.find(b"<PubmedData")
    close = raw.rfind(b"</PubmedData>")
    if data < 0 or close < data:
        return raw
    start = end = -1
    depth = 0
    for tag in _REFERENCE_LIST.finditer(raw, data, close):
        if start < 0:
            start = tag.start()
        elif depth == 0 and raw[end:tag.start()].strip():
            return raw  # something else between two lists: they are not the last children
        if tag.group(1):
            depth -= 1
        elif not tag.group(2):
            depth += 1
        if depth < 0:
            return raw
        if depth == 0:
            end = tag.end()
    if start < 0 or depth or raw[end:close].strip() or raw.find(b"<!", start, close) >= 0:
        return raw
    return raw[:start] + raw[end:]


def child(element: Element | None, tag: str) -> Element | None:
    """The element's child by that name; the last when it is repeated (Biopython kept an
    element the DTD allows once in a dictionary, where a repeat overwrote it)."""
    found = None if element is None else element.findall(tag)
    return found[-1] if found else None


def children(element: Element | None, tag: str) -> list[Element]:
    return [] if element is None else element.findall(tag)


def text(element: Element | None) -> str:
    """The element's text as Biopython gives a string element: inline markup kept as text."""
    if element is None:
        return ""
    if not len(element):
        return element.text or ""
    return _mixed(element, in_namespace=False)


def child_text(element: Element | None, tag: str) -> str:
    return text(child(element, tag))


def attribute(element: Element | None, name: str) -> str:
    """The attribute's value; the DTD's default when the record leaves it out, and spaces
    trimmed and collapsed when the DTD declares it a token (as expat did, reading the DTD)."""
    if element is None:
        return ""
    value = element.get(name)
    if value is None:
        return _dtd().defaults.get((element.tag, name), "")
    if " " in value and (element.tag, name) in _dtd().tokenized:
        return " ".join(part for part in value.split(" ") if part)
    return value


def _mixed(element: Element, *, in_namespace: bool) -> str:
    parts = [element.text or ""]
    for inner in element:
        name, markup = inner.tag, ""
        namespaced = name[:1] == "{"
        if namespaced:
            uri, name = name[1:].split("}", 1)
            if not in_namespace:
                markup = f' xmlns="{uri}"'
        if not (namespaced and not in_namespace):
            markup = "".join(f' {_local(key)}="{value}"' for key, value in inner.attrib.items())
        parts += ["<", name, markup, ">", _mixed(inner, in_namespace=in_namespace or namespaced),
                  "</", name, ">", inner.tail or ""]
    return "".join(parts)


def _local(name: str) -> str:
    return name[1:].replace("}", " ", 1) if name[:1] == "{" else name
