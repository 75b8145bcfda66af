"""An Atom feed of what a destination (or a condition) was told, written by feedgen: one entry
per item, newest first, with the same title, link and facts as the digest item.

Pure: entries in, Atom bytes out. Every text from a source goes through :func:`printable` and
loses what XML cannot hold (U+FFFE, U+FFFF), so a hostile title is shown as text, never markup,
and never breaks the document. An entry's id comes from its event's key, which never changes:
a reader seeing the feed again (or the entry in two feeds) never shows it twice."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from feedgen.feed import FeedGenerator

from ..digest import DigestItem
from .common import (
    changes_text,
    citation,
    conclusion,
    id_line,
    item_labels,
    item_url,
    note_label,
    printable,
    study_facts,
)
from .facts import RETRACTED, WARNING_LABEL, WARNING_TEXT, quoted_conclusion, warning

#: The tag URI (RFC 4151) every id starts with. Never change it: readers know entries by id.
TAG = "tag:watcher,2026:"

#: What XML 1.0 cannot hold and :func:`printable` leaves (it takes the controls).
_NOT_XML = re.compile("[\ufffe\uffff]")


@dataclass(frozen=True)
class FeedItem:
    """One entry: the item as a digest told it, and when its message was accepted."""

    item: DigestItem
    sent: str  # ISO 8601 UTC, as stored


@dataclass(frozen=True)
class FeedInfo:
    """What the feed itself is: its id (``feed/...``, under :data:`TAG`) and its title."""

    id: str
    title: str
    subtitle: str = ""


def clean(text: object) -> str:
    """*text* as one line fit for an XML text node: printable, spacing collapsed."""
    return _NOT_XML.sub("", " ".join(printable(text).split()))


def entry_id(key: str) -> str:
    """The entry's id from its event's key: stable as long as the database is."""
    return TAG + "event:" + quote(key, safe=":-._~")


def entry_title(item: DigestItem) -> str:
    """The study's title, led by what the entry is when it is not simply new:
    'RETRACTED: …' (unmistakable, whichever event told it), 'Expression of concern: …',
    'Erratum: …', 'Trial changed: …'."""
    title = clean(item.study.title if item.study is not None else "") or "(untitled)"
    state = warning(item_labels(item))
    if state:
        lead = WARNING_LABEL[state]
    else:
        lead = item.event.lead_label() or ""
        if lead and item.study is not None and item.study.kind == "trial" \
                and not lead.lower().startswith("trial"):
            lead = f"trial {lead}"
    lead = clean(lead)
    return f"{lead[:1].upper()}{lead[1:]}: {title}" if lead else title


def summary(item: DigestItem) -> str:
    """What the entry says, line by line as the digest does: a retraction's warning, the
    citation, tags, the facts line, what changed, the conclusion (none quoted for a
    retracted study), and the study's ids."""
    study = item.study
    if study is None:
        return ""
    labels = item_labels(item)
    state = warning(labels)
    shown = [label for label in labels if label != WARNING_LABEL.get(state)]
    lines = [WARNING_TEXT[state] if state else "", citation(study),
             "[" + ", ".join(shown) + "]" if shown else "", study_facts(study)]
    if changes_text(item):
        lines.append(f"{note_label(item)}: {changes_text(item)}")
    if state != RETRACTED:
        lines.append(quoted_conclusion(labels, conclusion(study)))
    lines.append(id_line(study))
    return "\n".join(text for text in (clean(line) for line in lines) if text)


def _when(iso: str) -> datetime:
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def atom(info: FeedInfo, items: list[FeedItem], *, generated: str) -> bytes:
    """The Atom document of *items* (newest first, as given). The feed's ``updated`` is its
    newest entry's (so writing it again unchanged gives the same bytes), *generated* when it
    has none."""
    feed = FeedGenerator()
    feed.id(TAG + quote(info.id, safe="/:-._~"))
    feed.title(clean(info.title))
    if info.subtitle:
        feed.subtitle(clean(info.subtitle))
    feed.author({"name": "watcher"})
    feed.generator("watcher")
    feed.updated(max((_when(entry.sent) for entry in items), default=_when(generated)))
    for entry in items:
        study = entry.item.study
        written = feed.add_entry(order="append")
        written.id(entry_id(entry.item.event.key))
        written.title(entry_title(entry.item))
        written.updated(_when(entry.sent))
        text = summary(entry.item)
        written.summary(text or entry_title(entry.item))
        url = item_url(study) if study is not None else ""
        if url:
            written.link(href=clean(url), rel="alternate")
        else:  # Atom wants an entry without a link to carry content
            written.content(text or entry_title(entry.item), type="text")
        for condition in dict.fromkeys(clean(c) for c in entry.item.conditions):
            if condition:
                written.category(term=condition, label=condition)
    return feed.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
