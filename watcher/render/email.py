"""The email digest: a subject, a plain-text part and an HTML part, from jinja2 templates.

Pure (nothing is sent here): :mod:`watcher.destinations.email_sender` wraps the result in a MIME
message. Every string from a source is untrusted: the HTML template is autoescaped, links are
only ever http(s), and anything that reaches a header is folded to one line first. The HTML is
a ~600 px table layout with its CSS inlined (css-inline), so it reads the same in webmail,
desktop clients and on a phone.
"""

from __future__ import annotations

import functools
import re
import textwrap
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import NamedTuple, Protocol

import css_inline
import jinja2

from ..digest import Digest, DigestItem
from ..evidence import reason
from ..printable import one_line
from .common import (
    conclusion,
    failure_phrase,
    first_author,
    headline,
    item_labels,
    item_url,
    note_label,
    note_text,
    notice_link,
    notice_text,
    overflow_line,
    preprint_links,
    receipt_line,
    receipt_sentence,
    study_facts,
)
from .facts import (
    CONCERN,
    RETRACTED,
    WARNING_TEXT,
    RegistryId,
    quoted_conclusion,
    shown_ids,
    source_parts,
    warning,
    without_warning,
)
from .held import held_links
from .states import nothing_lost


class Destination(Protocol):
    """What the email renderer reads of an email destination's YAML options."""

    @property
    def subject(self) -> str | None: ...


DEFAULT_SUBJECT = "watcher digest"
WIDTH = 76  # plain-text wrap (RFC 5322 recommends lines under 78 characters)
TITLE_LIMIT = 300  # a title longer than this is cut: the link carries the rest
POINTER_LIMIT = 120  # a pointer's title: a line, about two on a phone
MAX_HIGHLIGHTS = 5
#: Before a highlight's or pointer's title when the study is retracted (or under concern).
WARNING_LEADS = {RETRACTED: "RETRACTED", CONCERN: "Expression of concern"}


class EmailRendering(NamedTuple):
    subject: str
    text: str
    html: str


@dataclass
class ItemView:
    """One study as the templates show it (already plain strings: the template escapes)."""

    title: str
    url: str  # "" when the study has no http(s) address
    labels: list[str]
    byline: str  # 'Krystal JH et al. · Proc Natl Acad Sci U S A · 2023 Dec 5'
    also: list[str] = field(default_factory=list)
    conclusion: str = ""
    facts: str = ""  # a trial's phase, status, enrollment...; a paper's "n=412"
    changed: str = ""  # what changed, for a change event; what a correction is
    note_label: str = "changed"  # "changed" or "correction"
    notice_url: str = ""  # a correction's notice
    notice: str = ""  # its link text ("notice PMID 123")
    #: "retracted" or "concern" (the entry is set apart and says so), else "".
    warning: str = ""
    warning_text: str = ""  # what the set-apart entry says ('RETRACTED: this paper has …')
    #: A trial's registry ids, or the trials a paper reports after ids_lead ('reports trial').
    ids: list[RegistryId] = field(default_factory=list)
    ids_lead: str = ""
    ids_more: str = ""  # ' and 2 more'
    #: The preprint's pages, for a study known in its published version.
    versions: list[RegistryId] = field(default_factory=list)

    @property
    def ids_text(self) -> str:
        """The ids as the plain-text part shows them: 'reports trial NCT02149199'."""
        shown = ", ".join(entry.label for entry in self.ids)
        return (self.ids_lead + " " if self.ids_lead and shown else "") + shown + \
            (self.ids_more if shown else "")


@dataclass
class SectionView:
    condition: str
    items: list[ItemView]
    anchor: str = ""  # the section's id, which the summary links to
    matched: int = 0  # every study that matched its condition (told here or pointed to)
    held: int = 0  # held back by max_items
    anchors: list[str] = field(default_factory=list)  # each item's id, as items
    pointers: list[PointerView] = field(default_factory=list)


