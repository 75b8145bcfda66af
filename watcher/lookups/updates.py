"""What Crossref's updates of a told study become: the same ``Correction`` event PubMed's
path makes, queued by the same routing (watcher.corrections.queue_correction).

Told once whichever source tells first:
- a retraction's key names no notice (``correction:{study}:retraction``), so Crossref's entry
  (Retraction Watch's or the publisher's) and PubMed's (the study's own record, or the notice
  record) make one event;
- an erratum's or expression of concern's key names its notice (PubMed: the notice's PMID;
  Crossref knows only the notice's DOI). When the notice is a stored record with a PMID, the
  key uses that PMID, PubMed's own key. When it is not, a study PubMed indexes (it has a PMID)
  is left to PubMed's path (which finds the erratum by the study's "ErratumIn" link), so the
  two never make two keys for one notice; a study PubMed does not index (no PMID: a preprint,
  a registry's record, a journal PubMed skips) is told from Crossref under the notice's DOI.
  The one case left: such a study later gaining a PMID (a PubMed record joined to it) whose
  record then shows the same erratum by PMID would be told it a second time.
"""

from __future__ import annotations

import logging

from ..corrections import Routing, queue_correction
from ..db import Store
from ..events import Correction
from .crossref import Update, Work

log = logging.getLogger(__name__)


def tell(store: Store, config: Routing | None, study_id: int, work: Work, now: str) -> int:
    """Queue the corrections *work* (study *study_id*'s Crossref record) reveals: every
    ``updated-by`` entry, and, when the work is itself a notice, its ``update-to`` targets we
    hold. Returns the outbox rows added."""
    queued = 0
    # the publisher's notice first: when both tell of one retraction, its words are shown
    for update in sorted(work.updated_by, key=lambda u: u.retraction_watch):
        queued += _tell_one(store, config, study_id, update, update.doi, now)
    for update in work.update_to:
        target = store.find_study({"doi": update.doi})
        if target is not None and target != study_id:
            queued += _tell_one(store, config, target, update, work.doi, now)
    return queued


def _tell_one(store: Store, config: Routing | None, target: int, update: Update,
              notice_doi: str, now: str) -> int:
    stem = update.stem
    if stem is None:  # an addendum, a new version ...: not a correction
        return 0
    key_notice = ""
    if stem != "Retraction":
        key_notice = _notice_pmid(store, notice_doi)
        if not key_notice and "pmid" in store.get_study(target).ids:
            log.debug("Crossref: %s %s of study %s left to PubMed (notice not held)",
                      update.kind, notice_doi, target)
            return 0
    event = Correction.from_crossref(target, stem, notice_doi, key_notice=key_notice,
                                     retraction_watch=update.retraction_watch)
    return queue_correction(target, event, store, now, config, stem=stem, notice=key_notice)


def _notice_pmid(store: Store, notice_doi: str) -> str:
    """The PMID of the notice, when the notice itself is a record we hold."""
    notice = store.find_study({"doi": notice_doi})
    return store.get_study(notice).ids.get("pmid", "") if notice is not None else ""
