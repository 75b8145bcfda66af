"""Formatting shared by every renderer: links, labels, author lists, the conclusion a clinician
decides on, headlines and receipt sentences. Pure functions of the digest model, so Slack,
email, text and the terminal say the same thing. :func:`printable` is the one place text from a
source is made safe to show (it lives in the leaf ``printable.py``, so the log scrubbing can use it
too): every renderer, `status` and the log lines use it."""

from __future__ import annotations

import re
from datetime import datetime

from ..digest import Digest, DigestItem
from ..events.now_published import id_links
from ..labels import INFERRED, inferred_labels
from ..models import Study
from ..printable import printable
from ..sources import label as source_label
from .facts import id_text, registrations, source_parts
from .facts import study_facts as study_facts  # re-exported: every renderer imports from here
from .facts import trial_facts as trial_facts
from .held import held_links
from .states import failure_phrase, receipt_sentence

ID_LABELS = {"pmid": "PMID", "pmcid": "PMCID", "doi": "doi", "nct": "NCT"}

def authors(study: Study, limit: int = 3) -> str:
    if not study.authors:
        return ""
    shown = ", ".join(study.authors[:limit])
    return shown + (", et al." if len(study.authors) > limit else "")


def citation(study: Study) -> str:
    """'Krystal JH, Kaye AP, et al. · Proc Natl Acad Sci U S A · 2023 Dec 5'; for a trial, its
    investigators and its ids in every registry it is in (its sponsor and dates are facts)."""
    where = [id_text(study)] if study.kind == "trial" else source_parts(study)
    return " · ".join(part for part in (authors(study), *where) if part)


def id_line(study: Study) -> str:
    parts = []
    if study.ids.get("doi"):
        parts.append(f"doi:{study.ids['doi']}")
    if study.ids.get("pmcid"):
        parts.append(study.ids["pmcid"])
    registered = registrations(study)
    if registered:
        parts.append(registered)
    earlier = preprint_links(study)
    if earlier:
        parts.append("preprint " + " ".join(url for _, url in earlier))
    return " · ".join(parts)


def preprint_links(study: Study) -> list[tuple[str, str]]:
    """(label, url) of the preprint of a study known in its published version (joined by a
    link, see watcher.identity): one item carries every version's links."""
    if study.kind == "preprint":
        return []  # its own page is the item's
    return id_links([f"{scheme}:{value}" for scheme, value in study.ids.items()
                     if scheme in ("ppr", "preprint_doi")])


#: MEDLINE publication types -> the short labels the team scans for, in display order.
TYPE_LABELS = {
    "Randomized Controlled Trial": "RCT",
    "Meta-Analysis": "meta-analysis",
    "Systematic Review": "systematic review",
    "Review": "review",
    "Case Reports": "case report",
    "Clinical Trial Protocol": "protocol",
    "Retracted Publication": "RETRACTED",
}

#: A record's own correction links ("...In") -> the label its item carries.
CORRECTION_LABELS = {"RetractionIn": "RETRACTED", "ErratumIn": "erratum",
                     "ExpressionOfConcernIn": "expression of concern"}


def item_url(study: Study) -> str:
    """The page a reader opens: PubMed, else the DOI, else the source's own page."""
    if study.ids.get("pmid"):
        return f"https://pubmed.ncbi.nlm.nih.gov/{study.ids['pmid']}/"
    if study.ids.get("doi"):
        return f"https://doi.org/{study.ids['doi']}"
    return study.url


def item_labels(item: DigestItem) -> list[str]:
    """Everything worth a tag: study design (from the record's publication types, or inferred
    from its title and abstract, marked "(inferred)", until MEDLINE indexes it), preprint,
    animal, the query filters' own labels, and what the event is when it is not 'new'.

    Computed here, from the study as stored when the digest is rendered, so a record revised
    upstream (MEDLINE types added) shows its real labels and drops the guesses at once."""
    labels: list[str] = []
    study = item.study
    if study is not None:
        if study.kind == "trial":
            labels.append("trial")
        # "Randomized Controlled Trial, Veterinary" is an RCT of animals: same design label.
        types = {t.removesuffix(", Veterinary") for t in study.publication_types}
        labels += [label for kind, label in TYPE_LABELS.items() if kind in types]
        if "systematic review" in labels and "review" in labels:
            labels.remove("review")
        if study.kind == "preprint" or "Preprint" in types:
            labels.append("preprint")
        if study.non_human:
            labels.append("animal")
        for guess in inferred_labels(study):
            if guess.removesuffix(INFERRED) not in labels:
                labels.append(guess)
        # Corrections the record already carries (a study sent after it was corrected) lead.
        found = [CORRECTION_LABELS.get(str(link.get("type", "")))
                 for link in study.details.get("corrections") or []]
        if "RETRACTED" in labels:
            found.insert(0, "RETRACTED")
        lead = list(dict.fromkeys(short for short in found if short))
        labels = lead + [label for label in labels if label not in lead]
    for label in item.labels:
        short = TYPE_LABELS.get(label, label)
        if short == "non-human":
            short = "animal"
        if short not in labels:
            labels.append(short)
    lead = item.event.lead_label()
    if lead is not None:
        labels = [lead] + [label for label in labels if label != lead]
    return labels


