"""Check a search term's structure before it is sent anywhere.

Terms from the YAML are pasted into larger queries, each part wrapped in parentheses:
``(intervention) AND (condition terms) NOT (exclude)``. A term with a stray ``)`` can close that
wrapper and turn the whole query into something else (``depression[tiab]) OR (all[sb]`` would
match every record), and an unbalanced quote or a dangling ``AND`` makes the service reject or
reinterpret the query. The check is syntax-only and shared by PubMed, ClinicalTrials.gov and
Europe PMC terms: double-quoted phrases, ``(...)`` groups, ``[...]`` field tags and the upper-case
operators AND, OR and NOT (lower-case words are ordinary search words in all three services).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

OPERATORS = ("AND", "OR", "NOT")


@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "op" or "word"
    text: str
    column: int  # 1-based character position, for the message


class _Problem(Exception):
    """The first thing found wrong; its message is the one line shown to the user."""


def check_terms(text: str) -> str | None:
    """One line describing what is wrong with *text*, or None when its structure is sound."""
    try:
        tokens = _tokens(text)
        if not tokens:
            raise _Problem("the search term is empty")
        _check_groups(tokens)
    except _Problem as exc:
        return str(exc)
    return None


def _tokens(text: str) -> list[_Token]:
    """Split into parentheses, operators and words (a quoted phrase and a [field tag] are part
    of the word they touch); raise _Problem for an unclosed quote or field tag."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token(char, char, i + 1))
            i += 1
        else:
            start = i
            while i < n and not (text[i].isspace() or text[i] in "()"):
                if text[i] == '"':
                    end = text.find('"', i + 1)
                    if end < 0:
                        raise _Problem(f"the double quote at character {i + 1} is never closed")
                    if not text[i + 1:end].strip():
                        raise _Problem(f"empty quoted phrase at character {i + 1}")
                    i = end + 1
                elif text[i] == "[":
                    end = text.find("]", i + 1)
                    nested = text.find("[", i + 1)
                    if end < 0:
                        raise _Problem(f"the '[' at character {i + 1} is never closed "
                                       "(field tags look like [tiab])")
                    if 0 <= nested < end:
                        raise _Problem(f"'[' at character {nested + 1} inside the field tag "
                                       f"opened at character {i + 1}")
                    i = end + 1
                elif text[i] == "]":
                    raise _Problem(f"the ']' at character {i + 1} has no matching '['")
                else:
                    i += 1
            word = text[start:i]
            kind = "op" if word in OPERATORS else "word"
            tokens.append(_Token(kind, word, start + 1))
    return tokens


def _check_groups(tokens: list[_Token]) -> None:
    """Parentheses balance without ever closing more than was opened, and within each group
    operators sit between two operands (``AND NOT`` / ``OR NOT`` allowed)."""
    opened: list[_Token] = []
    previous: _Token | None = None  # the token before, within the current group
    for token in tokens:
        if token.kind == "(":
            opened.append(token)
            previous = None
        elif token.kind == ")":
            if not opened:
                raise _Problem(
                    f"the ')' at character {token.column} closes a parenthesis that was never "
                    "opened (it would end the group this term is placed in and change the "
                    "whole query)")
            group = opened.pop()
            if previous is None:
                raise _Problem(f"empty parentheses at character {group.column}")
            if previous.kind == "op":
                raise _Problem(f"{previous.text!r} at character {previous.column} has "
                               "nothing after it")
            previous = token
        elif token.kind == "op":
            if previous is None:
                raise _Problem(f"{token.text!r} at character {token.column} has nothing "
                               "before it")
            if previous.kind == "op" and (token.text != "NOT" or previous.text == "NOT"):
                raise _Problem(f"{previous.text!r} and {token.text!r} in a row at character "
                               f"{previous.column}")
            previous = token
        else:
            previous = token
    if opened:
        raise _Problem(f"the '(' at character {opened[-1].column} is never closed")
    if previous is not None and previous.kind == "op":
        raise _Problem(f"{previous.text!r} at character {previous.column} has nothing after it")


def _checked_terms(value: str) -> str:
    """Refuse a search term whose structure is broken before anything is sent."""
    problem = check_terms(value)
    if problem:
        raise ValueError(problem)
    return value


#: A search term for any source, checked for balanced structure: it can never close the group
#: it is placed in.
Terms = Annotated[str, AfterValidator(_checked_terms)]
