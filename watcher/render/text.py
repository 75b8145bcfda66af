"""Plain-text digest for the terminal and logs (and, later, the text part of emails). Every
line goes through :func:`printable`: a title holding ``ESC[2J`` or a window-title sequence
must not clear or retitle the reader's terminal."""

from __future__ import annotations

import textwrap
from typing import Any

from ..digest import Digest, DigestItem
from .common import (
    changes_text,
    citation,
    headline,
    id_line,
    item_labels,
    note_label,
    notice_text,
    overflow_line,
    printable,
    receipt_line,
    short_date,
    study_facts,
)
from .facts import RETRACTED, WARNING_TEXT, trial_ids, warning, without_warning
from .held import held_links
from .states import nothing_lost

WIDTH = 100


def render(digest: Digest) -> str:
    since = f"since {short_date(digest.since)}" if digest.since else "(first digest)"
    lines = [f"watcher: {headline(digest)} {since}"
             f" · digest for {digest.destination} · {short_date(digest.generated)}", ""]
    if nothing_lost(digest):  # a failure digest says so before anything else
        lines += _wrap("!! " + nothing_lost(digest), WIDTH, subsequent_indent="   ") + [""]
    if digest.highlights:
        lines.append("Highlights:")
        for number, item in enumerate(digest.highlights, 1):
            lines += _wrap(_highlight(item), WIDTH, initial_indent=f"  {number}. ",
                           subsequent_indent="     ")
        lines.append("")
    for section in digest.sections:
        lines.append(f"== {section.condition} ({section.matched}) ==")
        for item in section.items:
            lines += _item(item)
        for item in section.pointers:
            lines += _wrap(_pointer(item), WIDTH, initial_indent="  ↳ ",
                           subsequent_indent="    ")
        lines.append("")
    if digest.notices:
        lines.append(f"== Notices ({len(digest.notices)}) ==")
        for item in digest.notices:
            lines += _wrap(notice_text(item), WIDTH, initial_indent="! ",
                           subsequent_indent="  ")
        lines.append("")
    if digest.overflow:
        lines += _wrap(overflow_line(digest), WIDTH)
        lines += [f"  {held.label}: {held.url}" for held in held_links(digest)] + [""]
    if not digest.sections:
        lines += ["No new studies matched any saved query.", ""]
    lines += _wrap(receipt_line(digest), WIDTH, subsequent_indent="  ")
    if digest.archive:
        lines.append(f"Every study so far, searchable: {digest.archive}/index.html")
    return "\n".join(printable(line) for line in lines) + "\n"


def _highlight(item: DigestItem) -> str:
    """'[RETRACTED] <title> (Depression)': one of the few items named at the top."""
    tags = item_labels(item)[:2]
    lead = f"[{', '.join(tags)}] " if tags else ""
    title = item.study.title if item.study is not None else notice_text(item)
    return f"{lead}{title} ({item.conditions[0]})"


def _pointer(item: DigestItem) -> str:
    """'<title> — in full under <primary condition>': a study told in full elsewhere."""
    title = item.study.title if item.study is not None else notice_text(item)
    return f"{title} — in full under {item.conditions[0]}"


def _item(item: DigestItem) -> list[str]:
    """One study: a retraction's warning first, its citation (a trial's investigators and
    registry ids), tags, facts, what changed, and its links (every registry it is in)."""
    study = item.study
    tags = item_labels(item)  # the same tags as Slack and email: design, inferred, event
    state = warning(tags)
    lines = [("!! " if state == RETRACTED else "! ") + WARNING_TEXT[state]] if state else []
    lines += _wrap(study.title, WIDTH, initial_indent="* ", subsequent_indent="  ")
    details = [citation(study)]
    tags = without_warning(tags)
    if study.kind == "preprint" and "preprint" not in tags:
        tags.insert(0, study.kind)
    if tags:
        details.append("[" + ", ".join(tags) + "]")
    lines += _wrap(" ".join(d for d in details if d), WIDTH, initial_indent="  ",
                   subsequent_indent="  ")
    if study_facts(study):
        lines += _wrap(study_facts(study), WIDTH, initial_indent="  ",
                       subsequent_indent="  ")
    if changes_text(item):
        lines += _wrap(f"{note_label(item)}: {changes_text(item)}", WIDTH,
                       initial_indent="  ", subsequent_indent="    ")
    if len(item.conditions) > 1:
        lines += _wrap("also: " + "; ".join(item.conditions[1:]), WIDTH,
                       initial_indent="  ", subsequent_indent="  ")
    others = [entry.url for entry in trial_ids(study) if entry.url and entry.url != study.url]
    link = " · ".join(part for part in (study.url, id_line(study), *others) if part)
    if link:
        lines.append("  " + link)
    return lines


def _wrap(text: str, width: int, **options: Any) -> list[str]:
    """*text* as one clean line (:func:`printable`, spacing collapsed), then wrapped."""
    return textwrap.wrap(" ".join(printable(text).split()), width, **options)
