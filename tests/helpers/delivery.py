"""Delivery test helpers: two queries routed to two terminal destinations (and routed nowhere),
a record both find, and a sender that records what it was sent and fails when told."""

from __future__ import annotations

import io

from watcher import pipeline
from watcher.destinations import Part
from watcher.digest import Digest, DigestItem
from watcher.events import NewStudy
from watcher.models import Study

LOST = "38011560"  # a review both 'everything' and 'depression' find


TWO_ROUTES = """\
destinations:
  x:
    kind: terminal
  y:
    kind: terminal
defaults:
  lookback_days: 30
queries:
  - id: everything
    condition: Everything in the corpus
    destinations: [x]
    sources:
      pubmed:
        terms: all[sb]
  - id: depression
    condition: Depression
    destinations: [y]
    sources:
      pubmed:
        terms: depressi*[tiab] OR "Depression"[Mesh]
"""


#: The same queries routed nowhere: their digest is the terminal's.
NOWHERE = "defaults:" + TWO_ROUTES.split("defaults:")[1].replace("    destinations: [x]\n", "") \
    .replace("    destinations: [y]\n", "")


class Recorder:
    """A destination that keeps what it was sent, one part per item, and can be told to fail
    on given calls (with any exception, KeyboardInterrupt included)."""

    def __init__(self, *, fail: dict[int, BaseException] | None = None,
                 send_empty: bool = False):
        self.fail = fail or {}
        self.send_empty = send_empty
        self.calls = 0
        self.keys: list[str] = []  # event keys carried by accepted parts
        self.notices: list[str] = []

    def prepare(self, digest: Digest) -> list[Part]:
        return [Part([item.outbox_id], item) for item in digest.items] or [Part([], None)]

    def send(self, part: Part) -> str | None:
        self.calls += 1
        if self.calls in self.fail:
            raise self.fail[self.calls]
        if part.body is not None:
            self.keys.append(part.body.event.key)
            if part.body.study is None:
                self.notices.append(part.body.event.details.get("message", ""))
        return f"m{self.calls}"


def deliver_with(env, **senders: Recorder):
    return pipeline.deliver(env.config(), env.store(), env.settings(), senders=senders,
                            stream=io.StringIO())


def study_key(store, pmid: str) -> str:
    return f"new:{store.find_study({'pmid': pmid})}"


def study_item(n: int, title: str, conditions: list[str], **extra) -> DigestItem:
    study = Study("pubmed", "publication", {"pmid": str(2000 + n)}, title, **extra)
    return DigestItem(NewStudy.of(n), study, conditions, [], n)
