"""What a digest says about the state of its sources: a source that is down (per query, by
each one's latest poll, since when, its last success), that nothing is lost while it is (the
next successful poll catches up from the saved position), a quiet digest's heartbeat, and each
source's receipt sentence. Pure functions of the digest model, shared by every renderer."""

from __future__ import annotations

from datetime import datetime

from ..digest import Digest, SourceReceipt


def failure_phrase(receipt: SourceReceipt) -> str:
    """'PubMed could not be polled for any of 10 queries since 28 Nov (last success 27 Nov
    14:00 UTC)', or 'PubMed: 3 of 10 queries could not be polled since ...': counted per
    query by its latest poll, so an outage over several runs reads as what it is."""
    asked, down = receipt.asked, receipt.down
    since = f" since {_day(receipt.failing_since)}" if receipt.failing_since else ""
    if receipt.last_success:
        since += f" (last success {_moment(receipt.last_success)})"
    elif receipt.never_succeeded:
        since += " (never polled successfully)"
    if down >= asked:
        which = "its query" if asked == 1 else f"any of {asked} queries"
        return f"{receipt.label} could not be polled for {which}{since}"
    return f"{receipt.label}: {down} of {_plural(asked, 'query', 'queries')} could not be " \
        f"polled{since}"


def nothing_lost(digest: Digest) -> str:
    """'Nothing is lost: the next successful poll catches up from 27 Nov 2026.' (per source
    when several fail): each failing query keeps its saved position, and its next successful
    poll starts there. Empty when no source is failing."""
    failing = [r for r in digest.receipts if r.down]
    if not failing:
        return ""
    def start(receipt: SourceReceipt) -> str:
        if receipt.catch_up_from:
            return f"from {_date(receipt.catch_up_from[:10])}"
        return "from the start of each query's look-back (lookback_days)"
    if len(failing) == 1:
        return f"Nothing is lost: the next successful poll catches up {start(failing[0])}."
    each = " and ".join(f"{start(r)} for {r.label}" for r in failing)
    return f"Nothing is lost: the next successful poll catches up {each}."


def heartbeat_line(digest: Digest) -> str:
    """'All 3 sources polled 10 queries, nothing new since 28 Nov 2026.': a quiet digest
    that proves every source was polled. Empty unless the digest is quiet (nothing listed,
    held back or noticed, no source failing) and some source was polled."""
    polled = [r for r in digest.receipts if r.asked]
    if digest.items or digest.overflow or not polled or any(r.down for r in digest.receipts):
        return ""
    queries = len({q for r in polled for q in r.queries}) or max(r.asked for r in polled)
    who = polled[0].label if len(polled) == 1 else \
        "Both sources" if len(polled) == 2 else f"All {len(polled)} sources"
    starts = [r.window_start for r in polled if r.window_start]
    since = digest.since or (min(starts) if starts else None)
    return (f"{who} polled {_plural(queries, 'query', 'queries')}, nothing new"
            + (f" since {_date(since[:10])}." if since else "."))


def _day(iso: str) -> str:
    """'28 Nov' from a stamp or a date."""
    try:
        return f"{datetime.fromisoformat(iso).day} {datetime.fromisoformat(iso):%b}"
    except ValueError:
        return iso


def _moment(iso: str) -> str:
    """'27 Nov 14:00 UTC' from a stamp ('27 Nov' from a date)."""
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return _day(iso) + (when.strftime(" %H:%M UTC") if "T" in iso else "")


def receipt_sentence(receipt: SourceReceipt) -> str:
    """One source's part of the receipt line, e.g. 'PubMed 2026-10-24 to 2026-11-23: 10
    queries polled, 40 records seen, 3 new'; a failing source says which queries FAILED,
    since when and its last error."""
    if receipt.not_polled and not receipt.polls:
        queries = "query asks" if receipt.not_polled == 1 else "queries ask"
        return (f"{receipt.label}: not polled, not supported in this version yet "
                f"({receipt.not_polled} {queries} for it)")
    window = ""
    if receipt.window_start and receipt.window_end:
        window = f" {receipt.window_start} to {receipt.window_end}"
    asked, down = receipt.asked, receipt.down
    polled = f"{asked - down} of {asked}" if down else f"{asked}"
    text = (f"{receipt.label}{window}: {polled} {'query' if asked == 1 else 'queries'} "
            f"polled, {_plural(receipt.seen, 'record')} seen, {receipt.new} new")
    if down:
        since = f" since {_moment(receipt.failing_since)}" if receipt.failing_since else ""
        text += f", {down} FAILED{since} (last error: {receipt.last_error})"
    if receipt.recovered:
        text += (f", {_plural(receipt.recovered, 'failed poll')} caught up by a later one"
                 + ("" if down else f" (error: {receipt.last_error})"))
    if receipt.warnings:
        shown = "; ".join(receipt.warnings[:3])
        more = f" and {len(receipt.warnings) - 3} more" if len(receipt.warnings) > 3 else ""
        text += f", {len(receipt.warnings)} warning(s): {shown}{more}"
    if receipt.quarantined:
        shown = ", ".join(receipt.quarantined[:5])
        more = f" and {len(receipt.quarantined) - 5} more" if len(receipt.quarantined) > 5 else ""
        text += (f", {len(receipt.quarantined)} quarantined ({shown}{more}; see "
                 "`watcher status`)")
    return text


def _date(iso: str | None) -> str:
    """'27 Nov 2026' ('27 Nov 2026 14:00 UTC' from a stamp); 'the start' for none."""
    if not iso:
        return "the start"
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{when.day} {when:%b %Y}" + (when.strftime(" %H:%M UTC") if "T" in iso else "")


def _plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} " + (noun if count == 1 else nouns or noun + "s")