@dataclass
class PointerView:
    """A study that matched a section's condition too, told in full under *condition*: one
    line, its title linking to that entry (or, when it is not in this email, to the study)."""

    title: str
    href: str
    condition: str
    condition_href: str  # '#c2', or '' when that condition's section is not in this email
    #: 'RETRACTED' or 'Expression of concern' before the title (never a routine line), or "".
    warning: str = ""
    reason: str = ""  # why a highlight is one ('RETRACTED', 'RCT'); '' for a pointer


@dataclass
class CountView:
    """One line of the summary: a condition, how many studies matched it, its section."""

    condition: str
    matched: int
    held: int
    href: str  # '' for a condition whose every study max_items held back


def render(digest: Digest, destination: Destination | None = None) -> EmailRendering:
    """The digest as (subject, plain text, HTML with inlined CSS)."""
    prefix = destination.subject if destination else None
    subject = subject_line(digest, prefix)
    context = _context(digest, subject, one_line(prefix or "") or DEFAULT_SUBJECT)
    text = _environment().get_template("email/digest.txt").render(context)
    html = _environment().get_template("email/digest.html").render(context)
    return EmailRendering(subject, text, _inliner().inline(html))


def preview(digest: Digest, destination: Destination) -> str:
    """What `watcher digest DEST --preview FILE` writes for an email destination: the HTML."""
    return render(digest, destination).html


def subject_line(digest: Digest, prefix: str | None = None) -> str:
    """'Ketamine watch: PubMed could not be polled: ... · 3 new studies · 24–31 Oct 2026'.
    Built from counts, source names and dates; the YAML prefix is folded to one line."""
    lead = one_line(prefix or "") or DEFAULT_SUBJECT
    return one_line(f"{lead}: {headline(digest)} · {date_range(digest)}")


def date_range(digest: Digest) -> str:
    """'24–31 Oct 2026': from the previous digest (or, for the first, the earliest window a
    source covered) to when this one was built."""
    end = _day(digest.generated)
    starts = [digest.since] if digest.since else [r.window_start for r in digest.receipts
                                                  if r.window_start]
    start = min((d for d in map(_day, starts) if d), default=None)
    if end is None:
        return ""
    if start is None or start >= end:
        return _format(end)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{_format(end)}"
    if start.year == end.year:
        return f"{start.day} {start:%b} – {_format(end)}"
    return f"{_format(start)} – {_format(end)}"


def safe_href(url: str) -> str:
    """The URL when it is http(s) (no javascript:, data: or mailto: from a source), else ''."""
    url = url.strip()
    return url if re.match(r"https?://[^\s\"'<>]+$", url, re.IGNORECASE) else ""


def item_view(item: DigestItem) -> ItemView:
    """One study as the templates show it: a retracted one set apart with no conclusion, a
    trial with its registry ids linked (both, when it is in two registries) and its sponsor
    and labelled dates in the facts line only."""
    study = item.study
    assert study is not None
    labels = item_labels(item)
    state = warning(labels)
    notice, notice_url = notice_link(item)
    if study.kind == "trial" and "trial" not in labels:
        labels.insert(0, "trial")
    byline = " · ".join(p for p in (first_author(study), *source_parts(study)) if p)
    lead, ids, more = shown_ids(study)
    return ItemView(title=_clip(one_line(study.title) or "(untitled)"),
                    url=safe_href(item_url(study) or ""), labels=without_warning(labels),
                    byline=one_line(byline), also=item.conditions[1:],
                    conclusion=quoted_conclusion(labels, conclusion(study)),
                    facts=one_line(study_facts(study)), changed=one_line(note_text(item)),
                    note_label=note_label(item), notice=notice, notice_url=safe_href(notice_url),
                    warning=state, warning_text=WARNING_TEXT.get(state, ""), ids_lead=lead,
                    ids_more=more,
                    ids=[RegistryId(one_line(e.label), safe_href(e.url)) for e in ids],
                    versions=[RegistryId(one_line(name), safe_href(url))
                              for name, url in preprint_links(study)])


