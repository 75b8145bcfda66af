"""Slack Block Kit rendering of a digest: pure data in, messages out, nothing sent.

Every string that came from a source is untrusted: it is escaped for Slack (``&``, ``<``, ``>``
and nothing else, as Slack asks) in every text field and in the fallback, so a title such as
``<!channel>`` shows as text and cannot notify anyone. Link targets are percent-encoded where
they could end the ``<url|label>`` syntax, headers stay on one line, and long strings are cut so
each message stays well inside Block Kit's limits (50 blocks, 3,000 characters per section,
150 per header, about 12,000 characters of text in all).

A digest becomes one top-level message (header, headline, counts, overflow, receipt, notices)
and the items, grouped by condition in the YAML's order, in further messages: thread replies
for a bot, plain follow-up messages for a webhook (which packs what fits into the first).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from ..digest import Digest, DigestItem
from ..sources import label as source_label
from .common import (
    conclusion,
    first_author,
    headline,
    item_labels,
    item_url,
    notice_link,
    notice_text,
    overflow_line,
    printable,
    receipt_line,
    receipt_sentence,
    registrations,
    short_date,
    study_facts,
)
from .held import held_links
from .states import heartbeat_line, nothing_lost

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_CONTEXT_ELEMENTS = 10
#: Text of all blocks in one message, and of its fallback: together under Slack's ~12,000.
BLOCKS_BUDGET = 10_000
FALLBACK_BUDGET = 2_000
TITLE_LIMIT = 300
CONCLUSION_LIMIT = 300


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


# --- escaping -------------------------------------------------------------------------------

def clean(value: object) -> str:
    """One line of readable text: escape sequences, control and bidi override characters
    dropped (:func:`printable`), whitespace (CR, LF, tabs) collapsed."""
    return " ".join(printable(value or "").split())


def escape(value: object) -> str:
    """Slack's three control characters as entities; nothing else is touched."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text_field(value: object, limit: int) -> str:
    """*value* cleaned to one line, escaped, and cut so the escaped form has at most *limit*
    characters (never splitting an entity)."""
    return cut_escaped(clean(value), limit)


def cut_escaped(raw: str, limit: int) -> str:
    """Escape *raw* and keep at most *limit* characters of the result, ending with an ellipsis
    when cut."""
    escaped = escape(raw)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    size = 0
    for ch in raw:
        piece = escape(ch)
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out).rstrip() + "…"


def cut_escaped_text(escaped: str, limit: int) -> str:
    """Cut already-escaped text to *limit* characters without breaking an entity."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[:limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + "…"


def link_target(url: str) -> str | None:
    """A URL safe inside ``<url|label>``: http(s) only; ``<``, ``>``, ``|``, spaces and
    controls percent-encoded, ``&`` escaped as Slack expects. None when it is no web link."""
    url = url.strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    if scheme not in ("http", "https"):
        return None
    safe = quote(url, safe="/:?#[]@!$&'()*+,;=%~-._")
    return safe.replace("&", "&amp;")


def link(url: str, label: str, limit: int = TITLE_LIMIT) -> str:
    """``<url|label>`` with the label escaped and cut; the bare label when *url* is unusable."""
    shown = text_field(label, limit)
    if not any(unicodedata.category(ch)[0] not in "CZ" for ch in shown):
        shown = "(untitled)"  # only zero-width or format characters: an invisible link
    target = link_target(url) if url else None
    return f"<{target}|{shown}>" if target else shown


# --- blocks ---------------------------------------------------------------------------------

def header_block(value: str) -> dict[str, Any]:
    return {"type": "header",
            "text": {"type": "plain_text", "text": text_field(value, MAX_HEADER) or "watcher",
                     "emoji": True}}


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object; verbatim, so Slack does not turn a bare '#name' or '@here' in a
    title into a link or a mention of its own accord."""
    return {"type": "mrkdwn", "text": cut_escaped_text(text, MAX_SECTION), "verbatim": True}


def section_block(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def context_block(parts: list[str]) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(part)
                                            for part in parts[:MAX_CONTEXT_ELEMENTS]]}


def block_text_size(block: dict[str, Any]) -> int:
    """Characters of text a block carries (what counts toward a message's size)."""
    size = len(block.get("text", {}).get("text", ""))
    size += sum(len(e.get("text", "")) for e in block.get("elements", []))
    size += sum(len(f.get("text", "")) for f in block.get("fields", []))
    return size


# --- the digest -----------------------------------------------------------------------------

def date_range(digest: Digest) -> str:
    end = short_date(digest.generated)[:11]
    return f"{short_date(digest.since)[:11]} to {end}" if digest.since else \
        f"first digest, {end}"


