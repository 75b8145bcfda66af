"""Slack's layout of a large digest within Block Kit's limits: a top message with the counts and
highlights, one thread reply per condition (continued when too long) with a divider between
studies and the studies told under another condition as short lines at its end. Slack refuses
a whole message past any limit, and a refused message fails the digest on every run."""

from __future__ import annotations

import re

import pytest

from tests.fakes.slack import SlackServer, check_message
from tests.helpers.digests import all_items, big_digest
from tests.helpers.slack import assert_inert
from watcher.destinations.slack import Slack, SlackSender
from watcher.destinations.slack_client import SlackSettings
from watcher.destinations.slack_webhook import SlackWebhook, SlackWebhookSender
from watcher.digest import Digest
from watcher.render import slack as slack_render
from watcher.render.slack import (
    BLOCKS_BUDGET,
    MAX_BLOCKS,
    MAX_CONTEXT_ELEMENTS,
    MAX_HEADER,
    MAX_SECTION,
    SlackMessage,
    block_text_size,
)

#: What Slack answers msg_blocks_too_long past (text of all blocks of one message).
SLACK_TEXT_LIMIT = 13_000
#: A study's full entry: its linked title first (after a retraction's warning), which starts
#: with big_digest's study number.
ENTRY = re.compile(r"(?::warning: \*RETRACTED\* |:grey_exclamation: _Expression of concern_ )?"
                   r"<[^|]+\|\[(\d{3})\]")


def assert_within_limits(message: SlackMessage) -> None:
    blocks = message.blocks
    assert 0 < len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= MAX_HEADER and "\n" not in block["text"]["text"]
        elif block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= MAX_SECTION
        elif block["type"] == "context":
            assert 0 < len(block["elements"]) <= MAX_CONTEXT_ELEMENTS
            assert all(len(e["text"]) <= MAX_SECTION for e in block["elements"])
        else:
            assert block == {"type": "divider"}
    text = sum(block_text_size(b) for b in blocks)
    assert text <= BLOCKS_BUDGET < SLACK_TEXT_LIMIT - len(message.text)
    assert check_message(message.payload()) is None


def headers(message: SlackMessage) -> list[str]:
    return [b["text"]["text"] for b in message.blocks if b["type"] == "header"]


def sections_text(message: SlackMessage) -> str:
    return "\n".join(b["text"]["text"] for b in message.blocks if b["type"] == "section")


def told_in_full(messages: list[SlackMessage]) -> list[int]:
    """The study numbers whose full entry (its own section block, title first) was posted."""
    return [int(m.group(1)) for message in messages for block in message.blocks
            if block["type"] == "section"
            and (m := ENTRY.match(block["text"]["text"]))]


@pytest.fixture(scope="module")
def digest() -> Digest:
    return big_digest(200, 8)


def test_200_studies_over_8_conditions_fit_every_limit_and_each_is_told_once(digest):
    messages = slack_render.render(digest, threaded=True)
    for message in messages:
        assert_within_limits(message)
    ids = [i for m in messages for i in m.outbox_ids]
    expected = [i for item in all_items(digest) for i in item.outbox_ids]
    assert sorted(ids) == sorted(expected) and len(set(ids)) == 200, "each item exactly once"
    assert sorted(told_in_full(messages)) == list(range(200)), "each study in full once"
    assert not messages[0].reply and all(m.reply for m in messages[1:])


def test_each_condition_is_its_own_reply_continued_when_too_long(digest):
    messages = slack_render.render(digest, threaded=True)[1:]
    names = [s.condition for s in digest.sections]
    first = [headers(m)[0] for m in messages]
    assert all(len(headers(m)) == 1 for m in messages), "one condition per reply"
    opened = [h for h in first if not h.endswith("(continued)")]
    assert opened == [f"{s.condition} ({s.matched})" for s in digest.sections]
    # a condition's replies follow each other: its opening reply, then only its continuations
    owners = [next(n for n in names if h.startswith(n + " (")) for h in first]
    assert owners == sorted(owners, key=names.index)
    assert len(messages) > len(names), "a 25-study condition does not fit one reply"
    for message, owner in zip(messages, owners, strict=True):
        told = told_in_full([message])
        assert told and all(n % 8 == names.index(owner) for n in told), "its own studies only"


