"""`watcher archive DIR`: the static site a team browses from disk. Built from a store the real
pipeline filled from the real fixture records (a hostile title among them) and a digest it
delivered; checked as files (links, escaping, every study on its condition pages) and opened in
headless Chromium from file://, where its search must find a study."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from tests.helpers import FIXTURES, PUBMED_FILES, QUERIES_YAML, Env, days_ago, renumbered
from tests.helpers.ctgov import ketamine_trial
from watcher.archive.site import build_pages
from watcher.cli import main
from watcher.db.archive import ArchiveData, ArchivedDigest, ArchivedEvent, ArchivedStudy
from watcher.events import Correction
from watcher.fakes.ctgov import CtgovServer
from watcher.fakes.eutils import EutilsServer

#: A title written to break out of HTML (and the search's JavaScript) if it were not escaped.
HOSTILE = '</script><script>alert("pwned")</script><b id="bold">Ketamine</b> & <img src=x>'
HOSTILE_PMID = "99999901"
KETAMINE_PMID = "38011560"  # tests/fixtures/pubmed_metapub: ketamine and depression
TRIAL = "NCT09000001"
TRIALS_QUERY = """\
  - id: trials
    condition: Depression trials
    sources:
      clinicaltrials:
        condition: depression
        intervention: ketamine