def top_blocks(digest: Digest) -> tuple[list[dict[str, Any]], list[str]]:
    """The top-level message: header (date range), headline (failures first), counts per
    condition and per kind of event, what max_items held back, and the receipt."""
    blocks = [header_block(f"{warning_mark(digest)}Literature watch · {date_range(digest)}"),
              *failure_blocks(digest),
              section_block(f"*{escape(clean(headline(digest)))}*")]
    counts = [f"{text_field(s.condition, 200)}: {len(s.items)}"
              + (f" (+{digest.overflow[s.condition]} held)"
                 if digest.overflow.get(s.condition) else "")
              for s in digest.sections]
    counts += [f"{text_field(c, 200)}: 0 (+{n} held)" for c, n in digest.overflow.items()
               if c not in {s.condition for s in digest.sections}]
    if counts:
        blocks.append(section_block("*By condition:* " + " · ".join(counts)))
    kinds: dict[str, int] = {}
    for item in digest.items:
        if item.study is not None:
            name = item.event.short_name()
            kinds[name] = kinds.get(name, 0) + 1
    if kinds:
        blocks.append(section_block("*What:* " + " · ".join(
            f"{count} {escape(name)}" for name, count in kinds.items())))
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
    blocks.append(context_block([cut_escaped_text(r, 1500) for r in receipt]))
    fallback = [warning_mark(digest)
                + escape(clean(f"watcher: {headline(digest)} · {date_range(digest)}"))]
    if digest.overflow:
        fallback.append(escape(clean(overflow_line(digest))))
    return blocks, fallback


def warning_mark(digest: Digest) -> str:
    """Before the header and notification of a digest whose source is down: never alike."""
    return ":warning: " if any(r.down for r in digest.receipts) else ""


def failure_blocks(digest: Digest) -> list[dict[str, Any]]:
    """Under a failure digest's header: nothing is lost, and where polling catches up."""
    lost = nothing_lost(digest)
    return [section_block(f":warning: *{escape(clean(lost))}*")] if lost else []


def item_mrkdwn(item: DigestItem) -> str:
    """One study: linked title, labels, first author et al., journal or registry, date,
    the other conditions it matched, and the abstract's conclusion when it has one."""
    study = item.study
    assert study is not None
    lines = [link(item_url(study), study.title)]
    labels = [text_field(lbl, 60).replace("`", "'") for lbl in item_labels(item)]
    if labels:
        lines[0] += "  " + " ".join(f"`{lbl}`" for lbl in labels if lbl)
    where = study.journal or (source_label(study.source) if study.kind == "trial" else "")
    trial_id = study.ids.get("nct") if study.kind == "trial" else ""
    facts = [text_field(first_author(study), 120), text_field(where, 200),
             text_field(trial_id, 40), text_field(study.published or study.entry_date or "", 40),
             text_field(registrations(study), 200)]
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
    found = conclusion(study, CONCLUSION_LIMIT)
    if found:
        lines.append("> " + text_field(found, 2 * CONCLUSION_LIMIT))
    return "\n".join(lines)


def item_fallback(item: DigestItem) -> str:
    study = item.study
    assert study is not None
    return "• " + text_field(study.title, 150)


@dataclass
class _Unit:
    """Blocks that must stay together in one message, with the items they carry."""

    blocks: list[dict[str, Any]]
    fallback: str
    outbox_ids: list[int]
    group: str | None = None  # condition heading it belongs under
    group_size: int = 0


def render(digest: Digest, *, threaded: bool) -> list[SlackMessage]:
    """The digest as Slack messages, each within Block Kit's limits. *threaded*: items go in
    replies under the top message (bot token); otherwise they follow it (webhook). A quiet
    digest is one short heartbeat; the searches showing what max_items held back close it."""
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
                            [notice.outbox_id]))
    for unit in units:
        _pack(messages, unit, threaded=threaded)
    if threaded and digest.sections and messages[-1] is top:
        messages.append(SlackMessage(reply=True))
    for section in digest.sections:
        for item in section.items:
            _pack(messages, _Unit([section_block(item_mrkdwn(item))], item_fallback(item),
                                  item.outbox_ids, section.condition, len(section.items)),
                  threaded=threaded)
    for held in held_links(digest):  # a link too long for a section is named, not cut
        shown = link(held.url, held.label) if len(held.url) < MAX_SECTION - 400 else \
            escape(clean(held.label)) + " (search too long for Slack: see the email digest)"
        _pack(messages, _Unit([section_block(shown)], "• " + escape(clean(held.label)), [],
                              "Held back for the next digest", digest.held_back), threaded=threaded)
    return [m for m in messages if m.blocks]


def _pack(messages: list[SlackMessage], unit: _Unit, *, threaded: bool) -> None:
    """Add *unit* to the last message, or start a new one when it would not fit."""
    current = messages[-1]
    heading = _heading(unit, continued=False) if unit.group and unit.group != current.group \
        else []
    if not _fits(current, heading + unit.blocks):
        current = SlackMessage(reply=threaded)
        messages.append(current)
        continued = messages[-2].group == unit.group and unit.group is not None
        heading = _heading(unit, continued=continued) if unit.group else []
    current.blocks += heading + unit.blocks
    if heading:
        current.fallback.append(heading[0]["text"]["text"])  # escaped by header_block
    current.fallback.append(unit.fallback)
    current.outbox_ids += unit.outbox_ids
    current.group = unit.group or current.group


def _heading(unit: _Unit, *, continued: bool) -> list[dict[str, Any]]:
    count = "continued" if continued else str(unit.group_size)
    return [header_block(f"{clean(unit.group)} ({count})")]


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
