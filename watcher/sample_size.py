"""A paper's sample size, read from its abstract, so a clinician sees "n=412" at a glance.

Conservative, like labels.py: a number is shown only when the abstract states clearly that it
counts people ("n = 412", "1,358 participants", "a total of 86 adults", "randomised 120
patients"), and nothing is shown otherwise. Decisions:

- An explicit total ("a total of 3849 patients", "total N = 60") wins over every other count.
- Else the largest count of people named with a noun ("679 men enrolled"): subgroups are smaller
  than the whole, so the largest stated count is the enrolled/randomised/included one. Counts
  are never added up (subgroups are only summed when the abstract states the total).
- Bare "n = 30" values count only when the abstract gives a single one (or no noun count): two
  different n's without a total are arm sizes ("n = 30 ... n = 23"), and their sum is a guess.
- Never a percentage ("62% of patients"), a dose ("0.5 mg/kg"), a duration or age ("12 years"),
  a year ("in 2010 patients"), a p-value, a decimal, or millions ("280 million people").
- A number naming a type, stage, phase or arm ("type 2 diabetes patients") and person-years
  are not head counts.
- People screened, assessed, approached or invited ("Of 512 patients screened, 120 were
  randomised") are the top of the funnel, not the sample: never counted.
- Cases and controls are not counted ("386 cases and 896 controls" has no stated total).
- A meta-analysis's "k studies, N participants" gives N: studies, trials and reports are never
  people, so the pooled participant count is the n.
- Numbers in words ("one hundred and twenty patients") are not read: rare in abstracts, and a
  wrong parse would show a wrong n.
- Sentences of a labelled BACKGROUND/INTRODUCTION section, and table or figure captions, are
  not about this study's sample and are skipped.
Pure functions: no I/O, no state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .models import Study

#: A whole number, with optional thousands separators ("1,358", "1 358" with a thin space);
#: not part of a decimal, a range's second half, or another number.
_NUMBER = r"(?<![\d.,\u2009\u202f/-])(\d{1,3}(?:[,\u2009\u202f]\d{3})+|\d+)(?![.,]?\d|\s*%)"
_PEOPLE = (r"(?:participants?|patients?|subjects?|individuals?|adults?|adolescents?|children|"
           r"infants?|neonates?|women|men|persons?|people|volunteers?|veterans?|respondents?|"
           r"outpatients?|inpatients?|residents?|students?|pregnancies|mothers?|survivors?|"
           r"smokers?|users?|athletes?|workers?|nurses?|physicians?|youths?|girls?|boys?)")
#: Up to two qualifiers between the number and the noun: "120 adult", "86 consecutive eligible".
#: A unit, duration or preposition is no qualifier: "3 months in patients" counts no one.
_QUALIFIERS = (r"(?:(?!(?:years?|months?|weeks?|days?|hours?|minutes?|times?|doses?|sessions?|"
               r"mg|mcg|g|kg|ml|mL|IU|units?|of|in|with|and|or|to|per|from|at|for|among|vs|"
               r"versus|than|on|by|the)\b)[A-Za-z][\w-]*\s+){0,2}?")
_COUNT = re.compile(_NUMBER + r"\s+" + _QUALIFIERS + _PEOPLE + r"(?![\w-])", re.I)
_TOTAL = re.compile(r"\b(?:a\s+total\s+of|in\s+total,?|total(?:\s+sample)?\s+(?:of|n\s*=|was))\s+"
                    + _NUMBER + r"(?:\s+" + _QUALIFIERS + _PEOPLE + r"\b)?"
                    r"|\btotal\s+N\s*=\s*" + _NUMBER, re.I)
_N_EQUALS = re.compile(r"(?<![\w.])[nN]\s*=\s*" + _NUMBER)
#: What turns a preceding number into something other than a head count.
_NOT_PEOPLE = re.compile(r"^\s*(?:million|billion|thousand)\b", re.I)
#: A number that names a type, stage or arm, not a count: "type 2 diabetes patients".
_NAME_BEFORE = re.compile(r"\b(?:type|grade|stage|phase|class|level|day|week|month|visit|wave|"
                          r"arm|part|step|version|tier)\s+$", re.I)
_YEAR_BEFORE = re.compile(r"\b(?:in|since|from|until|during|by|of|between|and)\s+$", re.I)
#: People counted before the study took them in ("512 patients screened", "900 screened
#: patients", "300 veterans were approached"): the top of the funnel, not the sample.
_FUNNEL = r"(?:screened|assessed|approached|invited|contacted|eligible)"
_FUNNEL_AFTER = re.compile(r"^\s*(?:(?:were|was|had\s+been|have\s+been)\s+)?" + _FUNNEL + r"\b",
                           re.I)
_FUNNEL_IN = re.compile(r"\b" + _FUNNEL.replace("eligible|", "") + r"\b", re.I)
_SKIPPED_SECTION = re.compile(r"^(?:BACKGROUND|INTRODUCTION|CONTEXT|RATIONALE|IMPORTANCE)\s*:",
                              re.I)
_CAPTION = re.compile(r"^\s*(?:Table|Fig(?:ure)?\.?|Supplementary)\s+\w+", re.I)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+(?=[A-Z(])|\n")


@dataclass(frozen=True)
class SampleSize:
    """The sample size and the phrase of the abstract it was read from."""
    count: int
    phrase: str

    def label(self) -> str:
        """'n=3,849', as the digest shows it."""
        return f"n={self.count:,}"


def sample_size(abstract: str) -> SampleSize | None:
    """The study's sample size as the abstract states it, or None when it states none clearly."""
    totals: list[SampleSize] = []
    counts: list[SampleSize] = []
    n_values: list[SampleSize] = []
    for sentence in _own_sentences(abstract):
        totals += _found(_TOTAL, sentence)
        counts += _found(_COUNT, sentence)
        n_values += _found(_N_EQUALS, sentence)
    if totals:
        return max(totals, key=lambda s: s.count)
    if counts:
        return max(counts, key=lambda s: s.count)
    if len({n.count for n in n_values}) == 1:
        return n_values[0]
    return None