"""
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class _Page(HTMLParser):
    """The links, image sources and scripts of one page, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.refs += [value for name, value in attrs if name in ("href", "src") and value]


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Env, Path]:
    """Every real fixture record plus one with a hostile title and a real trial record, polled
    and delivered (the terminal destination); the trial then completes upstream, and a second
    digest tells it; then the archive is written."""
    tmp = tmp_path_factory.mktemp("archive")
    with EutilsServer() as server, CtgovServer() as ctgov:
        ctgov.add_study(ketamine_trial(TRIAL, status="RECRUITING"), updated=days_ago(3))
        for n, path in enumerate(PUBMED_FILES, start=1):
            server.add_files([path], entry_date=days_ago(n))
        hostile = renumbered(FIXTURES / "pubmed_metapub" / f"{KETAMINE_PMID}.xml", HOSTILE_PMID)
        hostile.find("MedlineCitation/Article/ArticleTitle").text = HOSTILE
        server.add_article(hostile, entry_date=days_ago(40))  # an earlier month: two bars
        env = Env(tmp, server)
        env.write_queries(QUERIES_YAML.replace("lookback_days: 30", "lookback_days: 60")
                          + TRIALS_QUERY)
        result = env.cli("run", "--once", WATCHER_CTGOV_URL=ctgov.url)
        assert result.exit_code == 0, result.output

        def complete(data: dict) -> None:
            data["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"

        ctgov.update(TRIAL, complete, updated=days_ago(0))
        result = env.cli("run", "--once", WATCHER_CTGOV_URL=ctgov.url)
        assert "status Recruiting → Completed" in result.output
        out = tmp / "site"
        result = env.cli("archive", str(out))
    assert result.exit_code == 0, result.output
    assert re.match(r"wrote \d+ studies, 2 digest\(s\)", result.output)
    return env, out


def _study_ids(env: Env) -> set[int]:
    return {r["study_id"] for r in env.store().records() if r["study_id"] is not None}


def test_every_page_links_only_to_files_that_exist(site):
    _, out = site
    pages = sorted(out.glob("*.html"))
    assert len(pages) > 20
    for page in pages:
        for ref in _parse(page).refs:
            if re.match(r"https?://", ref):
                continue
            target = ref.split("#", 1)[0].split("?", 1)[0]
            assert target and (out / target).is_file(), f"{page.name} links to missing {ref}"


def test_every_study_has_a_page_listed_on_each_of_its_conditions_newest_first(site):
    env, out = site
    store = env.store()
    names = env.config().conditions()
    index = (out / "index.html").read_text()
    condition_pages = dict(re.findall(r'<a href="(condition-[^"]+\.html)">([^<]+)</a>', index))
    assert set(condition_pages.values()) == set(names.values())
    page_of = {name: out / page for page, name in condition_pages.items()}
    ids = _study_ids(env)
    assert len(ids) > len(PUBMED_FILES)  # every fixture record (some files hold two) + hostile
    for study_id in ids:
        assert (out / f"study-{study_id}.html").is_file()
        for match in store.matches_of(study_id):
            listing = page_of[names[match.query_id]].read_text()
            assert f'href="study-{study_id}.html"' in listing
    for page in page_of.values():
        dates = re.findall(r'<span class="date">(\d{4}-\d\d-\d\d)</span>', page.read_text())
        assert dates and dates == sorted(dates, reverse=True)


def test_a_study_page_shows_its_ids_linked_its_record_history_and_what_the_team_was_told(site):
    env, out = site
    study_id = env.store().find_study({"pmid": KETAMINE_PMID})
    page = (out / f"study-{study_id}.html").read_text()
    assert f'href="https://pubmed.ncbi.nlm.nih.gov/{KETAMINE_PMID}/"' in page
    assert "Ketamine and the neurobiology of depression" in page
    assert "PubMed</td><td>" + KETAMINE_PMID in page  # the kept record, with its fetch
    assert re.search(r"to terminal: sent \d{4}-\d\d-\d\d \d\d:\d\d", page)
    assert 'href="digest-1.html"' in page


def test_a_trial_page_links_its_registry_and_shows_each_version_and_the_change_told(site):
    env, out = site
    study_id = env.store().find_study({"nct": TRIAL})
    page = (out / f"study-{study_id}.html").read_text()
    assert f'href="https://clinicaltrials.gov/study/{TRIAL}"' in page
    history = page.split("Kept records", 1)[1]
    assert history.count("<br>") == 1 and len(re.findall(r"\d\d:\d\d <span", history)) == 2
    assert "status Recruiting → Completed" in page  # the event, with its date and delivery
    assert 'href="digest-1.html"' in page and 'href="digest-2.html"' in page
    second = (out / "digest-2.html").read_text()
    assert re.findall(r'href="study-(\d+)\.html"', second) == [str(study_id)]
    assert "status Recruiting → Completed" in second


def test_the_digest_page_lists_every_item_it_carried(site):
    env, out = site
    page = (out / "digest-1.html").read_text()
    linked = set(map(int, re.findall(r'href="study-(\d+)\.html"', page)))
    assert linked == _study_ids(env)
    # and the digest as it was sent: its own text, kept when it went out
    sent = page.split('<pre class="sent">', 1)[1].split("</pre>", 1)[0]
    assert "Ketamine and the neurobiology of depression" in sent
    assert "Receipt: PubMed" in sent
    second = (out / "digest-2.html").read_text()
    assert "status Recruiting → Completed" in second.split('<pre class="sent">', 1)[1]


def test_a_digest_sent_before_its_text_was_kept_lists_its_items_and_says_so(tmp_path):
    """A database from before migration 8 (no digest text): the page lists what the digest
    carried and says why there is no text, never an empty 'as sent'."""
    data = ArchiveData([], [ArchivedDigest(1, "team", "2026-11-01T08:00:00",
                                           "2026-11-01T08:00:05", "sent", 1)])
    page = build_pages(data, {}, generated="2026-12-05T08:00:00")["digest-1.html"]
    assert "before watcher kept a digest's text" in page and "As sent" not in page


@pytest.mark.hostile
def test_a_hostile_title_is_text_on_every_page_never_markup(site):
    env, out = site
    study_id = env.store().find_study({"pmid": HOSTILE_PMID})
    study = (out / f"study-{study_id}.html").read_text()
    assert "&lt;/script&gt;&lt;script&gt;alert(" in study
    for page in out.glob("*.html"):
        text = page.read_text()
        assert 'alert("pwned")' not in text and "alert(&#34;pwned&#34;)</script>" not in text
        parsed = _parse(page)
        assert "b" not in parsed.tags and "x" not in parsed.refs, page.name
    index = (out / "search-index.js").read_text()
    assert "</script>" not in index  # JSON-escaped: safe even if inlined in a page


def test_each_condition_has_a_chart_of_studies_per_month(site):
    _, out = site
    charts = sorted(out.glob("condition-*.svg"))
    assert len(charts) == 4
    for chart in charts:
        root = ET.parse(chart).getroot()
        assert root.tag.endswith("svg")
        page = chart.with_suffix(".html").read_text()
        assert f'<img src="{chart.name}"' in page


def _browse(url: str) -> str:
    """The DOM of *url* after its scripts ran, as headless Chromium leaves it."""
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
         "--dump-dom", url], capture_output=True, text=True, timeout=120)
    return result.stdout


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_search_works_opened_from_disk_in_a_browser(site):
    env, out = site
    index = (out / "index.html").resolve().as_uri()
    study_id = env.store().find_study({"pmid": KETAMINE_PMID})
    found = _browse(index + "?q=neurobiology%20KETAMINE")
    results = found.split('id="results"', 1)[1].split("</ul>", 1)[0]
    assert f'href="study-{study_id}.html"' in results
    assert re.search(r"\d+ stud(y|ies) found", found)
    by_abstract = _browse(index + "#q=reconceptualization")  # in its abstract, not its title
    results = by_abstract.split('id="results"', 1)[1].split("</ul>", 1)[0]
    assert f'href="study-{study_id}.html"' in results
    hostile = _browse(index + "?q=pwned")
    results = hostile.split('id="results"', 1)[1].split("</ul>", 1)[0]
    assert "&lt;/script&gt;&lt;script&gt;alert" in results and "<b" not in results
    nothing = _browse(index + "?q=zzznotaword")
    assert "0 studies found" in nothing


