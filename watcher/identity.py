"""One identity for a study across every source: a preprint and its published version joined
by a link, and the "now published" item the team gets when a preprint it was told about
appears in a journal.

A :class:`watcher.versions.VersionLink` names both versions by id. :func:`apply_link` finds the
stored study holding each side: holding one, that study claims the other side's id (a record
carrying it later attaches there: no second new study); holding both, different studies, they
are merged into the one told first (see db.joins), unless they hold different ids of a unique
scheme (two PMIDs, two preprints): then the conflict is logged and both are kept. An upstream's
guess (``GUESSED``) joins only when :func:`same_study`, a conservative title and first-author
comparison, agrees; the join then says so.

Who is told "now published": the destinations told of the preprint (its new-study item sent,
or being sent) that were not told of the published version. A destination still owed the
preprint gets no separate item: the item it is owed shows the merged study, published.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Protocol

from .corrections import TOLD
from .db import Store
from .db.study_ids import UNIQUE_SCHEMES
from .events import NowPublished
from .models import Study, normalize_id
from .versions import VersionLink

log = logging.getLogger("watcher.identity")

#: Titles this alike (shared words over all words, after lower-casing and dropping
#: punctuation) may be one study's; anything less is two.
TITLE_SIMILARITY = 0.9
#: Publication years at most this far apart (a preprint, then its article).
YEAR_GAP = 2
#: Ids naming a preprint (the rest name the published article, or either).
PREPRINT_SCHEMES = ("ppr", "preprint_doi")


class Destinations(Protocol):
    """What apply_link reads of the configuration (config.Config): the destinations that
    exist now (one removed from the YAML is not told)."""

    def all_destinations(self) -> Mapping[str, Any]: ...


# --- the conservative title + first-author rule ----------------------------------------------

def _words(title: str) -> list[str]:
    text = unicodedata.normalize("NFKD", title or "").lower()
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.findall(r"[a-z0-9]+", text)


def surname(author: str) -> str:
    """The family name of an author as sources write it: 'Krystal JH', 'Krystal, John H.',
    'John H. Krystal' -> 'krystal'."""
    text = unicodedata.normalize("NFKD", author or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).strip()
    if "," in text:
        return " ".join(_words(text.split(",", 1)[0]))
    parts = text.split()
    if len(parts) > 1 and re.fullmatch(r"[A-Z]{1,3}\.?", parts[-1]):  # 'Krystal JH'
        return " ".join(_words(" ".join(parts[:-1])))
    return " ".join(_words(parts[-1])) if parts else ""


def title_similarity(a: str, b: str) -> float:
    """Shared words over all words of the two titles (1.0: the same words)."""
    words_a, words_b = set(_words(a)), set(_words(b))
    if not words_a or not words_b:
        return 0.0
    return len(words_a & words_b) / len(words_a | words_b)


def same_study(a: Study, b: Study) -> str | None:
    """Why *a* and *b* are one study by title and first author, or None when they may be two.

    Conservative, for confirming an upstream's guessed link only: never for a trial
    registration, never when the two hold different ids of a unique scheme (two PMIDs, two
    preprints); the titles nearly identical (TITLE_SIMILARITY, and no number differing: 'phase
    2' is not 'phase 3'), the same first-author surname, and years at most YEAR_GAP apart."""
    if "trial" in (a.kind, b.kind):
        return None
    for scheme in UNIQUE_SCHEMES:
        if a.ids.get(scheme) and b.ids.get(scheme) and \
                normalize_id(scheme, a.ids[scheme]) != normalize_id(scheme, b.ids[scheme]):
            return None
    similarity = title_similarity(a.title, b.title)
    if similarity < TITLE_SIMILARITY:
        return None
    differing = set(_words(a.title)) ^ set(_words(b.title))
    if any(word.isdigit() for word in differing):
        return None
    first_a = surname(a.authors[0]) if a.authors else ""
    first_b = surname(b.authors[0]) if b.authors else ""
    if not first_a or first_a != first_b:
        return None
    if a.year is None or b.year is None or abs(a.year - b.year) > YEAR_GAP:
        return None
    return (f"titles {similarity:.0%} alike, first author {a.authors[0]}, "
            f"years {a.year} and {b.year}")


# --- applying a link -------------------------------------------------------------------------

def link_rule(link: VersionLink) -> str:
    """The join's rule as `status --study` shows it."""
    if link.via == "europepmc":
        return f"Europe PMC link ({link.note})" if link.note else "Europe PMC link"
    if link.via == "biorxiv":
        return "bioRxiv mapping"
    if link.via == "crossref":
        return f"Crossref relation {link.note or 'has-preprint'}"
    return f"{link.via} link" + (f" ({link.note})" if link.note else "")


def _told(store: Store, study_id: int | None) -> set[str]:
    if study_id is None:
        return set()
    return {name for name, state in store.new_item_states(study_id).items() if state in TOLD}


def _ids(study: Study | None) -> list[str]:
    return [f"{scheme}:{value}" for scheme, value in (study.ids if study else {}).items()]


def _unique_for(link: VersionLink, preprint: Study | None,
                published: Study | None) -> tuple[str, ...]:
    """The schemes two studies must not differ in to be joined by *link*. A preprint PubMed
    indexes has a PMID of its own: an authoritative link may join it to its article's PMID
    (two preprints, or two articles, still never join)."""
    if link.authoritative and preprint is not None and published is not None and \
            preprint.kind == "preprint" and published.kind != "preprint":
        return tuple(scheme for scheme in UNIQUE_SCHEMES if scheme != "pmid")
    return UNIQUE_SCHEMES


def apply_link(store: Store, config: Destinations | None, link: VersionLink, now: str) -> int:
    """Join the two versions *link* names (see the module's docstring). Returns the outbox
    rows queued (the "now published" item)."""
    pre = store.owner_of(*link.preprint)
    pub = store.owner_of(*link.published)
    if (pre is None and pub is None) or pre == pub:
        return 0  # nothing of it stored, or already one study
    joined = f"{link.preprint[0]}:{link.preprint[1]} -> {link.published[0]}:{link.published[1]}"
    preprint = store.get_study(pre) if pre is not None else None
    published = store.get_study(pub) if pub is not None else None
    rule = link_rule(link)
    if not link.authoritative:
        reason = same_study(preprint, published) if preprint and published else None
        if reason is None:
            log.info("%s: %s guessed these are one study; not joined (title and first "
                     "author do not agree)", joined, rule)
            return 0
        rule = f"title and first author: {reason} (guessed by {rule})"
    told_pre, told_pub = _told(store, pre), _told(store, pub)
    if pre is not None and pub is not None:
        conflict = store.studies_conflict(pre, pub, _unique_for(link, preprint, published))
        if conflict:
            store.log_link_conflict(pub, pre, *link.published, source=link.via,
                                    source_id=joined, now=now)
            log.info("%s: studies %s and %s hold different ids (%s); both kept", joined, pre,
                     pub, conflict)
            return 0
        survivor = store.told_first([pre, pub])
        store.merge_studies_into(survivor, pub if survivor == pre else pre, rule=rule, now=now,
                                 source=link.via, source_id=joined, basis=link.basis)
        own = preprint.ids.get("pmid") if preprint else None
        if own and published and published.ids.get("pmid") not in (None, own):
            store.demote_id("pmid", own)  # the article's PMID is the study's
            store._refresh_study(survivor, now)
    else:
        survivor = pre if pre is not None else pub
        assert survivor is not None
        scheme, value = link.published if pre is not None else link.preprint
        if scheme in UNIQUE_SCHEMES and scheme in (held := store.get_study(survivor).ids) \
                and held[scheme] != normalize_id(scheme, value):
            log.info("%s: study %s holds %s:%s already; not joined", joined, survivor,
                     scheme, held[scheme])
            return 0
        store.claim_id(survivor, scheme, value, source=link.via, source_id=joined, now=now)
        store.record_join(survivor, rule=rule, now=now, source=link.via, source_id=joined,
                          basis=link.basis)
    if preprint is None:
        return 0  # the preprint was never stored: nobody was told of it
    return _tell_published(store, config, link, survivor, preprint, published,
                           sorted(told_pre - told_pub), rule, now)


def _tell_published(store: Store, config: Destinations | None, link: VersionLink,
                    study_id: int, preprint: Study, published: Study | None, to: list[str],
                    rule: str, now: str) -> int:
    """Queue one "now published" event to *to* (those told of the preprint, not of the
    published version) still in the YAML; never a second one for the study."""
    if config is not None:
        configured = config.all_destinations()
        to = [name for name in to if name in configured]
    if not to or any(isinstance(e, NowPublished) for e in store.events_of(study_id)):
        return 0
    published_ids = [i for i in _ids(published) if i.split(":")[0] not in PREPRINT_SCHEMES]
    named = f"{link.published[0]}:{normalize_id(*link.published)}"
    if named not in published_ids:
        published_ids.insert(0, named)
    preprint_ids = [i for i in _ids(preprint) if i.split(":")[0] in PREPRINT_SCHEMES]
    named = f"{link.preprint[0]}:{normalize_id(*link.preprint)}"
    if named not in preprint_ids:
        preprint_ids.insert(0, named)
    event = NowPublished.of(
        study_id, (link.published[0], normalize_id(*link.published)),
        journal=(published.journal if published else "") or link.journal,
        date=(published.published if published else "") or link.published_date,
        published_ids=published_ids, preprint_ids=preprint_ids,
        preprint_title=preprint.title,
        published_title=(published.title if published else "") or link.title, rule=rule,
        server=preprint.journal if preprint.kind == "preprint" else "")
    event_id, new = store.add_event(event, now)
    if not new:
        return 0
    return sum(store.queue(name, event_id, now) for name in to)