def note_label(item: DigestItem) -> str:
    """What the note under an item is: a correction, or a change to a trial."""
    return item.event.note_label()


def notice_link(item: DigestItem) -> tuple[str, str]:
    """(label, url) of a correction's notice, e.g. ('notice PMID 123', 'https://...'), or
    ('', '') when the event has none."""
    return item.event.notice_link()


def note_text(item: DigestItem) -> str:
    """The note under an item, without a link (renderers add the notice their way): what a
    correction is ('RETRACTED', 'an erratum was published') or what changed in a trial."""
    return item.event.note()


def changes_text(item: DigestItem) -> str:
    """What changed, for a change event: 'status Recruiting → Completed; enrollment 60 → 120'."""
    return item.event.changes_text()


def first_author(study: Study) -> str:
    """'Krystal JH et al.' (or the only author, or nothing)."""
    if not study.authors:
        return ""
    return study.authors[0] + (" et al." if len(study.authors) > 1 else "")


_CONCLUSION_LABEL = re.compile(r"^(CONCLUSIONS?|INTERPRETATION|CONCLUSIONS? AND RELEVANCE|"
                               r"SIGNIFICANCE|DISCUSSION)\s*:\s*", re.IGNORECASE)
_CONCLUDING = re.compile(r"(?:^|(?<=[.!?]\s))((?:In conclusion|In summary|Overall|Taken together|"
                         r"These (?:findings|results|data) (?:suggest|indicate|show))[^.!?]*[.!?])")


def conclusion(study: Study, limit: int = 300) -> str:
    """The abstract's conclusion (its labelled section, else a concluding sentence), cut at a
    word boundary to *limit* characters; empty when the abstract has none."""
    found = ""
    for line in study.abstract.splitlines():
        match = _CONCLUSION_LABEL.match(line.strip())
        if match:
            found = line.strip()[match.end():]
    if not found:
        sentences = _CONCLUDING.findall(" ".join(study.abstract.split()))
        found = sentences[-1] if sentences else ""
    found = " ".join(printable(found).split())  # quoted from the source: it may hold ESC
    if len(found) <= limit:
        return found
    cut = found[:limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def overflow_line(digest: Digest) -> str:
    """What max_items held back, per condition: it stays pending and leads the next digest,
    and a search per condition (:func:`watcher.render.held.held_links`) shows it now."""
    if not digest.overflow:
        return ""
    parts = "; ".join(f"{condition}: {count}" for condition, count in digest.overflow.items())
    text = f"{digest.held_back} more not listed here ({parts}). They stay pending and lead " \
        "the next digest"
    links = held_links(digest)
    if links:
        text += "; a search link per condition, at the end of this digest, shows them now"
    linked = {(link.condition, link.source) for link in links}
    unlinked: dict[tuple[str, str], int] = {}  # a source with no search page (ISRCTN)
    for condition, items in digest.held.items():
        for item in items:
            if item.study is not None and (condition, item.study.source) not in linked:
                key = (condition, item.study.source)
                unlinked[key] = unlinked.get(key, 0) + 1
    if unlinked:
        text += " (" + "; ".join(f"{condition}: {count} on {source_label(source)}"
                                 for (condition, source), count in unlinked.items()) + \
            ": no search link)"
    return text + "."


def headline(digest: Digest) -> str:
    """'3 new studies', and what failed, so a quiet digest never hides a broken source."""
    kinds: dict[tuple[str, str], int] = {}  # (one, many) -> items, each event as it counts
    count = digest.held_back
    for section in digest.sections:
        for item in section.items:
            nouns = item.event.counted_as()
            if nouns is None:
                count += 1
            else:
                kinds[nouns] = kinds.get(nouns, 0) + 1
    noun = "study" if count == 1 else "studies"
    parts = [f"{count} new {noun}"] if count or not kinds else []
    parts += [f"{n} {nouns[n != 1]}" for nouns, n in kinds.items()]
    text = ", ".join(parts) if count or kinds else "Nothing new"
    if digest.notices:
        text += f", {_plural(len(digest.notices), 'notice')}"
    failures = [r for r in digest.receipts if r.down]
    if failures:
        text = "; ".join(failure_phrase(r) for r in failures) + " · " + text
    return text


def notice_text(item: DigestItem) -> str:
    """One line for an event about a query rather than a study (query health)."""
    return item.event.notice_text()


def short_date(iso: str | None) -> str:
    if not iso:
        return "the start"
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    text = when.strftime("%d %b %Y")
    if "T" in iso:
        text += when.strftime(" %H:%M UTC")
    return text


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def receipt_line(digest: Digest) -> str:
    if not digest.receipts:
        return f"Receipt: no source was polled since {short_date(digest.since)}."
    return "Receipt: " + "; ".join(receipt_sentence(r) for r in digest.receipts) + "."
