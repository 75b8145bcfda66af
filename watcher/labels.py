"""Study-design labels inferred from a fresh record's title and abstract.

A new PubMed record usually carries only "Journal Article" until MEDLINE indexers add its real
publication types, weeks later; the team still wants to see at a glance that it is a trial, a
meta-analysis or a mouse study. These guesses are conservative (a review that discusses RCTs is
not an RCT; "non-randomised" is not randomised; the title and the sentence describing this
study's own design decide, not background sentences), always shown as inferred, and dropped as
soon as the record carries real publication types. Pure functions: no I/O, no state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .models import Study
from .parsers.pubmed_fields import DASHES

#: Appended to every inferred label, so a reader never mistakes a guess for MEDLINE indexing.
INFERRED = " (inferred)"

#: Publication types a record carries before (or without) MEDLINE design indexing: they say
#: nothing about the study's design. Anything else counts as real publication types.
UNINDEXED_TYPES = ("journal article", "english abstract", "research support", "preprint",
                   "introductory journal article")

#: Inferred labels, in display order (short forms shared with render.common.TYPE_LABELS).
LABELS = ("RCT", "placebo-controlled", "open-label", "meta-analysis", "systematic review",
          "case report", "protocol", "animal")

_RANDOMIZED = r"(?<![\w-])randomi[sz]ed"  # "non-randomized", "quasi-randomised" do not match
# "were not randomly assigned", "could not be randomised"; an emulated trial is observational.
_NOT_RANDOMIZED = re.compile(r"\b(?:not|never|without)\s+(?:be(?:en|ing)?\s+)?(?:randomi[sz]ed|"
                             r"randomly)|\bemulat(?:e|ed|es|ing|ion)\b", re.I)
_RCT = re.compile(_RANDOMIZED + r"\b[^.;:]{0,80}?\b(?:trial|study)\b(?!s)", re.I)
_ASSIGNED = re.compile(r"\b(?:were|was|being)\s+(?:(?:1:1|2:1|equally)\s+)?(?:randomi[sz]ed|"
                       r"randomly\s+(?:assigned|allocated))\b|\bunderwent\s+randomi[sz]ation\b"
                       r"|(?<![\w-])randomly\s+(?:assigned|allocated)\s+(?:\d+|to|in)\b", re.I)
#: A title naming an extension study: its patients' randomization was the parent trial's.
_EXTENSION = re.compile(r"\bopen-label\s+extension\b|\bextension\s+(?:study|phase|trial)\b", re.I)
_PLACEBO = re.compile(r"\bplacebo[- ]controlled\b", re.I)
_OPEN_LABEL = re.compile(r"\bopen[- ]label\b", re.I)
_META = re.compile(r"\bmeta-?analys[ie]s\b|\bmeta-?regression\b", re.I)
_SYSTEMATIC = re.compile(r"\bsystematic(?:\s+literature)?\s+review\b", re.I)
_ANY_REVIEW = re.compile(r"\b(?:review|overview|meta-?analys[ie]s|umbrella)\b", re.I)
_REVIEWING = re.compile(r"\bwe\s+(?:systematically\s+)?(?:review(?:ed)?|searched|summari[sz]e[ds]?|"
                        r"pooled|synthesi[sz]ed)\b|\b(?:databases?|MEDLINE|Embase|PubMed)\b"
                        r"[^.]{0,40}\bsearched\b|\bwere\s+searched\b", re.I)
_CASE_TITLE = re.compile(r"\bcase\s+reports?\b(?!\s+forms?\b)"  # a case report form is not one
                         r"|\breport\s+of\s+(?:a|two|three)\s+cases?\b"
                         r"|^\s*(?:a|an)\s+case\s+of\b|:\s*(?:a|an)\s+case\b", re.I)
_CASE_TEXT = re.compile(r"\bwe\s+(?:report|describe|present)\s+(?:here\s+)?(?:the\s+)?"
                        r"(?:case|cases|a\s+case|an?\s+(?:\d+|[a-z]+)[- ]year[- ]old|"
                        r"a\s+(?:patient|man|woman|boy|girl))\b", re.I)
# "trial protocol deviations" is a study of protocols, not one.
_NOT_PROTOCOL = (r"(?!\s+(?:amendments?|deviations?|violations?|adherence|compliance|changes?|"
                 r"modifications?)\b)")
# "protocol for a randomised trial", not a care protocol "for the prevention of delirium".
_PROTOCOL_TITLE = re.compile(r"\b(?:study|trial|review)\s+protocol\b" + _NOT_PROTOCOL
                             + r"|\bprotocol\s+(?:for|of)\s+(?:a|an|the)\s+(?:[\w-]+\s+){0,5}?"
                             r"(?:trial|study|review|meta-analysis|evaluation)\b"
                             r"|:\s*(?:a\s+|the\s+)?protocol\b" + _NOT_PROTOCOL, re.I)
_PROTOCOL_TEXT = re.compile(r"\bth(?:is|e\s+present)\s+(?:study\s+|trial\s+)?protocol\s+"
                            r"(?:describes|outlines|reports|presents)\b|\bwe\s+(?:describe|"
                            r"present|report)\s+the\s+(?:study\s+|trial\s+)?protocol\b", re.I)
#: A sentence about this study's own design (not the background): these cues, or a labelled
#: METHODS/DESIGN section.
_OWN_STUDY = re.compile(r"\b(?:we|this|the\s+present|the\s+current|our|herein|here)\b", re.I)
_METHODS_LABEL = re.compile(r"^(?:METHODS?|DESIGN|MATERIALS?\s+AND\s+METHODS|"
                            r"METHODS?\s+AND\s+ANALYSIS|STUDY\s+DESIGN|DESIGN,\s+SETTING,?.*?|"
                            r"TRIAL\s+DESIGN)\s*:", re.I)
_OWN_REVIEW = re.compile(r"\b(?:we|this|the\s+present|the\s+current)\b[^.]{0,60}?\b(?:conducted|"
                         r"performed|undertook|carried\s+out|is|was|presents?|reports?)\b"
                         r"[^.]{0,30}?\ba\s+(?:systematic|meta)", re.I)
_ANIMALS = re.compile(r"\b(?:rats?|mice|mouse|murine|rodents?|zebrafish|piglets?|macaques?|"
                      r"non-?human\s+primates?|monkeys?|dogs?|canine|cats?|feline|horses?|"
                      r"equine|sheep|ovine|swine|porcine)\b", re.I)
_ANIMAL_METHODS = re.compile(r"\b(?:rats|mice|animals|dogs|cats|horses|piglets)\s+(?:\w+\s+)?"
                             r"(?:were|received|underwent)\b|\b(?:Sprague[- ]Dawley|Wistar|"
                             r"C57BL/6\w*|BALB/c|Long[- ]Evans)\b", re.I)
_HUMANS = re.compile(r"\b(?:patients?|participants?|volunteers?|humans?|adults|adolescents|"
                     r"children|women|men|veterans|outpatients|inpatients|clinical\s+trials?|"
                     r"people|individuals)\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])|\n")


def has_real_types(publication_types: Iterable[str]) -> bool:
    """Whether the record carries publication types beyond the ones every fresh record has:
    once it does, they are the study's labels and nothing is inferred."""
    return any(not any(t.casefold().startswith(u) for u in UNINDEXED_TYPES)
               for t in publication_types if t.strip())


