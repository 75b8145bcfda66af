"""Versions of one study: a preprint and its published article, and the link that says so.

The shared vocabulary of the sources that find such links (Europe PMC's comment-correction
links, bioRxiv's preprint-to-published mapping, Crossref's ``relation``) and of the identity
core that joins studies by them (watcher.identity). A source's parser records each link it
reads in ``Study.details["versions"]`` (a list of :meth:`VersionLink.to_dict`); a look-up
step hands them to the identity core directly.

DOIs are normalised here once: lower-cased, without a resolver prefix, and checked for the
``10.NNNN/suffix`` shape (a malformed one is no id at all). A preprint server's DOI is kept
under the ``preprint_doi`` scheme, a journal's under ``doi``: the two versions of a study
have different DOIs, and the study carries both.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

#: "publisher": asserted by the publisher, Crossref or the preprint server (Europe PMC's
#: "CrossRef Pre-print loader" note, bioRxiv's /pubs mapping, Crossref relation). Joined.
AUTHORITATIVE = "publisher"
#: "title_author": an upstream's guess from a title and first-author match (Europe PMC's
#: "Link created based on a title-first author match"). Joined only when the identity core's
#: own conservative comparison agrees, and recorded as such.
GUESSED = "title_author"

_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_DOI_IN_TEXT = re.compile(r"\b10\.\d{4,9}/[^\s\"'<>]+")
_RESOLVERS = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/",
              "doi.org/", "dx.doi.org/", "doi:", "doi ")
#: Preprint servers' DOIs: bioRxiv/medRxiv (10.1101 dated form, and medRxiv's 10.64898),
#: Research Square, Preprints.org, SSRN, PsyArXiv/OSF preprints, JMIR Preprints.
_PREPRINT_DOI = re.compile(
    r"^(10\.1101/(\d{4}\.\d{2}\.\d{2}\.)?\d{6,}(v\d+)?|10\.64898/.+|10\.21203/rs\..+"
    r"|10\.20944/preprints.+|10\.2139/ssrn\..+|10\.31234/osf\.io/.+|10\.31219/osf\.io/.+"
    r"|10\.2196/preprints\..+)$")


def clean_doi(text: str | None) -> str | None:
    """*text* as a normalised DOI, or None when it is not one (a malformed DOI is dropped,
    never stored as an id)."""
    if not text:
        return None
    value = text.strip().lower()
    for prefix in _RESOLVERS:
        if value.startswith(prefix):
            value = value[len(prefix):].strip()
    value = value.rstrip(".,;)]")
    return value if _DOI.match(value) else None


def doi_in(text: str | None) -> str | None:
    """The first DOI written anywhere in *text* (a link, an entry's body), normalised."""
    match = _DOI_IN_TEXT.search(text or "")
    return clean_doi(match.group(0)) if match else None


def is_preprint_doi(doi: str) -> bool:
    return bool(_PREPRINT_DOI.match(doi))


def doi_scheme(doi: str) -> str:
    """``preprint_doi`` for a preprint server's DOI, ``doi`` for any other."""
    return "preprint_doi" if is_preprint_doi(doi) else "doi"


@dataclass(frozen=True)
class VersionLink:
    """A preprint is (or is guessed to be) an earlier version of a published article.

    Each side is a ``(scheme, id)`` pair with a normalised id: the preprint as ``("ppr",
    "PPR123")`` or ``("preprint_doi", "10.1101/...")``; the published article as ``("pmid",
    "123")``, ``("pmcid", ...)`` or ``("doi", ...)``. What the link's upstream says of the
    published version (journal, date, title) rides along, for the "now published" item."""

    preprint: tuple[str, str]
    published: tuple[str, str]
    basis: str  # AUTHORITATIVE or GUESSED
    via: str  # who said so: "europepmc", "biorxiv", "crossref", "feed"
    note: str = ""  # the upstream's own words ("CrossRef Pre-print loader")
    journal: str = ""
    published_date: str = ""
    title: str = ""

    @property
    def authoritative(self) -> bool:
        return self.basis == AUTHORITATIVE

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["preprint"], data["published"] = list(self.preprint), list(self.published)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VersionLink | None:
        """The link stored by :meth:`to_dict`, or None when it is not one (an older or damaged
        record)."""
        try:
            preprint = (str(data["preprint"][0]), str(data["preprint"][1]))
            published = (str(data["published"][0]), str(data["published"][1]))
        except (KeyError, IndexError, TypeError):
            return None
        fields = {name: str(data.get(name) or "") for name in
                  ("basis", "via", "note", "journal", "published_date", "title")}
        return cls(preprint=preprint, published=published, **fields)


def versions_of(details: dict[str, Any]) -> list[VersionLink]:
    """The version links a parsed record carries (``Study.details["versions"]``)."""
    found = (VersionLink.from_dict(item) for item in details.get("versions") or []
             if isinstance(item, dict))
    return [link for link in found if link is not None]
