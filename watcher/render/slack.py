"""Slack Block Kit rendering of a digest: pure data in, messages out, nothing sent.

Every string that came from a source is untrusted: :mod:`.slack_blocks` escapes it for Slack in
every text field and in the fallback, so a title such as ``<!channel>`` shows as text and cannot
notify anyone, and long strings are cut so each message stays well inside Block Kit's limits.

A digest becomes one top-level message (header, headline, how many studies matched each
condition, the highlights, overflow, receipt, notices) and the items, grouped by condition in
the YAML's order, in further messages: for a bot, one thread reply per condition (continued in
more when too long), a divider between studies and the studies told in full under another
condition as short lines at the end; for a webhook, plain follow-up messages, packed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..digest import Digest, DigestItem, Section
from ..evidence import reason
from ..models import Study
from .common import (
    conclusion,
    first_author,
    headline,
    item_labels,
    item_url,
    notice_link,
    notice_text,
    overflow_line,
    preprint_links,
    receipt_line,
    receipt_sentence,
    short_date,
    study_facts,
)
from .facts import (
    CONCERN,
    RETRACTED,
    quoted_conclusion,
    shown_ids,
    source_parts,
    warning,
    without_warning,
)
from .held import held_links, ids_url
from .slack_blocks import (  # noqa: F401 (MAX_*, TITLE_LIMIT: the limits, read by tests)
    BLOCKS_BUDGET,
    FALLBACK_BUDGET,
    MAX_BLOCKS,
    MAX_CONTEXT_ELEMENTS,
    MAX_HEADER,
    MAX_SECTION,
    TITLE_LIMIT,
    block_text_size,
    clean,
    context_block,
    cut_escaped,
    cut_escaped_text,
    escape,
    header_block,
    lines_blocks,
    link,
    link_target,
    mrkdwn,
    section_block,
    text_field,
    within_budget,
)
from .states import heartbeat_line, nothing_lost

CONCLUSION_LIMIT = 300
MAX_HIGHLIGHTS = 5
HIGHLIGHT_TITLE_LIMIT = 200
POINTER_TITLE_LIMIT = 150
#: Text of one block of pointer lines: well inside MAX_SECTION, so a cut never ends a link.
POINTER_BLOCK = 2_800
#: The longest link target kept in a one-line highlight or pointer (else the bare title).
SHORT_LINK_TARGET = 500


@dataclass
class SlackMessage:
    """One message: its blocks, its plain-text fallback and the outbox items it carries."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    fallback: list[str] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)
    reply: bool = False  # a thread reply under the top message
    group: str | None = None  # the condition whose items it was listing last

    @property
    def text(self) -> str:
        """The plain-text fallback Slack shows in notifications (already escaped)."""
        return cut_escaped_text("\n".join(self.fallback), FALLBACK_BUDGET)

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


# --- the digest -----------------------------------------------------------------------------

def date_range(digest: Digest) -> str:
    end = short_date(digest.generated)[:11]
    return f"{short_date(digest.since)[:11]} to {end}" if digest.since else \
        f"first digest, {end}"


