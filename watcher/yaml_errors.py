"""Reporting a YAML file's problems the way the team can fix them: ``path:line: message``.

ruamel.yaml keeps line numbers and pydantic says what is wrong where; these turn both into
one line per problem, and guard the parse against alias bombs before anything expands them.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from .described import SHOWN_CHARS
from .described import shown as _shown
from .described import type_name as _type_name
from .printable import one_line


def syntax_error(exc: MarkedYAMLError, text: str) -> str:
    """'LINE: YAML syntax error: ...' pointing at the problem, or at the construct left open
    when the problem is only noticed at the end of the file; the parser's words put plainly
    where they name a common slip (a tab, an indentation that does not line up)."""
    problem, context = exc.problem_mark, exc.context_mark
    mark = problem or context
    at_end = problem is not None and problem.line >= len(text.rstrip("\n").splitlines())
    if at_end and context is not None:
        mark = context
    plain_words = _in_plain_words(exc)
    if plain_words is not None:
        return f"{mark.line + 1 if mark else 1}: YAML syntax error: {plain_words}"
    what = one_line(exc.problem or "invalid YAML")
    if exc.context and context is not None:
        what += f" ({one_line(exc.context)} started on line {context.line + 1})"
    return f"{mark.line + 1 if mark else 1}: YAML syntax error: {what}"


def _in_plain_words(exc: MarkedYAMLError) -> str | None:
    """What a person should change, for the parser's errors that mean a common slip; None for
    the rest (their own words, with where the construct started, are kept)."""
    problem = exc.problem or ""
    column = exc.problem_mark.column + 1 if exc.problem_mark else None
    started = (f" (the block it belongs to starts on line {exc.context_mark.line + 1})"
               if exc.context_mark else "")
    if "'\\t'" in problem or "\t" in problem:
        return (f"a tab character at column {column}: YAML indents with spaces only; "
                "replace the tab with spaces")
    if problem.startswith("expected <block end>"):
        return ("this line's indentation does not line up with the lines above it" + started
                + ": indent keys of the same block by the same number of spaces")
    if problem == "mapping values are not allowed here":
        return (f"unexpected ':' at column {column}: this line is indented more than the key "
                "above it (line keys of the same block up), or a value holding ': ' needs "
                "quotes")
    if problem == "could not find expected ':'":
        return ("a line that is neither 'key: value' nor '- item'" + started + ": add the "
                "missing ':' or check the indentation")
    if "end of stream" in problem and "quoted scalar" in (exc.context or ""):
        line = exc.context_mark.line + 1 if exc.context_mark else 1
        return f"a quote opened on line {line} is never closed"
    return None


#: Values that aliases (``*name``) may repeat in one file: far more than any real queries file
#: shares, far fewer than the millions a "billion laughs" file of ten lines expands to.
ALIAS_VALUES = 200_000


def alias_bomb(data: Any) -> int | None:
    """The 1-based line of the value holding the alias whose repeats pass ALIAS_VALUES, or
    None. Aliases share one parsed value, so this walks each value once (as cheap as the
    parse), counting what copying every alias (as plain does) would make."""
    sizes: dict[int, int] = {}
    repeated = 0

    def size(node: Any, line: int) -> int:
        """Values in *node* with its aliases copied; *line* is where *node* is written."""
        nonlocal repeated
        if not isinstance(node, (dict, list, tuple)):
            return 1
        if id(node) in sizes:  # an alias of a value already seen
            repeated += sizes[id(node)]
            return sizes[id(node)]
        total = 1
        for key in (list(node) if isinstance(node, dict) else range(len(node))):
            inner = line_of(node, [key]) if isinstance(node, (dict, list)) else line
            total += size(node[key], inner) + (size(key, line) if isinstance(node, dict) else 0)
            if repeated > ALIAS_VALUES:
                raise _Bomb(line)
        sizes[id(node)] = total
        return total

    try:
        size(data, 1)
    except _Bomb as found:
        return found.line
    return None


class _Bomb(Exception):
    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


def plain(node: Any) -> Any:
    """ruamel containers -> plain dict/list so pydantic sees ordinary types."""
    if isinstance(node, dict):
        return {str(k) if k is not None else "": plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def line_of(node: Any, loc: Iterable[Any]) -> int:
    """1-based line of the deepest YAML node on *loc* that exists (a missing key -> its parent)."""
    line = 1
    for key in loc:
        if isinstance(node, CommentedMap) and key in node:
            position = node.lc.data.get(key)
            if position:
                line = position[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            with contextlib.suppress(KeyError, TypeError):
                line = node.lc.item(key)[0] + 1
            node = node[key]
        else:
            if isinstance(node, (CommentedMap, CommentedSeq)) and line == 1:
                line = node.lc.line + 1
            break
    return line


def describe(error: dict[str, Any], known_keys: Iterable[str]) -> str:
    """One message for a pydantic error, *known_keys* giving the 'did you mean' hints."""
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
    where = where.lstrip(".") or "file"
    loc = [part for part in error["loc"] if not isinstance(part, int)]
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = ".".join(str(p) for p in loc[:-1]) or "top level"
        close = difflib.get_close_matches(str(loc[-1]), list(known_keys), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {_shown(str(loc[-1]))} in {parent}{hint}"
    if kind == "missing":
        return f"missing required field {str(loc[-1])!r}" + (
            f" in {'.'.join(str(p) for p in loc[:-1])}" if len(loc) > 1 else "")
    if kind == "string_pattern_mismatch":
        return (f"{where}: {_shown(error.get('input'))} must start with a lower-case letter or "
                "digit and use only a-z, 0-9, '-' and '_'")
    if kind == "literal_error":
        return f"{where}: {error['msg'].lower()}, got {_shown(error.get('input'))}"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
        return f"{where}: {message}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        value = error.get("input")
        found = _type_name(value)
        if isinstance(value, (str, int, float)) and len(repr(value)) <= SHOWN_CHARS:
            found += f" {value!r}"  # short scalars help; long ones may be a pasted document
        return f"{where}: wrong type: {message.lower()}, got {found}"
    return f"{where}: {message}"