def infer_design(title: str, abstract: str) -> list[str]:
    """Design labels (from LABELS, in that order) the title and abstract support."""
    # Publishers write "non\u2010randomized" with a Unicode hyphen, which no pattern here knows.
    title = " ".join(title.translate(DASHES).split())
    abstract = abstract.translate(DASHES)
    design = _design_sentences(abstract)
    own = [title, *design]
    found: set[str] = set()

    if _SYSTEMATIC.search(title) or any(_OWN_REVIEW.search(s) and _SYSTEMATIC.search(s)
                                        for s in design):
        found.add("systematic review")
    if _META.search(title) or any(_OWN_REVIEW.search(s) and _META.search(s) for s in design):
        found.add("meta-analysis")
    protocol = bool(_PROTOCOL_TITLE.search(title) or _PROTOCOL_TEXT.search(abstract))
    if protocol:
        found.add("protocol")
    review = bool(found & {"systematic review", "meta-analysis"} or _ANY_REVIEW.search(title)
                  or any(_REVIEWING.search(s) for s in design))
    if _CASE_TITLE.search(title) or (not review and _CASE_TEXT.search(abstract)):
        found.add("case report")

    if not review and "case report" not in found:
        text = [s for s in own if not _NOT_RANDOMIZED.search(s)]
        # "were randomized to ..." describes this study wherever it stands (reviews are out)
        randomized = (any(_RCT.search(s) for s in text)
                      or any(_ASSIGNED.search(s) for s in _sentences(abstract)
                             if not _NOT_RANDOMIZED.search(s)))
        if _EXTENSION.search(title) and not _RCT.search(title):
            randomized = False
        if randomized and not protocol:  # a protocol has no results yet: "protocol" says it
            found.add("RCT")
        if any(_PLACEBO.search(s) for s in own):
            found.add("placebo-controlled")
        if any(_OPEN_LABEL.search(s) for s in own):
            found.add("open-label")

    if _is_animal_study(title, abstract):
        found.add("animal")
    return [label for label in LABELS if label in found]


def inferred_labels(study: Study) -> list[str]:
    """The study's inferred design labels, each marked INFERRED; none for a trial registration
    or for a record that already carries real publication types."""
    if study.kind == "trial" or has_real_types(study.publication_types):
        return []
    return [label + INFERRED for label in infer_design(study.title, study.abstract)]


def _sentences(abstract: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(abstract) if s.strip()]


def _design_sentences(abstract: str) -> list[str]:
    """Sentences of the abstract that describe this study: those in a labelled METHODS/DESIGN
    section, and any sentence that speaks of "we", "this study", "the present trial"..."""
    chosen: list[str] = []
    for line in abstract.splitlines():
        methods = bool(_METHODS_LABEL.match(line.strip()))
        chosen += [s for s in _sentences(line) if methods or _OWN_STUDY.search(s)]
    return chosen


def _is_animal_study(title: str, abstract: str) -> bool:
    """Animals named in the title, or the methods say animals were treated, and no sign that
    people were studied (a translational paper with patients is not labelled)."""
    if _HUMANS.search(title) or _HUMANS.search(abstract):
        return False
    return bool(_ANIMALS.search(title) or _ANIMAL_METHODS.search(abstract))
