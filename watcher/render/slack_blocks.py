"""Block Kit's building blocks for the Slack renderer: escaping untrusted text, links, the
block types a digest uses, and the size rules Slack enforces (50 blocks, 3,000 characters per
section, 150 per header, 10 context elements, about 13,000 characters of text per message:
past that Slack answers ``msg_blocks_too_long`` even when each block is within its limit).

Every string that came from a source is untrusted: it is escaped (``&``, ``<``, ``>`` and
nothing else, as Slack asks), link targets are percent-encoded where they could end the
``<url|label>`` syntax, and headers stay on one line.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote, urlsplit

from .common import printable

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_CONTEXT_ELEMENTS = 10
#: Text of all blocks in one message, and of its fallback: together well under Slack's ~13,000.
BLOCKS_BUDGET = 10_000
FALLBACK_BUDGET = 2_000
TITLE_LIMIT = 300


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
    """Cut already-escaped text to *limit* characters without breaking an entity; text of
    several lines (counts, highlights, pointers) is cut after a whole line where one ends in
    the second half, so no ``<url|title>`` link is left open."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[:limit - 2]
    line_end = cut.rfind("\n")
    if line_end > limit // 2:
        return cut[:line_end] + "\n…"
    cut = cut[:limit - 1]
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

def header_block(value: str, tail: str = "") -> dict[str, Any]:
    """A header of *value*, shortened to fit, then *tail* whole (a heading's count)."""
    shown = text_field(value, MAX_HEADER - len(escape(tail))) + escape(tail)
    return {"type": "header",
            "text": {"type": "plain_text", "text": shown.strip() or "watcher", "emoji": True}}


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object; verbatim, so Slack does not turn a bare '#name' or '@here' in a
    title into a link or a mention of its own accord."""
    return {"type": "mrkdwn", "text": cut_escaped_text(text, MAX_SECTION), "verbatim": True}


def section_block(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def lines_blocks(lines: list[str], size: int = 2_800) -> list[dict[str, Any]]:
    """*lines* in as few section blocks as hold them whole (40 conditions' counts are more
    than one block's 3,000 characters: a cut would drop the last conditions)."""
    blocks: list[list[str]] = []
    for line in lines:
        if blocks and len("\n".join([*blocks[-1], line])) <= size:
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return [section_block("\n".join(chunk)) for chunk in blocks]


def context_block(parts: list[str]) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(part)
                                            for part in parts[:MAX_CONTEXT_ELEMENTS]]}


def block_text_size(block: dict[str, Any]) -> int:
    """Characters of text a block carries (what counts toward a message's size)."""
    size = len(block.get("text", {}).get("text", ""))
    size += sum(len(e.get("text", "")) for e in block.get("elements", []))
    size += sum(len(f.get("text", "")) for f in block.get("fields", []))
    return size


def within_budget(blocks: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """*blocks* with their longest texts cut until all of them together fit *budget*: a
    message Slack refuses (msg_blocks_too_long) would fail the digest on every run. Context
    elements (the receipt and its upstream errors, which `watcher status` tells in full) are
    cut first, to 200 characters each, before anything the reader came for."""
    contexts = [obj for block in blocks if block["type"] == "context"
                for obj in block["elements"] if obj.get("text")]
    _cut_longest(contexts, sum(block_text_size(block) for block in blocks) - budget)
    texts = [obj for block in blocks for obj in [block.get("text"), *block.get("elements", [])]
             if obj and obj.get("text")]
    _cut_longest(texts, sum(len(obj["text"]) for obj in texts) - budget)
    return blocks


def _cut_longest(texts: list[dict[str, Any]], excess: int) -> None:
    """Cut the longest of *texts* (none below 200 characters) until *excess* is gone."""
    while excess > 0 and texts:
        longest = max(texts, key=lambda obj: len(obj["text"]))
        size = len(longest["text"])
        keep = max(size - excess, min(size, 200))
        if keep >= size:
            break  # (every text already short: only possible with an absurdly small budget)
        longest["text"] = cut_escaped_text(longest["text"], keep)
        excess -= size - len(longest["text"])
