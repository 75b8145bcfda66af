"""`watcher demo`: the production pipeline against local E-utilities, ClinicalTrials.gov,
ISRCTN and Europe PMC servers that serve the demo's two weeks (watcher/demo_corpus.py, dated
relative to today). Last week's run tells last week's studies; this week's poll finds the new
studies and what changed; this week's digest is then written as each destination would
receive it (the email's HTML, Slack's Block Kit messages), files a person can open. Only the
base URLs differ from a real run; secrets are dropped, so the demo can never post to a real
channel."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from unittest.mock import patch

from . import config, delivery, pipeline
from . import digest as digest_module
from .db import Store
from .delivery import build_digest
from .demo_corpus import Corpus
from .destinations import KINDS
from .digest import Digest
from .errors import UsageError
from .fakes.biorxiv import BiorxivServer
from .fakes.crossref import CrossrefServer
from .fakes.ctgov import CtgovServer
from .fakes.europepmc import EuropePMCServer
from .fakes.eutils import EutilsServer
from .fakes.isrctn import IsrctnServer
from .render import slack as slack_render
from .render import text as text_render
from .render.common import headline
from .settings import Settings

#: Where the renderings go when --out is not given (relative to the working directory).
DEFAULT_OUT = "watcher-demo"


@dataclass
class Written:
    """One destination's rendering: the files written, or why none was."""

    destination: str
    kind: str
    files: list[Path]
    note: str = ""


def run_demo(settings: Settings, *, db_path: str | None = None,
             out: str | Path | None = None) -> int:
    cfg = config.load(settings.queries)
    # Last week's digests go to the terminal, unseen: every destination's items are marked
    # sent, so this week's digest is a week of news, as the team's would be.
    last_week_cfg = config.load(settings.queries)
    last_week_cfg.destinations = {name: KINDS["terminal"].options(kind="terminal", name=name)
                                  for name in last_week_cfg.destinations}
    now = pipeline.utc_now()
    corpus = Corpus(now.date())
    folder = Path(out or DEFAULT_OUT)
    say = sys.stderr.write
    if db_path and Path(db_path).exists():  # never someone's real database
        raise UsageError(f"--db {db_path} exists: the demo starts from an empty database; "
                         "give a new file (or remove it, if an earlier demo made it)")
    folder.mkdir(parents=True, exist_ok=True)
    db = Path(db_path or folder / "demo.db")
    for old in (db, *(db.with_name(db.name + end) for end in ("-wal", "-shm"))):
        old.unlink(missing_ok=True)  # the demo's own, from its last run: it starts afresh
    with (EutilsServer() as server, CtgovServer() as trials, IsrctnServer() as isrctn,
          EuropePMCServer() as europepmc, CrossrefServer() as crossref,
          BiorxivServer() as biorxiv):
        demo_settings = (  # local servers: no rate to respect
            settings.without_secrets().with_(db=str(db))
            .with_source("pubmed", url=server.url, rate=50.0)
            .with_source("clinicaltrials", url=trials.url, rate=50.0)
            .with_source("isrctn", url=isrctn.url, rate=50.0)
            .with_source("europepmc", url=europepmc.url, rate=50.0)
            .with_(lookups=settings.lookups.with_(  # the look-ups never leave the machine
                crossref_url=crossref.url, biorxiv_url=biorxiv.url, crossref_rate=50.0,
                biorxiv_rate=50.0)))
        store = Store(demo_settings.db, setting="--db" if db_path else "WATCHER_DB")
        try:
            corpus.serve_last_week(server, trials, europepmc)
            week_ago = now - timedelta(days=7)
            say(f"demo: local PubMed, ClinicalTrials.gov, ISRCTN and Europe PMC servers; "
                f"{len(cfg.queries)} saved queries from {settings.queries}; database "
                f"{demo_settings.db}\n")
            # Last week's digests are stamped as sent last week, so this week's covers a week.
            with patch.object(delivery, "utc_now", lambda: week_ago):
                last = pipeline.run_once(last_week_cfg, store, demo_settings, now=week_ago,
                                         command="demo", stream=io.StringIO())
            told = max((d.items for d in last.deliveries), default=0)
            say(f"demo: last week ({week_ago:%d %b %Y}): {told} studies told to "
                f"{', '.join(cfg.destinations)}\n")
            corpus.serve_this_week(server, trials, isrctn, europepmc)
            this = pipeline.poll_run(cfg, store, demo_settings, now=now)
            say(f"demo: this week ({now:%d %b %Y}): {corpus.new_this_week()} new studies "
                f"upstream; revised: {corpus.revisions()}\n\n")
            written = write_renderings(cfg, store, folder, now)
        finally:
            store.close()
    for line in last.poll.error_lines() + this.error_lines():
        say(f"error: {line}\n")
    for done in written:
        print(f"{done.destination} ({done.kind}): {done.note}")
        for path in done.files:
            print(f"  {path.resolve()}")
    return 0 if last.ok and not this.failures else 1


def write_renderings(cfg: config.Config, store: Store, folder: Path,
                     now: datetime) -> list[Written]:
    """Each destination's pending digest, rendered by its own renderer and written to
    *folder* (nothing is sent or marked sent). A Slack digest Slack would not be sent (empty,
    no failure, heartbeat off) is not written either, and says so."""
    folder.mkdir(parents=True, exist_ok=True)
    destinations = cfg.all_destinations()
    kinds = [options.kind for options in destinations.values()]
    written = []
    for name, options in destinations.items():
        built = digest_module.limit(build_digest(cfg, store, name, now=now).digest,
                                    options.max_items)
        stem = folder / ("digest-" + (_short(options.kind) if kinds.count(options.kind) == 1
                                      else name))
        summary = headline(built)
        if not built.items and not built.failing and not options.sends_empty:
            written.append(Written(name, options.kind, [], f"{summary}: not sent (its digest "
                                                          "is empty), so nothing is written"))
            continue
        if options.kind == "email":
            path = stem.with_suffix(".html")
            path.write_text(KINDS["email"].preview(built, options), encoding="utf-8")
            written.append(Written(name, options.kind, [path], f"{summary} · the email's HTML"))
        elif options.kind in ("slack", "slack_webhook"):
            files = write_slack(built, stem, threaded=options.kind == "slack")
            written.append(Written(name, options.kind, files,
                                   f"{summary} · Block Kit JSON, and as read in Slack"))
        else:
            path = stem.with_suffix(".txt")
            path.write_text(text_render.render(built), encoding="utf-8")
            written.append(Written(name, options.kind, [path], summary))
    return written


def write_slack(digest: Digest, stem: Path, *, threaded: bool) -> list[Path]:
    """<stem>.json: every message's payload as posted (its ``text`` and ``blocks``, plus
    whether it is a thread reply): paste one message's object into Block Kit Builder.
    <stem>.txt: the messages as a person reads them."""
    messages = slack_render.render(digest, threaded=threaded)
    payloads = [{"thread_reply": m.reply, **m.payload()} for m in messages]
    data, readable = stem.with_suffix(".json"), stem.with_suffix(".txt")
    data.write_text(json.dumps(payloads, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    lines = []
    for n, message in enumerate(messages, start=1):
        where = "thread reply" if message.reply else "message"
        lines += [f"--- {where} {n} of {len(messages)} ---", slack_render.readable(message), ""]
    readable.write_text("\n".join(lines), encoding="utf-8")
    return [data, readable]


def _short(kind: str) -> str:
    return "slack" if kind.startswith("slack") else kind
