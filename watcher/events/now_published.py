"""A preprint the team was told about is now published: one "now published in JOURNAL (date)"
item, not a second new study (how it is found and who is told: watcher.identity)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from .base import Event

#: Where a reader opens an id of either version.
ID_PAGES = {
    "pmid": ("PubMed {id}", "https://pubmed.ncbi.nlm.nih.gov/{id}/"),
    "pmcid": ("{id}", "https://pmc.ncbi.nlm.nih.gov/articles/{id}/"),
    "doi": ("doi:{id}", "https://doi.org/{id}"),
    "preprint_doi": ("preprint doi:{id}", "https://doi.org/{id}"),
    "ppr": ("Europe PMC {id}", "https://europepmc.org/article/PPR/{id}"),
}


def id_links(ids: list[str]) -> list[tuple[str, str]]:
    """(label, url) for each "scheme:value" that has a page, in the order given."""
    found = []
    for ident in ids:
        scheme, _, value = ident.partition(":")
        if scheme in ID_PAGES and value:
            label, url = ID_PAGES[scheme]
            found.append((label.format(id=value), url.format(id=value)))
    return found


@dataclass(frozen=True, kw_only=True)
class NowPublished(Event):
    """Keyed by the study and the published version's id the link named, so the same link
    found again (another run, another source) adds nothing."""

    KIND: ClassVar[str] = "now_published"

    journal: str = ""
    date: str = ""
    published_ids: tuple[str, ...] = ()  # "pmid:123", "doi:10.1/x"
    preprint_ids: tuple[str, ...] = ()  # "ppr:PPR1", "preprint_doi:10.1101/x"
    preprint_title: str = ""  # only when the published title differs
    published_title: str = ""
    rule: str = ""  # how the versions were joined
    server: str = ""  # where the preprint was posted ("bioRxiv"), when known

    @classmethod
    def key_for(cls, study_id: int, scheme: str, value: str) -> str:
        return f"{cls.KIND}:{study_id}:{scheme}:{value}"

    @classmethod
    def of(cls, study_id: int, published: tuple[str, str], *, journal: str, date: str,
           published_ids: list[str], preprint_ids: list[str], preprint_title: str,
           published_title: str, rule: str, server: str = "") -> Self:
        """The event of study *study_id* (the preprint's) whose published version is
        *published* (scheme, id). Titles are kept only when they differ."""
        changed = bool(published_title) and _plain(preprint_title) != _plain(published_title)
        return cls(key=cls.key_for(study_id, *published), study_id=study_id, journal=journal,
                   date=date, published_ids=tuple(published_ids),
                   preprint_ids=tuple(preprint_ids),
                   preprint_title=preprint_title if changed else "",
                   published_title=published_title if changed else "", rule=rule,
                   server=server)

    @property
    def details(self) -> dict[str, Any]:
        return {"journal": self.journal, "date": self.date,
                "published_ids": list(self.published_ids),
                "preprint_ids": list(self.preprint_ids),
                "preprint_title": self.preprint_title,
                "published_title": self.published_title, "rule": self.rule,
                "server": self.server, "changes": [self.changes_text()]}

    @classmethod
    def from_stored(cls, *, key: str, study_id: int | None, query_id: str | None,
                    details: dict[str, Any], created: str = "", id: int = 0) -> Self:
        def text(name: str) -> str:
            return str(details.get(name) or "")

        return cls(key=key, study_id=study_id, query_id=query_id, created=created, id=id,
                   journal=text("journal"), date=text("date"),
                   published_ids=tuple(str(i) for i in details.get("published_ids") or []),
                   preprint_ids=tuple(str(i) for i in details.get("preprint_ids") or []),
                   preprint_title=text("preprint_title"),
                   published_title=text("published_title"), rule=text("rule"),
                   server=text("server"))

    # --- how a reader is told ----------------------------------------------------------------

    def headline(self) -> str:
        """'now published in Journal (2024-05-01)'."""
        where = f" in {self.journal}" if self.journal else ""
        when = f" ({self.date})" if self.date else ""
        return f"now published{where}{when}"

    def links(self) -> list[tuple[str, str]]:
        """Every version's pages: the preprint's, then the published article's."""
        return [(f"preprint: {label}", url) for label, url in id_links(list(
            self.preprint_ids))] + [(f"published: {label}", url) for label, url in id_links(
                list(self.published_ids))]

    def lead_label(self) -> str | None:
        return "now published"

    def counted_as(self) -> tuple[str, str] | None:
        return "now published", "now published"

    def changes_text(self) -> str:
        """'now published in J (date); was a bioRxiv preprint; preprint <urls>, published
        <urls>; title was "…"': links before the old title, so a note cut short keeps them."""
        parts = [self.headline()]
        if self.server:
            parts.append(f"was a {self.server} preprint")
        links = [", ".join(f"{side} " + " ".join(url for _, url in id_links(list(ids)))
                           for side, ids in (("preprint", self.preprint_ids),
                                             ("published", self.published_ids))
                           if id_links(list(ids)))]
        parts += [link for link in links if link]
        if self.preprint_title:
            parts.append(f"title was “{self.preprint_title}”")
        return "; ".join(parts)

    def note_label(self) -> str:
        return "version"

    def slack_note(self) -> str:
        return self.changes_text()

    def notice_link(self) -> tuple[str, str]:
        published = id_links(list(self.published_ids))
        return published[0] if published else ("", "")


def _plain(title: str) -> str:
    return " ".join("".join(c for c in title.lower() if c.isalnum() or c.isspace()).split())