def top_blocks(digest: Digest) -> tuple[list[dict[str, Any]], list[str]]:
    """The top-level message: header (date range, marked when a source is down), what a failure
    means, headline (failures first), how many studies matched each condition, the highlights,
    counts per kind of event, what max_items held back, and the receipt. Cut to the message
    budget however long the names and errors are."""
    blocks = [header_block(f"{warning_mark(digest)}Literature watch · {date_range(digest)}"),
              *failure_blocks(digest),
              section_block(f"*{escape(clean(headline(digest)))}*")]
    counts = [f"{text_field(s.condition, 200)}: {s.matched}"
              + (f" (+{digest.overflow[s.condition]} held)"
                 if digest.overflow.get(s.condition) else "")
              for s in digest.sections]
    counts += [f"{text_field(c, 200)}: 0 (+{n} held)" for c, n in digest.overflow.items()
               if c not in {s.condition for s in digest.sections}]
    blocks += lines_blocks(["*By condition*", *counts] if counts else [])
    highlights = [_highlight(item) for item in digest.highlights if item.study]
    if highlights:
        blocks += lines_blocks(["*Highlights*", *highlights[:MAX_HIGHLIGHTS]])
    if digest.overflow:
        blocks.append(section_block(escape(clean(overflow_line(digest)))))
    if not digest.sections:
        blocks.append(section_block("No new studies matched any saved query."))
    receipt = [escape(clean(receipt_sentence(r))) for r in digest.receipts]  # upstream errors
    if receipt:
        receipt[0] = "Receipt: " + receipt[0]
        if len(receipt) > MAX_CONTEXT_ELEMENTS:
            receipt[MAX_CONTEXT_ELEMENTS - 1:] = ["; ".join(receipt[MAX_CONTEXT_ELEMENTS - 1:])]
    else:
        receipt = [escape(f"Receipt: no source was polled since {short_date(digest.since)}.")]
    if digest.archive and len(receipt) < MAX_CONTEXT_ELEMENTS:
        receipt.append(link(digest.archive + "/index.html", "Every study so far: the archive"))
    blocks.append(context_block([cut_escaped_text(r, 1500) for r in receipt]))
    fallback = [warning_mark(digest)
                + escape(clean(f"watcher: {headline(digest)} · {date_range(digest)}"))]
    if digest.overflow:
        fallback.append(escape(clean(overflow_line(digest))))
    return within_budget(blocks, BLOCKS_BUDGET), fallback


def _highlight(item: DigestItem) -> str:
    """'• *RCT* <url|title> · Depression': a highlight, why it is one, and the condition whose
    reply tells it (a retraction carries the same warning as its entry)."""
    assert item.study is not None
    why = reason(item.event, item.study, item.labels)
    lead = warning_lead(item) or (WARNING_LEADS[RETRACTED] if why == "RETRACTED" else "")
    tag = lead + (f"*{why}* " if why and why != "RETRACTED" else "")
    return (f"• {tag}{short_link(item, HIGHLIGHT_TITLE_LIMIT)}"
            f" · _{text_field(item.conditions[0] if item.conditions else 'Other', 100)}_")


def short_link(item: DigestItem, limit: int) -> str:
    """A study's title linked to it, in a line that stays short: an absurdly long address
    from a source gives the bare title (a cut could only break the link's markup)."""
    assert item.study is not None
    url = item_url(item.study)
    target = link_target(url) if url else None
    return link(url if target and len(target) <= SHORT_LINK_TARGET else "", item.study.title,
                limit)


#: Before a retracted (or concerning) study's title, wherever it is named: never routine.
WARNING_LEADS = {RETRACTED: ":warning: *RETRACTED* ",
                 CONCERN: ":grey_exclamation: _Expression of concern_ "}


def warning_lead(item: DigestItem) -> str:
    """The warning before *item*'s title (its entry, a highlight, a pointer), else ""."""
    return WARNING_LEADS.get(warning(item_labels(item)), "")


def warning_mark(digest: Digest) -> str:
    """Before the header and notification of a digest whose source is down: never alike."""
    return ":warning: " if any(r.down for r in digest.receipts) else ""


def failure_blocks(digest: Digest) -> list[dict[str, Any]]:
    """Under a failure digest's header: nothing is lost, and where polling catches up."""
    lost = nothing_lost(digest)
    return [section_block(f":warning: *{escape(clean(lost))}*")] if lost else []


def item_mrkdwn(item: DigestItem) -> str:
    """One study: linked title (a retraction's warning before it), labels, first author et al.,
    a paper's journal and date or a trial's linked registry ids, the facts line (a trial's
    labelled dates and sponsor there, once), the other conditions it matched, and the abstract's
    conclusion when it has one (never a retracted paper's)."""
    study = item.study
    assert study is not None
    labels = item_labels(item)
    state = warning(labels)
    title = WARNING_LEADS.get(state, "") + short_link(item, TITLE_LIMIT)  # not a grey tag
    tags = [text_field(lbl, 60).replace("`", "'") for lbl in without_warning(labels)]
    lines = [title + ("  " + " ".join(f"`{lbl}`" for lbl in tags if lbl) if tags else "")]
    facts = [text_field(first_author(study), 120),
             *(text_field(part, 200) for part in source_parts(study)), _ids_mrkdwn(study),
             *(link(url, f"preprint {name}", 80) for name, url in preprint_links(study))]
    details = " · ".join(f for f in facts if f)
    if details:
        lines.append(details)
    if study_facts(study):
        lines.append(text_field(study_facts(study), 400))
    note = item.event.slack_note()
    notice, notice_url = notice_link(item)
    if note:
        lines.append(f"_{text_field(note, 500)}_"
                     + (f" · {link(notice_url, notice, 80)}" if notice_url else ""))
    if len(item.conditions) > 1:
        lines.append("also: " + text_field("; ".join(item.conditions[1:]), 400))
    found = quoted_conclusion(labels, conclusion(study, CONCLUSION_LIMIT))
    if found:
        lines.append("> " + text_field(found, 2 * CONCLUSION_LIMIT))
    return "\n".join(lines)