def paper_sample_size(study: Study) -> SampleSize | None:
    """A publication's sample size from its abstract; None for a trial registration, whose
    enrolment the registry states."""
    if study.kind == "trial":
        return None
    return sample_size(study.abstract)


def _own_sentences(abstract: str) -> list[str]:
    """The abstract's sentences, without background sections and table or figure captions."""
    chosen: list[str] = []
    for line in abstract.splitlines():
        if _SKIPPED_SECTION.match(line.strip()):
            continue
        chosen += [s.strip() for s in _SENTENCE.split(line)
                   if s.strip() and not _CAPTION.match(s)]
    return chosen


def _found(pattern: re.Pattern[str], sentence: str) -> list[SampleSize]:
    """Every head count *pattern* finds in *sentence*, without years, types and millions."""
    found = []
    for match in pattern.finditer(sentence):
        group = next(i for i, g in enumerate(match.groups(), 1) if g)  # the number's group
        digits, start, end = match.group(group), match.start(group), match.end(group)
        count = int(re.sub(r"\D", "", digits))
        if count == 0 or _NOT_PEOPLE.match(sentence[end:]):
            continue
        if pattern is not _N_EQUALS and _NAME_BEFORE.search(sentence[:start]):
            continue
        if pattern is _COUNT and (_FUNNEL_AFTER.match(sentence[match.end():])
                                  or _FUNNEL_IN.search(match.group(0))):
            continue
        if 1900 <= count <= 2100 and digits.isdigit() and _YEAR_BEFORE.search(sentence[:start]):
            continue
        found.append(SampleSize(count, " ".join(match.group(0).split())))
    return found
