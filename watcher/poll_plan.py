"""What a poll decides, apart from its writes: which fetched records are set aside, which
held records the query gets back, which listed records are still awaited, what the team is
told, and where the query's position moves. Pure functions of what was fetched and what the
store held (a :class:`Snapshot`); :mod:`watcher.poll_apply` is the one place they are written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .db.report_rows import HeldRecord
from .events import QueryHealth, TrialChanged
from .models import Study
from .sources import REGISTRY, FetchResult, Window, label

#: Runs in which a listed record may fail to arrive before it is quarantined.
QUARANTINE_AFTER = 3


@dataclass(frozen=True)
class SetAside:
    """A record set aside for a query (quarantined with its reason), and the notice that tells
    the team once."""

    source_id: str
    kind: str  # 'unparseable' or 'missing'
    reason: str
    notice: QueryHealth


@dataclass(frozen=True)
class Missing:
    """A record the search listed and the source did not return: counted again, and set aside
    once it has been missing in QUARANTINE_AFTER runs."""

    source_id: str
    reason: str
    attempts: int  # runs it has now been missing in
    set_aside: SetAside | None


@dataclass(frozen=True)
class PositionMove:
    """Where the query's position moves: to the polled window's end, or, while records are
    still awaited, nowhere (the window is asked again)."""

    window_end: str | None
    terms_hash: str
    cursor: str | None


@dataclass(frozen=True)
class Snapshot:
    """What the store held once the fetched records were kept, as far as the decisions need:
    the study of each id (*kept*: the records this poll stored; *found*: by the result's id
    scheme), this query's held records in every state, and the position before the poll."""

    kept: Mapping[str, int]
    found: Mapping[str, int]
    held: tuple[HeldRecord, ...]
    window_end: str | None
    terms_hash: str | None
    cursor: str | None

    def study_of(self, value: str) -> int | None:
        return self.kept.get(value) or self.found.get(value)


@dataclass(frozen=True)
class Plan:
    """Everything one poll writes after its records are kept, in the order it is written."""

    recovered: tuple[tuple[str, int], ...]  # (source id, study id): held, now stored
    missing: tuple[Missing, ...]
    matched: tuple[int, ...]  # studies the search found, in its order (one per listing)
    move: PositionMove
    awaited_warnings: tuple[str, ...]
    seen: int

    @property
    def held(self) -> bool:
        """Whether records are still awaited: the position stays for them."""
        return bool(self.awaited_warnings)

    @property
    def set_aside(self) -> list[str]:
        return [m.source_id for m in self.missing if m.set_aside is not None]


def set_aside(query_id: str, source: str, source_id: str, *, kind: str,
              reason: str) -> SetAside:
    message = (f"{label(source)} record {source_id} was set aside for query {query_id}: "
               f"{reason}. The query moves on; `watcher status` lists quarantined records.")
    return SetAside(source_id, kind, reason,
                    QueryHealth.quarantined(query_id, source, source_id, message))


def unparseable(query_id: str, source: str, source_id: str, error: str | None) -> SetAside:
    """A fetched record that could not be parsed: kept raw, set aside with its reason."""
    return set_aside(query_id, source, source_id, kind="unparseable",
                     reason=f"could not be parsed: {error}")


def change(source: str, tracked: list[str], *, study_id: int, query_id: str,
           previous: Study, current: Study, content: str) -> TrialChanged | None:
    """A kept record came back different: the change event when a *tracked* field changed
    (keyed by the new *content* hash, so another query seeing the same change adds nothing);
    None for untracked edits, which only update the record."""
    spec = REGISTRY.get(source)
    if spec is None or spec.changes is None:
        return None
    what = spec.changes(previous, current, tracked)
    if not what:
        return None
    return TrialChanged.found(source=source, content=content, study_id=study_id,
                              query_id=query_id, what=what)


def conflict_warnings(source_id: str, conflicts: Iterable[str]) -> list[str]:
    return [f"{source_id}: id {conflict} already belongs to another study (kept there; see "
            "`watcher status`)" for conflict in conflicts]


def decide(query_id: str, source: str, result: FetchResult, snapshot: Snapshot, *,
           window: Window, terms: str) -> Plan:
    """The rest of a poll once its records are kept (*terms*: the hash of the terms sent)."""
    open_held = [h for h in snapshot.held if h.state in ("watching", "quarantined")]
    # Records this query set aside that are now stored (fetched here, by another query, or
    # under another id) are this query's matches after all: each query that held one is told
    # of it, then lets it go. Another query's hold is left for that query's own poll.
    recovered = tuple((h.source_id, study_id) for h in open_held
                      if (study_id := snapshot.study_of(h.source_id)) is not None)
    missing, awaited = _missing(query_id, source, result.missing, snapshot,
                                released={source_id for source_id, _ in recovered})
    matched = tuple(study_id for value in result.matched
                    if (study_id := snapshot.study_of(value)) is not None)
    if awaited:  # what arrived is kept; the window stays so the rest is asked again
        move = PositionMove(snapshot.window_end, snapshot.terms_hash or "", snapshot.cursor)
    else:
        move = PositionMove(window.end.isoformat(), terms, result.cursor)
    return Plan(recovered, missing, matched, move, _awaited_warnings(source, awaited),
                len(result.matched))


def _missing(query_id: str, source: str, listed: Iterable[str], snapshot: Snapshot, *,
             released: set[str]) -> tuple[tuple[Missing, ...], dict[int, list[str]]]:
    """Each listed record not returned, counted once more (as the quarantine table counts
    it: afresh after a release); and the ids still awaited, by try number."""
    rows = {h.source_id: (h.attempts, "released" if h.source_id in released else h.state)
            for h in snapshot.held}
    out: list[Missing] = []
    awaited: dict[int, list[str]] = {}
    for source_id in listed:
        if snapshot.found.get(source_id) is not None:
            continue  # another record returned carries this id: nothing is missing
        before, state = rows.get(source_id, (0, "released"))
        if state == "quarantined":
            continue  # asked again and still absent: stays quarantined, holds nothing
        attempts = 1 if state == "released" else before + 1
        reason = f"listed by the search but not returned by {label(source)}"
        aside = None
        if attempts >= QUARANTINE_AFTER:
            aside = set_aside(query_id, source, source_id, kind="missing",
                              reason=f"{reason} in {attempts} runs")
        else:
            awaited.setdefault(attempts, []).append(source_id)
        rows[source_id] = (attempts, "quarantined" if aside else "watching")
        out.append(Missing(source_id, reason, attempts, aside))
    return tuple(out), awaited


def _awaited_warnings(source: str, awaited: dict[int, list[str]]) -> tuple[str, ...]:
    return tuple(
        f"{len(ids)} record(s) listed by the search but not returned by {label(source)} "
        f"({shown(ids)}), try {attempts} of {QUARANTINE_AFTER}: asked again next run, then "
        "set aside" for attempts, ids in sorted(awaited.items()))


def shown(ids: list[str]) -> str:
    """The first five ids, and how many more."""
    return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")