def _ids_mrkdwn(study: Study) -> str:
    """A trial's registry ids, or 'reports trial …' for a paper, each id a link to its
    registry page (an id without a stable page, or malformed, stays plain text)."""
    lead, ids, more = shown_ids(study)
    if not ids:
        return ""
    shown = ", ".join(link(entry.url, entry.label, 60) if entry.url else text_field(entry.label, 60)
                      for entry in ids)
    return (lead + " " if lead else "") + shown + more


def item_fallback(item: DigestItem) -> str:
    """The notification line: a retracted study says so first."""
    study = item.study
    assert study is not None
    state = warning(item_labels(item))
    lead = {RETRACTED: "RETRACTED: ", CONCERN: "Expression of concern: "}.get(state, "")
    return "• " + lead + text_field(study.title, 150)


@dataclass
class _Unit:
    """Blocks that must stay together in one message, with the items they carry."""

    blocks: list[dict[str, Any]]
    fallback: str
    outbox_ids: list[int]
    group: str | None = None  # condition heading it belongs under
    group_size: int = 0  # studies that matched that condition (its heading's count)
    joined: bool = False  # continues the unit before it: no divider between them


def render(digest: Digest, *, threaded: bool) -> list[SlackMessage]:
    """The digest as Slack messages, each within Block Kit's limits. *threaded*: items go in
    replies under the top message (bot token), one reply per condition (continued in more when
    it is too long); otherwise they follow it (webhook), packed into as few messages as fit.
    A quiet digest is one short heartbeat; the searches showing what max_items held back close
    it, in a reply of their own."""
    if (beat := heartbeat_line(digest)) and not digest.notices:
        return [SlackMessage([section_block(f":white_check_mark: {escape(beat)}"), context_block(
            [cut_escaped_text(escape(clean(receipt_line(digest))), 1500)])],
            [escape(f"watcher: {beat}")])]
    blocks, fallback = top_blocks(digest)
    top = SlackMessage(blocks=blocks, fallback=fallback)
    messages = [top]
    units: list[_Unit] = []
    if digest.notices:
        units.append(_Unit([section_block("*Notices*")], "Notices:", []))
    for notice in digest.notices:
        text = text_field(notice_text(notice), 1000)
        units.append(_Unit([section_block(":warning: " + text)], "! " + text,
                            [notice.outbox_id], joined=True))
    for section in digest.sections:
        units += [_Unit([section_block(item_mrkdwn(item))], item_fallback(item),
                        item.outbox_ids, section.condition, section.matched)
                  for item in section.items]
        units += _pointer_units(section)
    for n, held in enumerate(held_links(digest)):  # a link too long for a section is named
        shown = link(held.url, held.label)
        if len(shown) > MAX_SECTION:  # a long query: a search of the held PMIDs themselves
            shown = link(ids_url(held), held.label + " (these studies)")
        if len(shown) > MAX_SECTION or "<" not in shown:
            shown = escape(clean(held.label)) + " (its search is too long for a Slack link: " \
                "the email and terminal digests give it)"
        units.append(_Unit([section_block(shown)], "• " + escape(clean(held.label)), [],
                           "Held back for the next digest", digest.held_back, joined=n > 0))
    for unit in units:
        _pack(messages, unit, threaded=threaded)
    return [m for m in messages if m.blocks]


