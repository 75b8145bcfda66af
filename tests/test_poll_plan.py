"""What a poll decides, as pure functions of what was fetched and what the store held: no
database, no server (the polling tests cover the same rules end to end)."""

from __future__ import annotations

from datetime import date

from watcher.db.report_rows import HeldRecord
from watcher.poll_plan import QUARANTINE_AFTER, Snapshot, decide
from watcher.sources import FetchResult, Window

WINDOW = Window(date(2026, 11, 1), date(2026, 11, 8))


def held(source_id: str, state: str, attempts: int = 1) -> HeldRecord:
    return HeldRecord("q", "pubmed", source_id, state, "why", "t0", "t0", attempts)


def snapshot(*, kept=None, found=None, rows=()) -> Snapshot:
    return Snapshot(kept or {}, found or {}, tuple(rows), "2026-10-31", "old-terms", "c0")


def test_a_poll_with_everything_returned_moves_the_position_to_the_window_end():
    result = FetchResult("pmid", ["1", "2", "3"], [], cursor="c1")
    plan = decide("q", "pubmed", result, snapshot(kept={"1": 10}, found={"2": 20}),
                  window=WINDOW, terms="terms")
    assert plan.matched == (10, 20) and plan.seen == 3  # "3" is neither kept nor found
    assert (plan.move.window_end, plan.move.terms_hash, plan.move.cursor) == (
        "2026-11-08", "terms", "c1")
    assert not plan.held and plan.missing == () and plan.recovered == ()


def test_a_record_still_awaited_keeps_the_position_and_counts_its_try():
    result = FetchResult("pmid", ["1"], [], missing=["1", "2"])
    plan = decide("q", "pubmed", result, snapshot(found={"1": 10}, rows=[held("2", "watching")]),
                  window=WINDOW, terms="terms")
    assert [(m.source_id, m.attempts, m.set_aside) for m in plan.missing] == [("2", 2, None)]
    assert plan.held and (plan.move.window_end, plan.move.terms_hash, plan.move.cursor) == (
        "2026-10-31", "old-terms", "c0")
    assert "try 2 of 3" in plan.awaited_warnings[0] and "(2)" in plan.awaited_warnings[0]


def test_a_record_missing_in_enough_runs_is_set_aside_and_told_once():
    result = FetchResult("pmid", [], [], missing=["2", "3"])
    rows = [held("2", "watching", QUARANTINE_AFTER - 1), held("3", "quarantined", 5)]
    plan = decide("q", "pubmed", result, snapshot(rows=rows), window=WINDOW, terms="terms")
    [missing] = plan.missing  # "3" is already quarantined: it holds nothing, counts nothing
    assert missing.attempts == QUARANTINE_AFTER and missing.set_aside is not None
    assert missing.set_aside.notice.key == "quarantine:pubmed:2:q"
    assert plan.set_aside == ["2"] and not plan.held


def test_a_held_record_now_stored_is_recovered_and_counted_afresh_if_missing_again():
    result = FetchResult("pmid", [], [], missing=["5"])
    rows = [held("5", "watching", 2), held("6", "released", 2)]
    plan = decide("q", "pubmed", result, snapshot(kept={"5": 50}, rows=rows), window=WINDOW,
                  terms="terms")
    assert plan.recovered == (("5", 50),)
    # found by the result's scheme it is not: asked again, from the first try (released)
    assert [(m.source_id, m.attempts) for m in plan.missing] == [("5", 1)]
