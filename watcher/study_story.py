"""`watcher status --study ID`: one study's story: every id it carries, the records it is
joined from and by which rule or link (and when), the studies merged into it, every kept
version of its records, the queries that found it and what the team was told.

ID is any id the study carries (PMID, PMCID, DOI or preprint DOI, PPR, NCT, ISRCTN, EudraCT)
or ``study:N``, watcher's own number; a study merged into another resolves to the one it is
now part of, and says so.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from .db import Store
from .errors import UsageError
from .models import normalize_id
from .sources import label
from .versions import clean_doi, doi_scheme

_PREFIXES = (("NCT", "nct"), ("ISRCTN", "isrctn"), ("PMC", "pmcid"), ("PPR", "ppr"))
#: Schemes an id may be written with, as this command prints them ("ppr:PPR123").
_SCHEMES = ("pmid", "pmcid", "doi", "preprint_doi", "ppr", "nct", "isrctn", "eudract", "ctis",
            "drks", "actrn", "chictr")
#: SQLite's largest integer: a larger study number names no study.
_MAX_ROWID = 2**63 - 1


def guess_scheme(ident: str) -> tuple[str, str]:
    """'NCT01234567', 'ISRCTN12345678', 'PMC123', 'PPR123', '10.1/x' (a journal's or a
    preprint server's DOI), 'study:12', '2020-001234-12' (EudraCT) or '12345678' (a PMID)."""
    value = ident.strip()
    upper = value.upper()
    if upper.startswith("STUDY:") and value[6:].strip().isdigit() and \
            int(value[6:].strip()) <= _MAX_ROWID:
        return "study", value[6:].strip()
    scheme, _, rest = value.partition(":")
    if scheme.strip().lower() in _SCHEMES and rest.strip():  # as `status --study` prints ids
        return scheme.strip().lower(), rest.strip()
    for prefix, scheme in _PREFIXES:
        if upper.startswith(prefix) and upper[len(prefix):].strip(" :").isdigit():
            return scheme, upper
    if upper.startswith("PMID:"):
        return "pmid", value[5:].strip()
    doi = clean_doi(value)
    if doi:
        return doi_scheme(doi), doi
    if "/" in value:
        return "doi", value
    if re.fullmatch(r"\d{4}-\d{6}-\d{2}", value):
        return "eudract", value
    if re.fullmatch(r"\d+", value):
        return "pmid", value
    raise UsageError(f"cannot tell what kind of id {ident!r} is (use a PMID, PMCID, DOI, PPR, "
                     "NCT, ISRCTN or EudraCT id, or study:N)")


def resolve(store: Store, ident: str) -> tuple[int, str]:
    """(the study, a note when *ident* names a study merged into it, else '')."""
    scheme, value = guess_scheme(ident)
    if scheme == "study":
        asked = int(value)
        study_id = store.survivor_of(asked)
        if not store.study_exists(study_id):
            raise UsageError(f"no stored study is study:{asked}")
        if study_id == asked:
            return study_id, ""
        return study_id, f"study {asked} was merged into study {study_id}: shown below"
    found = store.owner_of(scheme, normalize_id(scheme, value))
    if found is None and scheme == "doi":  # a DOI given without saying which kind
        found = store.owner_of("preprint_doi", normalize_id("preprint_doi", value))
    if found is None:
        raise UsageError(f"no stored study has {scheme} {value}")
    return found, ""


def _join_text(join: Any) -> str:
    when = join.joined or "(before joins were recorded)"
    if join.merged_study is not None:
        what = f"study {join.merged_study} merged in"
    elif join.source_id and "->" in join.source_id:
        what = f"id claimed by a {label(join.source)} link"
    else:
        what = f"{label(join.source)} {join.source_id}"
    detail = f" [{join.source_id}]" if "->" in (join.source_id or "") else ""
    return f"  {when}  {what} — {join.rule}{detail}"


def study_history(store: Store, ident: str) -> list[str]:
    """The story as lines (see the module's docstring)."""
    study_id, note = resolve(store, ident)
    study = store.get_study(study_id)
    lines = [note] if note else []
    lines += [f"study {study_id}: {study.title}", f"  kind: {study.kind}",
              "  ids: " + ", ".join(f"{s}:{v}" for s, v in store.all_ids(study_id))]
    for match in store.matches_of(study_id):
        lines.append(f"  found by query {match.query_id} through {label(match.source)}")
    lines.append("joins (why each record, link and merged study is part of it):")
    lines += [_join_text(join) for join in store.joins_of(study_id)]
    lines.append("records (every kept version, oldest first):")
    for version in store.record_history(study_id):
        lines.append(f"  {label(version.source)} {version.source_id}: fetched "
                     f"{version.fetched}, content {version.content_hash[:12]}")
    lines.append("events:")
    for event in store.events_of(study_id):
        what = "; ".join(str(c) for c in event.details.get("changes", []))
        lines.append(f"  {event.created} {event.kind}" + (f": {what}" if what else ""))
        for told in store.deliveries_of(event.id):
            sent = f"sent {told.sent_at}" if told.state == "sent" else told.state
            lines.append(f"    to {told.destination}: {sent}"
                         + (f" ({told.last_error})" if told.last_error else ""))
    for conflict in _conflicts(store, study_id):
        lines.append(f"id conflict: {conflict.scheme}:{conflict.value} belongs to "
                     f"study {conflict.owner_study}, also claimed by "
                     f"study {conflict.claimed_by_study}")
    return lines


def _conflicts(store: Store, study_id: int) -> list[Any]:
    return [c for c in store.id_conflicts()
            if study_id in (store.survivor_of(c.owner_study),
                            store.survivor_of(c.claimed_by_study))]


def study_json(store: Store, ident: str) -> dict[str, Any]:
    """The story as one JSON document (`status --study ID --json`)."""
    study_id, note = resolve(store, ident)
    study = store.get_study(study_id)
    return {
        "study": study_id, "asked": ident, "note": note or None, "title": study.title,
        "kind": study.kind, "ids": [{"scheme": s, "value": v} for s, v in
                                    store.all_ids(study_id)],
        "matches": [asdict(match) for match in store.matches_of(study_id)],
        "joins": [asdict(join) for join in store.joins_of(study_id)],
        "records": [{"source": v.source, "source_id": v.source_id, "fetched": v.fetched,
                     "content_hash": v.content_hash}
                    for v in store.record_history(study_id)],
        "events": [{"kind": e.kind, "key": e.key, "created": e.created,
                    "details": e.details,
                    "deliveries": [asdict(d) for d in store.deliveries_of(e.id)]}
                   for e in store.events_of(study_id)],
        "conflicts": [asdict(c) for c in _conflicts(store, study_id)],
    }