def _pointer_units(section: Section) -> list[_Unit]:
    """The studies that matched *section*'s condition but are told in full under their own:
    one short line each, at the end of the condition's reply, in as few blocks as fit."""
    if not section.pointers:
        return []
    lead = ("*Also relevant here*, told in full under their own condition:"
            if section.items else "*Told in full under their own condition:*")
    units: list[_Unit] = []
    lines = [lead]
    for item in section.pointers:
        if item.study is None:
            continue
        where = text_field(item.conditions[0] if item.conditions else "Other", 100)
        line = f"• {warning_lead(item)}{short_link(item, POINTER_TITLE_LIMIT)} → {where}"
        if len("\n".join([*lines, line])) > POINTER_BLOCK:
            units.append(_pointer_unit(section, lines, joined=bool(units)))
            lines = []
        lines.append(line)
    units.append(_pointer_unit(section, lines, joined=bool(units)))
    return units


def _pointer_unit(section: Section, lines: list[str], *, joined: bool) -> _Unit:
    shown = sum(line.startswith("•") for line in lines)
    return _Unit([section_block("\n".join(lines))], f"({shown} more under other conditions)",
                 [], section.condition, section.matched, joined=joined)


def _pack(messages: list[SlackMessage], unit: _Unit, *, threaded: bool) -> None:
    """Add *unit* to the last message, or start a new one when it would not fit. Threaded,
    each condition starts its own reply; a divider separates one study from the next."""
    current = messages[-1]
    new_group = unit.group is not None and unit.group != current.group
    if threaded and new_group:
        current = SlackMessage(reply=True)
        messages.append(current)
    heading = _heading(unit, continued=False) if new_group else []
    lead = heading or ([] if unit.joined or not current.blocks else [{"type": "divider"}])
    if not _fits(current, lead + unit.blocks):
        current = SlackMessage(reply=threaded)
        messages.append(current)
        continued = messages[-2].group == unit.group and unit.group is not None
        lead = _heading(unit, continued=continued) if unit.group else []
    current.blocks += lead + unit.blocks
    if lead and lead[0]["type"] == "header":
        current.fallback.append(lead[0]["text"]["text"])  # escaped by header_block
    current.fallback.append(unit.fallback)
    current.outbox_ids += unit.outbox_ids
    current.group = unit.group or current.group


def _heading(unit: _Unit, *, continued: bool) -> list[dict[str, Any]]:
    count = "continued" if continued else str(unit.group_size)
    return [header_block(clean(unit.group), f" ({count})")]


def _fits(message: SlackMessage, blocks: list[dict[str, Any]]) -> bool:
    if len(message.blocks) + len(blocks) > MAX_BLOCKS:
        return False
    size = sum(block_text_size(b) for b in message.blocks + blocks)
    return size <= BLOCKS_BUDGET


# --- preview --------------------------------------------------------------------------------

def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def readable(message: SlackMessage) -> str:
    """A message as a person reads it in Slack, roughly: links as 'label (url)'."""
    lines: list[str] = []
    for block in message.blocks:
        if block["type"] == "header":
            lines.append(f"== {unescape(block['text']['text'])} ==")
        elif block["type"] == "section":
            text = re.sub(r"<([^|>]+)\|([^>]*)>", r"\2 (\1)", block["text"]["text"])
            lines.append(unescape(text))
        elif block["type"] == "context":
            lines.append("  ".join(unescape(e["text"]) for e in block["elements"]))
        elif block["type"] == "divider":
            lines.append("-" * 40)
    return "\n\n".join(lines)


def preview(digest: Digest, *, threaded: bool) -> str:
    """What Slack would receive: each message readable, then the Block Kit JSON of all."""
    messages = render(digest, threaded=threaded)
    out = []
    for n, message in enumerate(messages, start=1):
        where = "thread reply" if message.reply else "message"
        out.append(f"--- {where} {n} of {len(messages)} ({len(message.outbox_ids)} items) ---")
        out.append(readable(message))
        out.append("")
    out.append("--- Block Kit JSON ---")
    out.append(json.dumps([{**m.payload(), "thread_reply": m.reply} for m in messages],
                          indent=2, ensure_ascii=False))
    return "\n".join(out) + "\n"
