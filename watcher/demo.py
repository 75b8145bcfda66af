"""`watcher demo`: the production pipeline against local E-utilities and ClinicalTrials.gov servers
that replay the recorded responses shipped in watcher/demo_data. Only the base URLs differ from a
real run; secrets are dropped so the demo can never post to a real channel."""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from importlib import resources
from pathlib import Path

from . import config, pipeline
from .db import Store
from .destinations import KINDS
from .fakes.ctgov import CtgovServer
from .fakes.eutils import EutilsServer
from .fakes.isrctn import IsrctnServer
from .settings import Settings


def demo_corpus(kind: str = "pubmed", suffix: str = ".xml") -> list[Path]:
    folder = resources.files("watcher") / "demo_data" / kind
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(suffix))


def run_demo(settings: Settings, *, db_path: str | None = None) -> int:
    cfg = config.load(settings.queries)
    # Every configured destination prints here instead: the real outbox and digests, no post.
    cfg.destinations = {name: KINDS["terminal"].options(kind="terminal", name=name)
                        for name in cfg.destinations}
    today = pipeline.utc_now().date()
    with EutilsServer() as server, CtgovServer() as trials, IsrctnServer() as isrctn, \
            tempfile.TemporaryDirectory() as tmp:
        for days_ago, path in enumerate(demo_corpus(), start=1):
            server.add_files([path], entry_date=today - timedelta(days=days_ago))
        for days_ago, path in enumerate(demo_corpus("ctgov", ".json"), start=1):
            trials.add_files([path], updated=today - timedelta(days=days_ago))
        demo_settings = (  # local replays: no rate to respect
            settings.without_secrets().with_(db=db_path or str(Path(tmp) / "demo.db"))
            .with_source("pubmed", url=server.url, rate=50.0)
            .with_source("clinicaltrials", url=trials.url, rate=50.0)
            .with_source("isrctn", url=isrctn.url, rate=50.0))
        store = Store(demo_settings.db, setting="--db" if db_path else "WATCHER_DB")
        say = sys.stderr.write
        say(f"demo: local E-utilities at {server.url} serving {len(server.records)} recorded "
            f"PubMed records; database {demo_settings.db}\n")
        say(f"demo: local ClinicalTrials.gov API v2 at {trials.url} serving "
            f"{len(trials.studies)} demo trial records\n")
        say(f"demo: first run of {len(cfg.queries)} saved queries from {settings.queries}\n\n")
        first = pipeline.run_once(cfg, store, demo_settings, command="demo")
        say("\ndemo: second run, nothing new upstream, so nothing is repeated\n\n")
        second = pipeline.run_once(cfg, store, demo_settings, command="demo")
        store.close()
        for line in first.poll.error_lines() + second.poll.error_lines():
            say(f"error: {line}\n")
        return 0 if first.ok and second.ok else 1
