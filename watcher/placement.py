"""Which condition a study is most centrally about: its primary condition, where its specialist
reads it in full (every other condition it matched gets a one-line pointer).

A study matches every query whose terms it mentions, and psychiatric ketamine papers mention
depression almost always (as background, a secondary outcome, "antidepressant effects"). So
the primary condition is not the first query in YAML order but the one the study is *about*,
judged, in this order, from:

1. whether its title (for a trial, its brief or official title) names the condition;
2. its central topics: a paper's major MeSH topics, a trial's registered conditions (and the
   MeSH terms the registry derived from them) and its primary outcomes;
3. which condition its title names first ("PTSD with co-occurring depression", "suicidal
   ideation in adolescents with major depressive disorder": the subject comes first);
4. how often its abstract (a trial's summary) names the condition;
5. its other MeSH headings;

and only then YAML order. What a condition "is" comes from its own query: the words and
phrases its terms search for (``[tiab]``, ``[ti]``, ``[ab]`` or untagged; a trailing ``*`` is a
prefix), its ``[Mesh]``/``[Majr]`` headings (with their sub-headings: "Depressive Disorder"
covers "Depressive Disorder, Major"), a registry query's condition terms, and the condition
name itself (before any parenthesis). Terms after ``NOT`` are not what the condition is about.
Pure functions: no I/O, no SQL.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .models import Study, normalize_id
from .parsers.pubmed_fields import REGISTRY_SCHEMES

_TOKEN = re.compile(r'\s*(?:(?P<open>\()|(?P<close>\))|"(?P<phrase>[^"]*)"(?:\[(?P<ptag>[^\]]*)\])?'
                    r'|(?P<word>[^\s()"\[\]]+)(?:\[(?P<wtag>[^\]]*)\])?)')
_TEXT_TAGS = {"", "tiab", "ti", "ab", "title", "abstract", "title/abstract", "tw", "all",
              "all fields"}
_MESH_TAGS = {"mesh", "mh", "majr", "mesh major topic", "mesh terms", "mh:noexp",
              "mesh:noexp", "majr:noexp"}
_OPERATORS = {"AND", "OR", "NOT"}
#: Most abstract mentions counted: past this, more is repetition, not more "about".
_MENTIONS_CAP = 10


def normalized(text: str) -> str:
    """Lower case, every run of non-alphanumerics one space: "Obsessive–Compulsive" and
    "obsessive compulsive" read alike, as PubMed treats hyphens as word breaks."""
    return " ".join(re.sub(r"[^\w]+|_", " ", text.casefold()).split())


@dataclass(frozen=True)
class Topic:
    r"""What one condition is about: phrases over normalized text (regex fragments: escaped
    words, ``\w*`` after a prefix) and MeSH headings (normalized; a heading covers its
    sub-headings, "heading, ...")."""

    name: str
    phrases: tuple[str, ...] = ()
    headings: tuple[str, ...] = ()

    @classmethod
    def of(cls, condition: str, terms: Iterable[str] = (),
           intervention: Iterable[str] = ()) -> Topic:
        """The topic of *condition*, from its name and its queries' condition terms. Words of
        *intervention* (the drug's own terms, which every query searches too) are no part of
        what a condition is about, even where a query's terms repeat them."""
        phrases: set[str] = set()
        headings: set[str] = set()
        name = normalized(condition.split("(", 1)[0])
        if name:
            phrases.add(re.escape(name))
        for term in terms:
            for text, tag, wildcard in _positive_atoms(term):
                words = normalized(text)
                if not words:
                    continue
                if tag in _MESH_TAGS:
                    headings.add(words)
                elif tag in _TEXT_TAGS:
                    phrases.add(re.escape(words) + (r"\w*" if wildcard else ""))
        drug = cls.of("", intervention) if intervention else None
        if drug is not None:
            phrases -= set(drug.phrases)
            headings -= set(drug.headings)
        return cls(condition, tuple(sorted(phrases)), tuple(sorted(headings)))

    @property
    def pattern(self) -> re.Pattern[str] | None:
        return _compiled(self.phrases)

    def merged(self, other: Topic) -> Topic:
        """One topic for two queries filed under the same condition name."""
        return Topic(self.name, tuple(sorted({*self.phrases, *other.phrases})),
                     tuple(sorted({*self.headings, *other.headings})))

    def without(self, phrases: set[str], headings: set[str]) -> Topic:
        """This topic less what it shares with every other candidate: a word all of them
        search for cannot tell them apart (a drug name repeated in every query's terms)."""
        return Topic(self.name, tuple(p for p in self.phrases if p not in phrases),
                     tuple(h for h in self.headings if h not in headings))

    def mentions(self, text: str) -> int:
        """How many times *text* names this condition (at most _MENTIONS_CAP)."""
        if self.pattern is None or not text:
            return 0
        count = 0
        for _ in self.pattern.finditer(normalized(text)):
            count += 1
            if count >= _MENTIONS_CAP:
                break
        return count

    def first(self, text: str) -> int | None:
        """Where in (normalized) *text* this condition is first named, or None."""
        found = self.pattern.search(normalized(text)) if self.pattern and text else None
        return found.start() if found else None

    def covers_heading(self, heading: str) -> bool:
        """Whether a MeSH heading (or a registered condition) is this condition: one of its
        headings or their sub-headings, or a heading its words name."""
        words = normalized(heading)
        return any(words == h or words.startswith(h + " ") for h in self.headings) or (
            self.mentions(heading) > 0)


@functools.lru_cache(maxsize=256)
def _compiled(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for a topic's phrases (the longest phrase wins a spot), compiled once."""
    if not phrases:
        return None
    ordered = sorted(phrases, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(ordered) + r")(?!\w)")


def _positive_atoms(term: str) -> list[tuple[str, str, bool]]:
    """(text, field tag, trailing wildcard) of each phrase or word of *term* that is searched
    for, skipping operators and whatever follows a NOT (a word, or a whole group). Adjacent
    bare words (``suicidal ideation``: an implicit AND) are one phrase."""
    atoms: list[tuple[str, str, bool]] = []
    depth, skip_until = 0, -1  # skipping a NOT's operand while depth > skip_until
    skip_next = joinable = False
    for match in _TOKEN.finditer(term):
        if match.group("open") or match.group("close"):
            joinable = False
            if match.group("open"):
                if skip_next:
                    skip_until, skip_next = depth, False
                depth += 1
            else:
                depth -= 1
                skip_until = -1 if depth == skip_until else skip_until
            continue
        word = match.group("word")
        text = match.group("phrase") if word is None else word
        if text is None:
            continue
        if text in _OPERATORS:
            skip_next, joinable = text == "NOT", False
            continue
        if skip_next or (skip_until >= 0 and depth > skip_until):
            skip_next = joinable = False
            continue
        tag = (match.group("ptag") or match.group("wtag") or "").strip().lower()
        wildcard = text.endswith("*")
        if joinable and word is not None and not tag and not atoms[-1][1]:
            atoms[-1] = (f"{atoms[-1][0]} {text.rstrip('*')}", "", wildcard)
        else:
            atoms.append((text.rstrip("*"), tag, wildcard))
        joinable = word is not None and not tag and not wildcard
    return atoms


def about(study: Study, topic: Topic) -> tuple[bool, bool, int, int, bool]:
    """How centrally *study* is about *topic*, compared as a tuple (see the module's order)."""
    details = study.details or {}
    titles = [study.title, str(details.get("official_title") or "")]
    places = [p for p in (topic.first(t) for t in titles[:1]) if p is not None]
    in_title = bool(places) or any(topic.mentions(t) for t in titles[1:])
    central = [str(h.get("descriptor", "")) for h in details.get("mesh") or []
               if isinstance(h, dict) and h.get("major_topic")]
    if study.kind == "trial":
        central += [str(c) for c in details.get("conditions") or []] + list(study.mesh_terms)
        central += [str(o) for o in details.get("primary_outcomes") or []]
    is_central = any(topic.covers_heading(h) for h in central if h)
    earliest = -min(places) if places else -len(normalized(study.title)) - 1
    mentioned = topic.mentions(study.abstract)
    indexed = any(topic.covers_heading(h) for h in study.mesh_terms)
    return in_title, is_central, earliest, mentioned, indexed


def primary_first(study: Study | None, conditions: list[str],
                  topics: dict[str, Topic]) -> list[str]:
    """*conditions* (in YAML order) with the one *study* is most about first; YAML order breaks
    ties and orders the rest."""
    if study is None or len(conditions) < 2:
        return list(conditions)
    candidates = [topics.get(name) or Topic.of(name) for name in conditions]
    shared_phrases = set.intersection(*(set(t.phrases) for t in candidates))
    shared_headings = set.intersection(*(set(t.headings) for t in candidates))
    if shared_phrases or shared_headings:
        candidates = [t.without(shared_phrases, shared_headings) for t in candidates]
    scores = [about(study, topic) for topic in candidates]
    best = max(range(len(conditions)), key=lambda i: (scores[i], -i))
    return [conditions[best]] + [c for i, c in enumerate(conditions) if i != best]


def registry_keys(study: Study) -> set[tuple[str, str]]:
    """The (scheme, id) pairs naming *study* as a trial (its own registry ids) or naming the
    trials a paper reports (its linked registry ids): equal keys link a paper to its trial."""
    if study.kind == "trial":
        pairs = [(s, v) for s, v in study.ids.items() if s in REGISTRY_SCHEMES]
    else:
        pairs = [(s, v) for s in REGISTRY_SCHEMES for v in study.linked_ids.get(s, [])]
    return {(scheme, normalize_id(scheme, str(value))) for scheme, value in pairs if value}


def reported_by(trial: Study, paper: Study) -> bool:
    """Whether *paper* reports *trial*: it names one of the trial's registry ids, or the trial
    record lists the paper's PMID among its references."""
    if trial.kind != "trial" or paper.kind == "trial":
        return False
    pmid = paper.ids.get("pmid")
    if pmid and pmid in (trial.linked_ids.get("pmid") or []):
        return True
    return bool(registry_keys(trial) & registry_keys(paper))


class Placed(Protocol):
    """A digest item as placement sees it (watcher.digest.DigestItem)."""

    study: Study | None
    conditions: list[str]
    outbox_id: int


Item = TypeVar("Item", bound=Placed)


def with_their_trials(items: list[Item]) -> dict[int, int]:
    """Paper outbox id -> the outbox id of the trial it reports, for each paper whose trial is
    in the same digest under a condition the paper matched too. The paper is then filed under
    the trial's primary condition (its ``conditions`` reordered; its other conditions keep
    pointers), to sit beside the trial."""
    trials = [item for item in items if item.study is not None and item.study.kind == "trial"]
    follows: dict[int, int] = {}
    for paper in items:
        if paper.study is None or paper.study.kind == "trial":
            continue
        for trial in trials:
            home = trial.conditions[0]
            if trial.study is not None and home in paper.conditions and reported_by(
                    trial.study, paper.study):
                paper.conditions = [home] + [c for c in paper.conditions if c != home]
                follows[paper.outbox_id] = trial.outbox_id
                break
    return follows


def beside_their_trials(items: list[Item], follows: dict[int, int]) -> list[Item]:
    """*items* (in evidence order) with each paper moved right after the trial it reports,
    when that trial is among them."""
    here = {item.outbox_id for item in items}
    moved = {item.outbox_id for item in items if follows.get(item.outbox_id) in here}
    out: list[Item] = []
    for item in items:
        if item.outbox_id in moved:
            continue
        out.append(item)
        out += [paper for paper in items
                if paper.outbox_id in moved and follows[paper.outbox_id] == item.outbox_id]
    return out