def test_studies_are_separated_by_dividers_and_pointers_end_the_condition(digest):
    messages = slack_render.render(digest, threaded=True)[1:]
    for message in messages:
        kinds = [b["type"] for b in message.blocks]
        items = [i for i, b in enumerate(message.blocks) if b["type"] == "section"
                 and ENTRY.match(b["text"]["text"])]
        for before, after in zip(items, items[1:], strict=False):
            assert kinds[before + 1:after] == ["divider"], "one divider between two studies"
    for section in digest.sections:
        mine = [m for m in messages if headers(m)[0].startswith(section.condition + " (")]
        last = sections_text(mine[-1])
        assert "told in full under their own condition" in last
        assert "told in full under their own condition" not in "".join(
            sections_text(m) for m in mine[:-1]), "pointers come after every full entry"
        pointer_lines = [line for line in "\n".join(sections_text(m) for m in mine).splitlines()
                         if line.startswith("• ")]
        assert len(pointer_lines) == len(section.pointers)
        for line, item in zip(pointer_lines, section.pointers, strict=True):
            number = item.study.title[1:4]
            assert f"|[{number}]" in line and line.endswith(f"→ {item.conditions[0]}")
            assert int(number) not in told_in_full(mine), "a pointer, not the entry again"


def test_the_top_message_gives_every_conditions_matched_count_and_five_linked_highlights(
        digest):
    top = slack_render.render(digest, threaded=True)[0]
    text = sections_text(top)
    for section in digest.sections:
        assert f"{section.condition}: {section.matched}" in text
    assert digest.sections[0].matched > len(digest.sections[0].items), "pointers counted too"
    highlights = re.findall(r"^• (?:(?::warning: )?\*[^*]+\* )?<(https://[^|]+)\|\[(\d{3})\]",
                            text, re.M)
    assert len(digest.highlights) == 8 and len(highlights) == 5, "at most five"
    assert [int(n) for _, n in highlights] == list(range(5))
    assert highlights[0][0] == "https://pubmed.ncbi.nlm.nih.gov/90000000/"


def test_a_condition_with_only_pointers_says_where_its_studies_are_told():
    digest = big_digest(6, 8, n_highlights=0)  # study 0 matched conditions 0, 1 and 2
    lone = digest.sections[1]
    lone.items.clear()  # condition 1 now has only study 0, told in full under condition 0
    messages = slack_render.render(digest, threaded=True)
    reply = next(m for m in messages[1:] if headers(m)[0].startswith(lone.condition))
    assert headers(reply) == [f"{lone.condition} (1)"]
    assert "*Told in full under their own condition:*\n• <https://pubmed.ncbi.nlm.nih.gov/" \
        "90000000/|[000]" in sections_text(reply)
    assert reply.outbox_ids == [], "a pointer delivers nothing: its entry does"


@pytest.mark.hostile
def test_huge_names_errors_and_highlights_keep_the_top_message_within_its_budget(digest):
    from dataclasses import replace
    long = "Condition with an extraordinarily long descriptive heading " * 10
    sections = [replace(s, condition=f"{k} {long}") for k, s in enumerate(digest.sections)]
    receipts = [replace(r, failed=8, last_error="HTTP 503: " + "<html>down</html> " * 200)
                for r in digest.receipts] * 5
    big = replace(digest, sections=sections, receipts=receipts,
                  overflow={f"held {k} {long}": 3 for k in range(40)})
    for message in slack_render.render(big, threaded=True):
        assert_within_limits(message)


def test_a_webhook_gets_the_same_items_once_in_follow_up_messages(digest):
    messages = slack_render.render(digest, threaded=False)
    for message in messages:
        assert_within_limits(message)
        assert not message.reply
    assert sorted(told_in_full(messages)) == list(range(200))
    ids = [i for m in messages for i in m.outbox_ids]
    assert len(ids) == len(set(ids)) == 200
    opened = [h for m in messages for h in headers(m) if not h.endswith("(continued)")]
    assert opened[1:] == [f"{s.condition} ({s.matched})" for s in digest.sections]


