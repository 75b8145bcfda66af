"""The email's layout, as a clinician scans it: a summary first (highlights linked to their
entries, every condition's count linked to its section), each section's full entries set apart
from one another, then its pointers as one line each; links that work in a mail client (plain
in-message anchors, no script) and no sideways scrolling at desktop or phone width."""

from __future__ import annotations

import html as html_module
import re
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser

import pytest

from tests.helpers.digests import all_items, big_digest
from watcher.digest import Digest
from watcher.render import email as email_render

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page(HTMLParser):
    """The email's start and end tags ('/a') as (tag, attributes, text up to the next tag),
    in order."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str], str]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}, ""))

    def handle_endtag(self, tag):
        self.elements.append(("/" + tag, {}, ""))

    def handle_data(self, data):
        if self.elements:
            tag, attrs, text = self.elements[-1]
            self.elements[-1] = (tag, attrs, text + data)

    def ids(self) -> list[str]:
        return [attrs["id"] for _, attrs, _ in self.elements if "id" in attrs]

    def by_class(self, name: str) -> list[int]:
        return [n for n, (_, attrs, _) in enumerate(self.elements)
                if name in attrs.get("class", "").split()]

    def text_from(self, start: int, end: int | None = None) -> str:
        return " ".join("".join(text for _, _, text in self.elements[start:end]).split())

    def cell_text(self, start: int) -> str:
        """The text from element *start* to the end of its table cell."""
        end = next(n for n in range(start, len(self.elements)) if self.elements[n][0] == "/td")
        return self.text_from(start, end)


@pytest.fixture(scope="module")
def digest() -> Digest:
    return big_digest(60, 8, long_titles=False, n_highlights=7)


@pytest.fixture(scope="module")
def page(digest) -> Page:
    return Page(email_render.render(digest).html)


def shortened(title: str) -> str:
    """*title* as a pointer shows it: whole, or cut at a word with an ellipsis."""
    return title if len(title) <= email_render.POINTER_LIMIT else \
        title[:email_render.POINTER_LIMIT - 1].rsplit(" ", 1)[0] + "…"


def section_starts(page: Page) -> list[int]:
    return page.by_class("section")


def test_the_summary_opens_the_email_with_each_conditions_count_linking_to_its_section(
        digest, page):
    summary, first_section = page.by_class("summary")[0], section_starts(page)[0]
    assert summary < first_section, "the summary comes before any section"
    rows = page.by_class("count-name")
    assert len(rows) == len(digest.sections)
    for row, section, start in zip(rows, digest.sections, section_starts(page), strict=True):
        link = page.elements[row + 1]
        assert link[0] == "a" and link[2] == section.condition
        count = next(n for n in page.by_class("count-n") if n > row)
        assert page.cell_text(count) == str(section.matched)
        anchor = link[1]["href"].removeprefix("#")
        target = page.elements[start + 1][1]
        assert target == {"id": anchor, "name": anchor}, "the link lands on its section"
        assert page.cell_text(start).endswith(f"{section.condition} ({section.matched})")
    assert digest.sections[0].matched > len(digest.sections[0].items), "pointers counted"


def test_highlights_are_at_most_five_each_linking_to_its_entry_in_its_section(digest, page):
    shown = page.by_class("highlight")
    assert len(digest.highlights) == 7 and len(shown) == 5
    ids = page.ids()
    for n, item in zip(shown, digest.highlights, strict=False):
        tag, attrs, title = page.elements[n + 1]
        if tag == "span":  # why it is a highlight ('RCT', '⚠ RETRACTED'), then its link
            assert title.strip(), "a reason, never an empty tag"
            tag, attrs, title = page.elements[n + 3]  # (after the span's end)
        assert tag == "a" and title == item.study.title
        assert attrs["href"] == f"#s{item.outbox_id}" and ids.count(f"s{item.outbox_id}") == 1
        assert page.text_from(n, page.by_class("highlight")[shown.index(n) + 1]
                              if n != shown[-1] else n + 5).endswith(f"· {item.conditions[0]}")


def test_every_study_is_told_in_full_once_under_its_condition_then_its_pointers(digest, page):
    starts = [*section_starts(page), len(page.elements)]
    told: list[int] = []
    for section, start, end in zip(digest.sections, starts, starts[1:], strict=False):
        entries = [n for n in page.by_class("item") if start < n < end]
        pointers = [n for n in page.by_class("pointer") if start < n < end]
        assert len(entries) == len(section.items) and len(pointers) == len(section.pointers)
        assert not pointers or max(entries, default=start) < min(pointers), "pointers last"
        for n, item in zip(entries, section.items, strict=True):
            anchor = next(attrs for _, attrs, _ in reversed(page.elements[:n]) if "id" in attrs)
            assert anchor["id"] == f"s{item.outbox_id}", "the entry's own anchor, just before"
            # a retracted study's entry opens with its warning, then the title
            shown = re.sub(r"^⚠ RETRACTED: [^\[]*?findings", "", page.cell_text(n))
            assert shown.startswith(item.study.title)
            told.append(item.outbox_id)
        for n, after, item in zip(pointers, [*pointers[1:], None], section.pointers,
                                  strict=True):
            line = page.text_from(n, after) if after else page.cell_text(n)
            where = item.conditions[0]
            assert line == f"also relevant: {shortened(item.study.title)} → in full under {where}"
            assert page.elements[n + 1][1]["href"] == f"#s{item.outbox_id}"
            assert page.elements[n + 3][1]["href"] == \
                f"#c{[s.condition for s in digest.sections].index(where) + 1}"
    assert sorted(told) == sorted(i.outbox_id for i in all_items(digest)), "each once"


def test_every_in_message_link_lands_on_exactly_one_anchor_and_nothing_needs_script(page):
    ids = page.ids()
    assert len(ids) == len(set(ids))
    names = [attrs["name"] for tag, attrs, _ in page.elements if tag == "a" and "name" in attrs]
    assert names == [i for i in ids if i in names], "each anchor by id and by name"
    local = [attrs["href"][1:] for tag, attrs, _ in page.elements
             if tag == "a" and attrs.get("href", "").startswith("#")]
    assert local and set(local) <= set(ids) and set(local) <= set(names)
    assert not any(tag == "script" or any(k.startswith("on") for k in attrs)
                   for tag, attrs, _ in page.elements)


def test_the_summary_and_separators_survive_css_inlining(page):
    summary = page.elements[page.by_class("summary")[0]][1]["style"]
    assert "background-color" in summary and "border" in summary
    item = page.elements[page.by_class("item")[0]][1]["style"]
    assert "border-bottom: 1px solid #bcccdc" in item, "a visible line between studies"


def test_a_pointer_to_a_study_not_in_this_email_links_to_the_study(digest):
    missing = digest.sections[0].pointers[0]
    owner = next(s for s in digest.sections if missing in s.items)
    cut = replace(digest, sections=[s if s is not owner else replace(
        s, items=[i for i in s.items if i is not missing]) for s in digest.sections])
    page = Page(email_render.render(cut).html)
    first = page.by_class("pointer")[0]
    assert page.elements[first + 1][1]["href"] == \
        f"https://pubmed.ncbi.nlm.nih.gov/{missing.study.ids['pmid']}/"


def test_the_plain_text_part_has_the_summary_and_the_pointers(digest):
    text = email_render.render(digest).text
    summary, first = text.index("BY CONDITION"), text.index(
        digest.sections[0].condition.upper() + " (")
    assert text.index("HIGHLIGHTS") < summary < first
    for section in digest.sections:
        assert f"  {section.condition}: {section.matched}\n" in text[summary:first]
    pointer = digest.sections[0].pointers[0]
    assert re.search(r"- also relevant: " + re.escape(pointer.study.title[:20])
                     + r".*?→ in full under\s+" + re.escape(pointer.conditions[0]),
                     text[first:], re.S)


def overflow(html: str, width: int, folder) -> tuple[int, int]:
    """(scroll width, visible width) of the email shown in a frame *width* px wide, in
    headless Chromium: the frame's media queries apply as on a phone of that width."""
    probe = (f'<html><body style="margin:0"><iframe id="f" style="width:{width}px;'
             f'height:900px;border:0" srcdoc="{html_module.escape(html, quote=True)}"></iframe>'
             '<script>document.getElementById("f").addEventListener("load", function () {'
             'var d = this.contentDocument.documentElement;'
             'document.title = "W=" + d.scrollWidth + "," + d.clientWidth; });</script>'
             '</body></html>')
    path = folder / "probe.html"
    path.write_text(probe, encoding="utf-8")
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          "--virtual-time-budget=5000", "--dump-dom", path.as_uri()],
                         capture_output=True, text=True, timeout=60).stdout
    found = re.search(r"<title>W=(\d+),(\d+)</title>", out)
    assert found, out[-500:]
    return int(found.group(1)), int(found.group(2))


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium")
@pytest.mark.parametrize("width", [600, 375])
def test_no_sideways_scrolling_at_desktop_or_phone_width(digest, width, tmp_path):
    long_word = "ketamine" * 40  # an unbroken word (a gene list, a URL) in a title
    item = replace(digest.sections[0].items[0], study=replace(
        digest.sections[0].items[0].study, title=long_word))
    sections = [replace(digest.sections[0], items=[item, *digest.sections[0].items[1:]]),
                *digest.sections[1:]]
    scroll, visible = overflow(email_render.render(replace(digest, sections=sections)).html,
                               width, tmp_path)
    assert visible >= width - 20 and scroll <= visible


def test_the_summary_counts_what_max_items_held_back_per_condition(digest):
    held = replace(digest, overflow={digest.sections[0].condition: 3, "Suicidal ideation": 4})
    page = Page(email_render.render(held).html)
    rows = page.by_class("count-name")
    assert [page.cell_text(n) for n in rows][-1] == "Suicidal ideation", "listed, unlinked"
    assert page.elements[rows[-1] + 1][0] != "a"
    counts = [page.cell_text(n) for n in page.by_class("count-n")]
    assert counts[0] == f"{digest.sections[0].matched} +3 held" and counts[-1] == "0 +4 held"