def test_a_missing_database_is_refused_rather_than_written_as_an_empty_archive(tmp_path):
    missing = tmp_path / "typo.db"
    result = CliRunner().invoke(main, ["archive", str(tmp_path / "site"), "--db", str(missing)])
    assert result.exit_code == 2
    assert f"error: no database at {missing} (--db)" in result.output
    assert not (tmp_path / "site").exists() and not missing.exists()


def test_without_readable_queries_each_query_id_is_its_own_condition(site, tmp_path):
    env, _ = site
    result = CliRunner().invoke(main, ["archive", str(tmp_path / "site"), "--no-charts",
                                       "--db", str(env.db), "--queries", str(tmp_path / "no")])
    assert result.exit_code == 0
    assert "conditions are named by query id" in result.output
    index = (tmp_path / "site" / "index.html").read_text()
    assert set(re.findall(r'<a href="condition-[^"]+\.html">([^<]+)</a>', index)) == {
        "everything", "depression", "anxiety", "trials"}
    assert not list((tmp_path / "site").glob("*.svg"))


def test_serve_rewrites_the_archive_after_each_digest_it_sends(env, corpus_server, capsys):
    from watcher.serve import jobs

    routed = QUERIES_YAML.replace("defaults:\n", "defaults:\n  destinations: [screen]\n")
    env.write_queries("destinations:\n  screen:\n    kind: terminal\n" + routed)
    folder = env.tmp / "served"
    settings = env.settings(WATCHER_ARCHIVE_DIR=str(folder))
    assert jobs.digest(env.config(), settings, "screen").ok
    assert "digest for screen" in capsys.readouterr().out
    index = (folder / "index.html").read_text()
    assert 'href="digest-1.html"' in index and "Depression" in index
    study_id = env.store().find_study({"pmid": KETAMINE_PMID})
    assert (folder / f"study-{study_id}.html").is_file()
    assert not list(folder.glob(".*.part"))


HELD_BACK = """\
destinations:
  screen:
    kind: terminal
    max_items: 3
defaults:
  destinations: [screen]
"""


