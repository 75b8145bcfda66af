"""Search drift, noticed from the search itself: a query PubMed quietly stops answering, or starts
reading differently, is told to the team rather than left to look like a quiet week.

Each poll keeps its search count, the source's translation of the terms and the hash of the
terms sent (see polls in db/positions.py). After every successful poll:

- **fell silent**: a query that found records new to it in most of its recent polls
  (ACTIVE_POLLS of the RECENT_POLLS before) and has now found none at all for SILENT_POLLS
  polls in a row. Records are counted once each, in the poll that first found them: windows
  overlap (a record entered today is listed again by the next polls), so one record of a
  quiet query would otherwise read as a busy spell. Told once per episode (the event is keyed
  by the first silent poll), and again only after the query found records and then fell
  silent again;
- **read differently**: the translation changed between two polls that sent the same terms.
  An edit of the terms (or of the shared intervention) changes the hash, so it never alerts.

Only polls with the same terms as the latest are compared: an edited query starts afresh.
Each is a QueryHealth event (watcher.events), told to the query's destinations and ``ops``
(health.tell).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from .config import Config, Query
from .db import Store
from .db.rows import SearchPoll
from .events import QueryHealth
from .health import tell
from .parsers.pubmed import reading
from .sources import label

#: Polls before a silence that are looked at, and how many of them must have found records
#: new to the query (so a silence follows at least that many distinct records).
RECENT_POLLS = 5
ACTIVE_POLLS = 3
#: Consecutive polls without a single record that make a silence.
SILENT_POLLS = 3
#: Polls read back: enough to find the start of a long silence.
HISTORY = 100
#: A translation is cut to this many characters in a message (PubMed's can run to pages).
SHOWN = 380  # two of them and the sentence fit a Slack notice (1,000 characters)


def check(config: Config, query: Query, source: str, store: Store, now: str) -> int:
    """Run both checks on (query, source) after a poll was logged; returns events queued
    (0 or 1 each)."""
    history = store.searches(query.id, source, limit=HISTORY)
    if not history:
        return 0
    same = []
    for poll in history:  # newest first; stop at the first poll of other terms
        if poll.terms_hash != history[0].terms_hash:
            break
        same.append(poll)
    told = 0
    for event in (fell_silent(query, source, same), read_differently(query, source, same)):
        if event is not None:
            told += tell(config, store, event, query, now)
    return told


def fell_silent(query: Query, source: str, polls: list[SearchPoll]) -> QueryHealth | None:
    """The silence event when the newest polls (newest first, same terms) are a silence after
    an active spell; None otherwise."""
    streak = 0
    while streak < len(polls) and polls[streak].count == 0:
        streak += 1
    if streak < SILENT_POLLS:
        return None
    before = polls[streak:streak + RECENT_POLLS]
    # Distinct records, not search counts: the counts of overlapping windows repeat records.
    if sum(1 for p in before if p.found) < ACTIVE_POLLS:
        return None  # a quiet query (or one often empty) is not unwell when empty again
    first = polls[streak - 1]
    found = sum(p.found for p in before)
    message = (f"query {query.id} returned no {label(source)} records for {streak} polls "
               f"since {_day(first.finished)}; in the {len(before)} polls before (since "
               f"{_day(before[-1].finished)}) it found {found} distinct records. "
               f"{label(source)} may have changed how it reads the query: check it with "
               "`watcher validate --online`.")
    return QueryHealth.fell_silent(query.id, source, first.id, message)


def read_differently(query: Query, source: str,
                     polls: list[SearchPoll]) -> QueryHealth | None:
    """The drift event when the two newest polls (same terms) were translated differently."""
    if len(polls) < 2:
        return None
    # (polls kept before the date window was taken out of the translation still carry it)
    now, before = reading(polls[0].translation or ""), reading(polls[1].translation or "")
    if not now or not before or now == before:
        return None
    digest = hashlib.sha256(f"{before}\n{now}".encode()).hexdigest()[:12]
    message = (f"{label(source)} now reads query {query.id} differently, though its terms are "
               f"unchanged (since {_day(polls[0].finished)}). Before: {_cut(before)} "
               f"Now: {_cut(now)} Check that it still finds what it should.")
    return QueryHealth.read_differently(query.id, source, polls[0].id, digest, message,
                                        before=before, after=now)


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN else text[:SHOWN - 1] + "…"


def _day(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).date().isoformat()
    except ValueError:
        return iso
