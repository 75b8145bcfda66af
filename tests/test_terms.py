"""The query-term checker: every shipped term and ordinary registry syntax passes; a term that
would break out of its parentheses, or is otherwise malformed, is named in one line."""

from __future__ import annotations

import pytest

from tests.helpers import QUERIES_YAML, ROOT
from watcher import config
from watcher.terms import check_terms


def shipped_terms() -> list[tuple[str, str]]:
    """(where, term) for every search term in the shipped queries, and each composed term."""
    cfg = config.load(ROOT / "queries")
    found: list[tuple[str, str]] = []
    for query in cfg.queries:
        for name in ("pubmed", "clinicaltrials", "europepmc"):
            shared = getattr(query.intervention, name, None)
            if shared:
                found.append((f"intervention {name}", shared))
        for source, options in query.sources.items():
            for key in ("terms", "exclude", "condition", "intervention"):
                value = getattr(options, key, None)
                if value:
                    found.append((f"{query.id} {source} {key}", value))
        if "pubmed" in query.sources:
            found.append((f"{query.id} composed PubMed term", query.terms_for("pubmed")))
    return found


def test_every_shipped_term_passes():
    terms = shipped_terms()
    assert len(terms) > 40, "every query contributes terms"
    problems = [(where, check_terms(term)) for where, term in terms if check_terms(term)]
    assert problems == []


def test_the_test_corpus_queries_pass():
    for line in QUERIES_YAML.splitlines():
        if "terms:" in line:
            term = line.split("terms:", 1)[1].strip()
            term = term[1:-1] if term.startswith("'") else term
            assert check_terms(term) is None, term


@pytest.mark.parametrize("term", [
    # ClinicalTrials.gov (Essie) and Europe PMC style
    "ketamine OR esketamine",
    '"chronic pain" OR "neuropathic pain"',
    "AREA[Condition]depression",
    "AREA[InterventionName](ketamine OR esketamine) AND AREA[Phase]PHASE3",
    "SEARCH[Location](AREA[LocationCity]Portland AND AREA[LocationState]Maine)",
    'TITLE:"ketamine" AND PUB_YEAR:[2020 TO 2024]',
    "ketamine AND NOT rats",
    # PubMed
    '"Ketamine"[Mesh] OR ketamin*[tiab]',
    '("Anesthesia"[Majr] OR "Pain, Postoperative"[Majr]) NOT "Chronic Pain"[Mesh]',
    '"2024/01/01"[Date - Publication] : "3000"[Date - Publication]',
    '"pain (chronic" OR x',  # parentheses inside a phrase do not count
    "ORGAN AND NOTCH",  # words that start with an operator are words
    "depression and or anxiety",  # lower-case operators are ordinary words to all three
])
def test_ordinary_registry_terms_pass(term):
    assert check_terms(term) is None


@pytest.mark.parametrize("term, message", [
    ("depression[tiab]) OR (all[sb]", "the ')' at character 17 closes a parenthesis that was "
                                      "never opened"),
    ("ketamine)", "the ')' at character 9 closes"),
    ("(ketamine OR esketamine", "the '(' at character 1 is never closed"),
    ("((a) OR b", "the '(' at character 1 is never closed"),
    ('"chronic pain OR fibromyalgia', "the double quote at character 1 is never closed"),
    ('"a" OR "b', "the double quote at character 8 is never closed"),
    ("", "the search term is empty"),
    ("   ", "the search term is empty"),
    ('""', "empty quoted phrase"),
    ("()", "empty parentheses at character 1"),
    ("x OR ()", "empty parentheses at character 6"),
    ("AND", "'AND' at character 1 has nothing before it"),
    ("NOT", "'NOT' at character 1 has nothing before it"),
    ("ketamine OR", "'OR' at character 10 has nothing after it"),
    ("OR ketamine", "'OR' at character 1 has nothing before it"),
    ("NOT rats", "'NOT' at character 1 has nothing before it"),
    ("(a OR) AND b", "'OR' at character 4 has nothing after it"),
    ("a AND (OR b)", "'OR' at character 8 has nothing before it"),
    ("a AND OR b", "'AND' and 'OR' in a row at character 3"),
    ("a NOT NOT b", "'NOT' and 'NOT' in a row"),
    ("ketamine[tiab", "the '[' at character 9 is never closed"),
    ("ketamine]", "the ']' at character 9 has no matching '['"),
    ("ketamine[ti[ab]", "'[' at character 12 inside the field tag opened at character 9"),
    ('AREA[Condition"]x OR "y', "never closed"),
])
def test_broken_terms_are_named_in_one_line(term, message):
    problem = check_terms(term)
    assert problem is not None and message in problem, problem
    assert "\n" not in problem