def test_a_digest_that_holds_studies_back_links_each_condition_to_its_archive_page(tmp_path):
    """With WATCHER_ARCHIVE_URL, what max_items held back is one click away: each held
    condition links to its archive page (which lists those studies), and the digest's foot
    links to the archive's search. The link is the page the archive really writes."""
    base = "https://watch.example.org/archive"
    with EutilsServer() as server:
        for n, path in enumerate(PUBMED_FILES, start=1):
            server.add_files([path], entry_date=days_ago(n))
        env = Env(tmp_path, server)
        env.write_queries(QUERIES_YAML.replace("defaults:\n", HELD_BACK))
        assert env.cli("poll").exit_code == 0
        assert env.cli("archive", str(tmp_path / "site")).exit_code == 0
        preview = tmp_path / "digest.txt"
        result = env.cli("digest", "--preview", str(preview), WATCHER_ARCHIVE_URL=base + "/")
        assert result.exit_code == 0, result.output
        text = preview.read_text()
        no_archive = env.cli("digest", "--preview", str(preview))
    links = re.findall(r"^  (.+): (\d+) in the archive: " + re.escape(base) + r"/(\S+)$",
                       text, re.M)
    assert links, text
    for condition, count, page in links:
        listing = (tmp_path / "site" / page).read_text()
        assert f"<h1>{condition}" in listing or condition in listing
        assert int(count) <= len(re.findall(r'href="study-\d+\.html"', listing))
    assert f"Every study so far, searchable: {base}/index.html" in text
    assert no_archive.exit_code == 0 and "archive" not in preview.read_text()


def test_an_archive_url_that_is_no_web_address_is_refused_in_one_line(tmp_path):
    with EutilsServer() as server:
        env = Env(tmp_path, server)
        env.write_queries(QUERIES_YAML)
        result = env.cli("digest", "--preview", str(tmp_path / "x.txt"),
                         WATCHER_ARCHIVE_URL="javascript:alert(1)")
    assert result.exit_code != 0
    assert "WATCHER_ARCHIVE_URL='javascript:alert(1)' must be an http(s) address" in result.output


def test_a_retracted_study_says_so_on_every_archive_page_that_lists_it():
    """A paper the team was told is retracted (or whose record says so) is never a plain,
    citable title in the archive: its condition page, its own page and the search say so."""
    told = ArchivedStudy(1, "publication", "Ketamine maintenance: a randomised trial", "", [],
                         "J Psych", "2026", "2026-11-20", "2026-11-20", "", query_ids=["q"],
                         events=[ArchivedEvent(Correction.of(1, "Retraction", "39000001"))])
    marked = ArchivedStudy(2, "publication", "Esketamine in adolescents", "", [], "", "",
                           "2026-11-21", "2026-11-21", "", query_ids=["q"],
                           publication_types=["Journal Article", "Retracted Publication"])
    sound = ArchivedStudy(3, "publication", "Ketamine for OCD", "", [], "", "", "2026-11-22",
                          "2026-11-22", "", query_ids=["q"])
    files = build_pages(ArchiveData([told, marked, sound], []), {"q": "Depression"},
                        generated="2026-12-05T08:00:00")
    listing = next(text for name, text in files.items() if name.startswith("condition-"))
    assert listing.count("RETRACTED") == 2
    for study in (told, marked):
        line = next(x for x in listing.splitlines() if study.title in x)
        assert "RETRACTED" in line
        assert "do not rely on its findings" in files[f"study-{study.id}.html"]
        assert f'"RETRACTED: {study.title}"' in files["search-index.js"]
    assert "RETRACTED" not in files["study-3.html"]


def test_the_archive_carries_the_feeds_and_its_index_links_them(site):
    """Beside the archive, the Atom feeds of what was told (one per destination and per
    condition), valid for a feed reader and linked from the index."""
    env, out = site
    index = (out / "index.html").read_text()
    linked = re.findall(r'<a href="(feeds/[^"]+\.atom)">', index)
    assert "feeds/terminal.atom" in linked
    assert any(link.startswith("feeds/conditions/") for link in linked)
    told = feedparser.parse((out / "feeds" / "terminal.atom").read_bytes())
    assert not told.bozo and told.entries
    titles = {entry.title for entry in told.entries}
    assert any("neurobiology of depression" in title for title in titles)


@pytest.mark.hostile
def test_a_folder_that_cannot_be_written_is_one_clear_line_not_a_traceback(site, tmp_path):
    """FOLDER under a file (or on a read-only disk): one line naming the folder, exit 1."""
    env, _ = site
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    result = CliRunner().invoke(main, ["archive", str(blocker / "site"), "--no-charts",
                                       "--db", str(env.db)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: cannot write the archive to {blocker / 'site'}: ")
    assert len(result.output.splitlines()) == 1 and "Traceback" not in result.output
