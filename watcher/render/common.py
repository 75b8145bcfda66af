"""Formatting shared by every renderer: author lists, id links, receipt sentences."""

from __future__ import annotations

from datetime import datetime

from ..digest import Digest, DigestItem, SourceReceipt
from ..models import Study

ID_LABELS = {"pmid": "PMID", "pmcid": "PMCID", "doi": "doi", "nct": "NCT"}


def authors(study: Study, limit: int = 3) -> str:
    if not study.authors:
        return ""
    shown = ", ".join(study.authors[:limit])
    return shown + (", et al." if len(study.authors) > limit else "")


def citation(study: Study) -> str:
    """'Krystal JH, Kaye AP, et al. · Proc Natl Acad Sci U S A · 2023 Dec 5'"""
    return " · ".join(part for part in (authors(study), study.journal, study.published) if part)


def id_line(study: Study) -> str:
    parts = []
    if study.ids.get("doi"):
        parts.append(f"doi:{study.ids['doi']}")
    if study.ids.get("pmcid"):
        parts.append(study.ids["pmcid"])
    for nct in study.linked_ids.get("nct", []):
        parts.append(f"reports trial {nct}")
    return " · ".join(parts)


def headline(digest: Digest) -> str:
    """'3 new studies', and what failed, so a quiet digest never hides a broken source."""
    count = digest.total
    noun = "study" if count == 1 else "studies"
    text = f"{count} new {noun}" if count else "Nothing new"
    if digest.notices:
        text += f", {_plural(len(digest.notices), 'notice')}"
    failures = [r for r in digest.receipts if r.failed]
    if failures:
        text += " · " + "; ".join(
            f"{r.label} FAILED in {r.failed} of {_plural(r.polls, 'poll')}" for r in failures)
    return text


def notice_text(item: DigestItem) -> str:
    """One line for an event about a query rather than a study (query health)."""
    return str(item.event.details.get("message") or item.event.kind.replace("_", " "))


def short_date(iso: str | None) -> str:
    if not iso:
        return "the start"
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    text = when.strftime("%d %b %Y")
    if "T" in iso:
        text += when.strftime(" %H:%M UTC")
    return text


def receipt_sentence(receipt: SourceReceipt) -> str:
    """One source's part of the receipt line, e.g. 'PubMed 2026-10-24 to 2026-11-23: ...'."""
    if receipt.not_polled and not receipt.polls:
        queries = "query" if receipt.not_polled == 1 else "queries"
        return (f"{receipt.label}: not polled, not supported in this version yet "
                f"({receipt.not_polled} {queries} ask for it)")
    window = ""
    if receipt.window_start and receipt.window_end:
        window = f" {receipt.window_start} to {receipt.window_end}"
    text = (f"{receipt.label}{window}: {_plural(receipt.polls, 'poll')}, "
            f"{_plural(receipt.seen, 'record')} seen, {receipt.new} new")
    if receipt.failed:
        text += f", {receipt.failed} FAILED (last: {receipt.last_error})"
    if receipt.warnings:
        text += f", {len(receipt.warnings)} warning(s): {receipt.warnings[0]}"
    if receipt.quarantined:
        shown = ", ".join(receipt.quarantined[:5])
        more = f" and {len(receipt.quarantined) - 5} more" if len(receipt.quarantined) > 5 else ""
        text += (f", {len(receipt.quarantined)} quarantined ({shown}{more}; see "
                 "`watcher status`)")
    return text


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def receipt_line(digest: Digest) -> str:
    if not digest.receipts:
        return f"Receipt: no source was polled since {short_date(digest.since)}."
    return "Receipt: " + "; ".join(receipt_sentence(r) for r in digest.receipts) + "."