def _context(digest: Digest, subject: str, brand: str) -> dict[str, object]:
    failures = [r for r in digest.receipts if r.down]  # not failures a later poll caught up
    sections = _sections(digest)
    counts = [CountView(s.condition, s.matched, s.held, "#" + s.anchor) for s in sections]
    counts += [CountView(condition, 0, held, "") for condition, held in digest.overflow.items()
               if condition not in {s.condition for s in sections}]
    return {
        "subject": subject,
        "brand": brand,
        "headline": headline(digest),
        "range": date_range(digest),
        "destination": digest.destination,
        "failures": [{"phrase": failure_phrase(r), "error": one_line(r.last_error or "")}
                     for r in failures],
        "sections": sections,
        "counts": counts,
        "highlights": [_highlight(item, digest) for item in digest.highlights[:MAX_HIGHLIGHTS]
                       if item.study],
        "notices": [one_line(notice_text(n)) for n in digest.notices],
        "overflow": overflow_line(digest),
        "held_links": [{"label": h.label, "url": safe_href(h.url)} for h in held_links(digest)],
        "banner": nothing_lost(digest),
        "receipt": receipt_line(digest),
        "archive": safe_href(digest.archive + "/index.html") if digest.archive else "",
        "receipt_sentences": [receipt_sentence(r) for r in digest.receipts],
    }


def _sections(digest: Digest) -> list[SectionView]:
    """Each condition's section: its full entries, each with the id the summary and the
    pointers link to, then its pointers."""
    anchors, section_anchors = _anchors(digest), _section_anchors(digest)
    return [SectionView(s.condition, [item_view(i) for i in s.items],
                        section_anchors[s.condition], s.matched,
                        digest.overflow.get(s.condition, 0),
                        [anchors[i.outbox_id] for i in s.items],
                        [_pointer(i, anchors, section_anchors) for i in s.pointers if i.study])
            for s in digest.sections]


def _anchors(digest: Digest) -> dict[int, str]:
    """outbox id -> the id of that study's full entry: plain ASCII, so every mail client that
    follows in-message links at all (by id or by name) finds it."""
    return {item.outbox_id: f"s{item.outbox_id}" for s in digest.sections for item in s.items}


def _highlight(item: DigestItem, digest: Digest) -> PointerView:
    """A highlight: why it is one, a retraction (or concern) first however it was found."""
    view = _pointer(item, _anchors(digest), _section_anchors(digest), TITLE_LIMIT)
    return replace(view, warning="", reason=view.warning
                   or reason(item.event, item.study, item.labels))


def _section_anchors(digest: Digest) -> dict[str, str]:
    return {s.condition: f"c{n}" for n, s in enumerate(digest.sections, start=1)}


def _pointer(item: DigestItem, anchors: dict[int, str], sections: dict[str, str],
             limit: int = POINTER_LIMIT) -> PointerView:
    """A one-line reference to *item*'s full entry, under its primary condition."""
    assert item.study is not None
    where = item.conditions[0] if item.conditions else "Other"
    href = "#" + anchors[item.outbox_id] if item.outbox_id in anchors else \
        safe_href(item_url(item.study) or "")
    return PointerView(_clip(one_line(item.study.title) or "(untitled)", limit), href,
                       one_line(where), "#" + sections[where] if where in sections else "",
                       WARNING_LEADS.get(warning(item_labels(item)), ""))


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("watcher", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    env.filters["wrap"] = _wrap
    return env


@functools.cache
def _inliner() -> css_inline.CSSInliner:
    # Nothing is fetched: the template has no <link>, and remote loading is off regardless.
    return css_inline.CSSInliner(load_remote_stylesheets=False)


def _wrap(value: str, first: str = "", rest: str | None = None) -> str:
    """Plain-text paragraph wrapped to WIDTH, *first* before its first line and *rest* (default:
    as many spaces) before the others. Long words (URLs) are left whole."""
    rest = " " * len(first) if rest is None else rest
    return "\n".join(textwrap.wrap(value, WIDTH, initial_indent=first, subsequent_indent=rest,
                                   break_long_words=False, break_on_hyphens=False)) or first


def _clip(title: str, limit: int = TITLE_LIMIT) -> str:
    if len(title) <= limit:
        return title
    return title[:limit - 1].rsplit(" ", 1)[0] + "…"


def _day(iso: str | None) -> date | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).date()
    except ValueError:
        return None


def _format(day: date) -> str:
    return f"{day.day} {day:%b %Y}"
