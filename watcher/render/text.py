"""Plain-text digest for the terminal and logs (and, later, the text part of emails)."""

from __future__ import annotations

import textwrap

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
    receipt_line,
    short_date,
    trial_facts,
)

WIDTH = 100


def render(digest: Digest) -> str:
    since = f"since {short_date(digest.since)}" if digest.since else "(first digest)"
    lines = [f"watcher: {headline(digest)} {since}"
             f" · digest for {digest.destination} · {short_date(digest.generated)}", ""]
    for section in digest.sections:
        lines.append(f"== {section.condition} ({len(section.items)}) ==")
        for item in section.items:
            lines += _item(item)
        lines.append("")
    if digest.notices:
        lines.append(f"== Notices ({len(digest.notices)}) ==")
        for item in digest.notices:
            lines += textwrap.wrap(notice_text(item), WIDTH, initial_indent="! ",
                                   subsequent_indent="  ")
        lines.append("")
    if digest.overflow:
        lines += textwrap.wrap(overflow_line(digest), WIDTH) + [""]
    if not digest.sections:
        lines += ["No new studies matched any saved query.", ""]
    lines += textwrap.wrap(receipt_line(digest), WIDTH, subsequent_indent="  ")
    return "\n".join(lines) + "\n"


def _item(item: DigestItem) -> list[str]:
    study = item.study
    lines = textwrap.wrap(study.title, WIDTH, initial_indent="* ", subsequent_indent="  ")
    details = [citation(study)]
    tags = item_labels(item)  # the same tags as Slack and email: design, inferred, event
    if study.kind == "preprint" and "preprint" not in tags:
        tags.insert(0, study.kind)
    if tags:
        details.append("[" + ", ".join(tags) + "]")
    lines += textwrap.wrap(" ".join(d for d in details if d), WIDTH, initial_indent="  ",
                           subsequent_indent="  ")
    if trial_facts(study):
        lines += textwrap.wrap(trial_facts(study), WIDTH, initial_indent="  ",
                               subsequent_indent="  ")
    if changes_text(item):
        lines += textwrap.wrap(f"{note_label(item)}: {changes_text(item)}", WIDTH,
                               initial_indent="  ", subsequent_indent="    ")
    if len(item.conditions) > 1:
        lines += textwrap.wrap("also: " + "; ".join(item.conditions[1:]), WIDTH,
                               initial_indent="  ", subsequent_indent="  ")
    link = " · ".join(part for part in (study.url, id_line(study)) if part)
    if link:
        lines.append("  " + link)
    return lines
