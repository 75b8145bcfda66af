"""Digests built directly (the renderers are pure): real parsed PubMed and ClinicalTrials.gov
records as the studies, placed under conditions with pointers and highlights the way
``digest.build`` fills them, so layout tests need no database or network."""

from __future__ import annotations

from dataclasses import replace

from tests.helpers import FIXTURES, PUBMED_FILES
from tests.helpers.pubmed import studies_of
from watcher.digest import Digest, DigestItem, Section, SourceReceipt
from watcher.events import Correction, NewStudy, TrialChanged
from watcher.fakes.ctgov import studies_in
from watcher.models import Study
from watcher.parsers.clinicaltrials import parse_study

GENERATED = "2026-12-04T08:00:00+00:00"
SINCE = "2026-11-27T08:00:00+00:00"


def real_studies() -> list[Study]:
    """Every study the PubMed and ClinicalTrials.gov fixtures hold, parsed for real."""
    papers = [s for path in PUBMED_FILES for s in studies_of(path.read_bytes())]
    trials = [parse_study(data) for path in sorted((FIXTURES / "ctgov_aact").glob("NCT*.json"))
              for data in studies_in(path)]
    return papers + trials


def condition_names(count: int, long: bool = False) -> list[str]:
    tail = " and related disorders in adults, adolescents and older people" if long else ""
    return [f"Condition {k}{tail}" for k in range(count)]


def big_digest(n_items: int = 200, n_conditions: int = 8, *, long_titles: bool = True,
               n_highlights: int = 8) -> Digest:
    """*n_items* studies over *n_conditions*: study n is told in full under condition n % C,
    and every third also matched the next two conditions (a pointer under each). Titles are
    the real ones, made long; ids renumbered so each study is its own. Study 1 is retracted,
    every tenth trial changed."""
    real = real_studies()
    names = condition_names(n_conditions, long=long_titles)
    sections = [Section(name) for name in names]
    items: list[DigestItem] = []
    for n in range(n_items):
        base = real[n % len(real)]
        key = "nct" if base.kind == "trial" else "pmid"
        title = f"[{n:03d}] {base.title}" + (" — with a long subtitle" * 12 if long_titles else "")
        study = replace(base, ids={**base.ids, key: f"NCT{90000000 + n}" if key == "nct"
                                   else str(90000000 + n)}, title=title)
        primary = n % n_conditions
        matched = [primary] + ([(primary + 1) % n_conditions, (primary + 2) % n_conditions]
                               if n % 3 == 0 and n_conditions > 2 else [])
        event = (Correction.of(n, "Retraction", "99999999") if n == 1
                 else TrialChanged(key=f"change:clinicaltrials:{n}", study_id=n,
                                   changes=("status Recruiting → Completed",))
                 if study.kind == "trial" and n % 10 == 0 else NewStudy.of(n))
        item = DigestItem(event, study, [names[k] for k in matched], [], 1000 + n)
        items.append(item)
        sections[primary].items.append(item)
        for k in matched[1:]:
            sections[k].pointers.append(item)
    receipts = [SourceReceipt("pubmed", "PubMed", SINCE, GENERATED, polls=8, seen=400, new=180),
                SourceReceipt("clinicaltrials", "ClinicalTrials.gov", SINCE, GENERATED,
                              polls=8, seen=60, new=20)]
    return Digest("team", GENERATED, SINCE, [s for s in sections if s.matched], receipts,
                  highlights=items[:n_highlights])


def all_items(digest: Digest) -> list[DigestItem]:
    return [item for section in digest.sections for item in section.items]