@pytest.mark.parametrize("threaded", [True, False])
def test_slack_accepts_every_message_of_the_200_study_digest(digest, threaded):
    with SlackServer(interval=None) as slack:
        if threaded:
            sender = SlackSender(Slack(kind="slack", name="team", channel="#ketamine-watch"),
                                 SlackSettings(api_url=slack.url, bot_token=slack.token,
                                               interval=0), timeout=10)
        else:
            sender = SlackWebhookSender(SlackWebhook(kind="slack_webhook", name="team"),
                                        SlackSettings(webhook_url=slack.webhook_url,
                                                      interval=0), timeout=10)
        parts = sender.prepare(digest)
        for part in parts:
            sender.send(part)
        assert slack.rejected == [] and len(slack.messages) == len(parts) > 9
        for message in slack.messages:
            assert_inert(message)
        if threaded:
            top = slack.top_level("#ketamine-watch")
            assert len(top) == 1 and len(slack.replies(top[0].ts)) == len(parts) - 1


@pytest.mark.hostile
def test_forty_conditions_and_long_upstream_errors_never_cut_the_counts_or_a_highlight_link():
    """A week with PubMed, ClinicalTrials.gov and ISRCTN all answering HTML error pages, 40
    conditions with real-length names and something held back under each: the top message
    still gives every condition's count, and every highlight stays a whole link (the
    receipt, which `watcher status` tells in full, is what gets shortened)."""
    from dataclasses import replace
    base = big_digest(80, 40, long_titles=False, n_highlights=5)
    names = {s.condition: f"{s.condition}: depression, anxiety and related disorders (adults)"
             for s in base.sections}
    sections = [replace(s, condition=names[s.condition]) for s in base.sections]
    receipts = [replace(r, failed=8, last_error="HTTP 503: " + "<html>down</html> " * 200)
                for r in base.receipts] * 2
    big = replace(base, sections=sections, receipts=receipts,
                  overflow={s.condition: 12 for s in sections})
    top = slack_render.render(big, threaded=True)[0]
    assert_within_limits(top)
    text = sections_text(top)
    for section in sections:
        assert f"\n{section.condition}: {section.matched} (+12 held)\n" in text + "\n"
    highlights = re.findall(r"^• (.*)$", text.split("*Highlights*\n", 1)[1], re.M)[:5]
    assert len(highlights) == 5
    for line in highlights:
        assert re.fullmatch(r"(:warning: \*RETRACTED\* )?<https://[^|<>]+\|\[\d{3}\][^<>]*> · _.+_",
                            line), line


@pytest.mark.hostile
def test_a_condition_heading_too_long_for_a_header_keeps_its_count():
    """A header holds 150 characters: a long condition name is shortened, its count kept."""
    from dataclasses import replace
    base = big_digest(6, 2, long_titles=False, n_highlights=0)
    long = "Depression & anxiety <in adults> " * 8
    sections = [replace(base.sections[0], condition=long.strip()), *base.sections[1:]]
    replies = slack_render.render(replace(base, sections=sections), threaded=True)
    [heading] = [h for m in replies for h in headers(m) if h.startswith("Depression")]
    assert len(heading) <= MAX_HEADER
    assert heading.endswith(f"… ({sections[0].matched})"), heading


@pytest.mark.hostile
def test_five_highlights_with_long_addresses_are_all_named_as_whole_links():
    """Five highlights whose DOI addresses run to 450 characters are more than one block holds:
    each is still named, its link whole, rather than the fifth cut off mid-address."""
    from dataclasses import replace
    base = big_digest(10, 2, long_titles=True, n_highlights=5)
    for n, item in enumerate(base.highlights):
        item.study = replace(item.study, ids={"doi": f"10.5555/{n}" + "x" * 440})
    top = slack_render.render(base, threaded=True)[0]
    assert_within_limits(top)
    lines = [line for line in sections_text(top).split("\n") if line.startswith("• ")]
    assert len(lines) == 5
    for n, line in enumerate(lines):
        assert re.search(rf"<https://doi\.org/10\.5555/{n}x{{440}}\|[^<>]+> · _.+_$", line), line
