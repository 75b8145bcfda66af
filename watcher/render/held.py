"""Links that show what a digest held back (max_items): per condition, the source's own search
for that condition's queries over the digest's window, so nothing held back is out of reach
until the next digest lists it. PubMed: the query's exact terms and an entry-date ([edat])
range, as the polls ask; ClinicalTrials.gov: its condition, intervention and terms with a
last-update range. A registry with no such search page (ISRCTN) gets none."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import quote, quote_plus, urlencode

from ..archive.pages import condition_page
from ..digest import Digest, DigestItem
from ..events import Correction
from ..sources import label

PUBMED_SEARCH = "https://pubmed.ncbi.nlm.nih.gov/"
#: The source name of a link into the static archive (WATCHER_ARCHIVE_URL), which lists every
#: study a condition has had, held back or not.
ARCHIVE = "archive"
CTGOV_SEARCH = "https://clinicaltrials.gov/search"


@dataclass(frozen=True)
class HeldLink:
    """One condition's held-back studies from one source, and the search that shows them."""

    condition: str
    source: str
    count: int
    url: str
    #: The held studies' own ids at the source (PMIDs), for a search of just them where the
    #: query's is too long to be posted as a link (:func:`ids_url`).
    ids: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """'Depression: 40 on PubMed' ('Depression: 40 in the archive')."""
        if self.source == ARCHIVE:
            return f"{self.condition}: {self.count} in the archive"
        return f"{self.condition}: {self.count} on {label(self.source)}"


def held_links(digest: Digest) -> list[HeldLink]:
    """Per held-back condition (in the digest's order) and source with a search page: the
    link that lists them. The window runs from the earliest of the source's receipt window
    and the dates the held studies are listed by (one held back before is older) to the
    digest's date."""
    out: list[HeldLink] = []
    end = _date(digest.generated) or datetime.now(UTC).date()
    for condition, items in digest.held.items():
        if digest.archive and condition in digest.searches:  # a condition the archive pages
            out.append(HeldLink(condition, ARCHIVE, len(items),
                                f"{digest.archive}/{quote(condition_page(condition))}"))
        by_source: dict[str, list[DigestItem]] = {}
        for item in items:
            if item.study is not None:
                by_source.setdefault(item.study.source, []).append(item)
        for source, found in by_source.items():
            searches = digest.searches.get(condition, {}).get(source, [])
            starts = [d for d in [_window_start(digest, source), digest.since]
                      + [_listed_on(i) for i in found] if d]
            start = min((d for d in map(_date, starts) if d), default=end)
            url = search_url(source, searches, min(start, end), end)
            if url:
                ids = tuple(i.study.ids.get("pmid", "") for i in found if i.study)
                out.append(HeldLink(condition, source, len(found), url,
                                    ids if all(ids) else ()))
    return out


def ids_url(held: HeldLink) -> str:
    """PubMed's search for exactly the held studies' PMIDs ('' when they are not all known):
    a much shorter address than a long query's, which a Slack link cannot hold."""
    if held.source != "pubmed" or not held.ids:
        return ""
    term = " OR ".join(f"{pmid}[pmid]" for pmid in held.ids)
    return PUBMED_SEARCH + "?" + _query({"term": term, "sort": "date"})


def search_url(source: str, searches: list[Mapping[str, str]], start: date,
               end: date) -> str:
    """The source's web search for *searches* (ORed) over [start, end]; '' when it has none."""
    if source == "pubmed":
        terms = [s["term"] for s in searches if s.get("term")]
        if not terms:
            return ""
        either = " OR ".join(_grouped(t) for t in terms)
        term = f'{_grouped(either)} AND ("{start:%Y/%m/%d}"[edat] : "{end:%Y/%m/%d}"[edat])'
        return PUBMED_SEARCH + "?" + _query({"term": term, "sort": "date"})
    if source == "clinicaltrials" and len(searches) == 1:  # its fields cannot be ORed
        params = {key.removeprefix("query."): value for key, value in searches[0].items()
                  if value}
        params["lastUpdPost"] = f"{start.isoformat()}_{end.isoformat()}"
        return CTGOV_SEARCH + "?" + _query(params)
    return ""


def _query(params: Mapping[str, str]) -> str:
    """A query string that stays readable (and short) where a reader sees it: search syntax
    such as ( ) [ ] * : / is left as it is, spaces are '+'."""
    return urlencode(params, quote_via=quote_plus, safe="()[]*:/")


def _grouped(term: str) -> str:
    """*term* in parentheses, unless one pair already encloses all of it."""
    depth = 0
    for n, ch in enumerate(term):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and n < len(term) - 1:
            return f"({term})"
    return term if term.startswith("(") and depth == 0 else f"({term})"


def _listed_on(item: DigestItem) -> str | None:
    """The date the source's search lists a study by: PubMed's entry date, a registry's last
    update (what its polls ask by). None for a correction: its paper may be decades old (its
    entry date would stretch the search over every year since), and the notice is this
    week's."""
    study = item.study
    if study is None or isinstance(item.event, Correction):
        return None
    if study.kind == "trial":
        return str(study.details.get("last_update_posted") or "") or None
    return study.entry_date


def _window_start(digest: Digest, source: str) -> str | None:
    return next((r.window_start for r in digest.receipts if r.source == source), None)


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).date() if "T" in value else \
            date.fromisoformat(value[:10])
    except ValueError:
        return None
