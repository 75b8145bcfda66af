"""The package's shape: no import circle, SQL only in db/, modules and classes a reader can hold.

These guard the layout the README describes; a change that needs to break one should change
the layout (and the README) rather than the limit.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "watcher"
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 200
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|"
                 r"DELETE\s+FROM|CREATE\s+(TABLE|INDEX|TRIGGER)|PRAGMA\s+\w+|BEGIN\s+IMMEDIATE)\b",
                 re.I)

#: Still to be moved by issue 16; each entry leaves these lists as its part lands.
TOO_LONG: set[str] = set()
LONG_CLASSES: set[str] = set()
SQL_OUTSIDE_DB: set[str] = set()
IN_CIRCLES: set[str] = set()



def _modules() -> dict[str, Path]:
    return {p.relative_to(PACKAGE).as_posix(): p for p in sorted(PACKAGE.rglob("*.py"))}


def _name(rel: str) -> str:
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["watcher", *parts])


def _imports(rel: str, path: Path) -> set[str]:
    """Modules of watcher imported anywhere in *path*: at the top, for type checking only, or
    inside a function (an import moved into a function still ties the two modules together)."""
    package = _name(rel) if rel.endswith("__init__.py") else _name(rel).rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base.startswith("watcher"):
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("watcher"))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_name(rel): path for rel, path in _modules().items()}
    rels = {_name(rel): rel for rel in _modules()}
    return {name: {m for m in _imports(rels[name], path) if m in modules and m != name}
            for name, path in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle():
    circles = [sorted(c) for c in _circles(_graph())]
    assert [c for c in circles if not set(c) <= IN_CIRCLES] == []


@pytest.mark.parametrize("rel", sorted(_modules()))
def test_module_is_short_enough_to_read(rel):
    lines = len(_modules()[rel].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES or rel in TOO_LONG, f"{rel}: {lines} lines"


def test_no_class_is_longer_than_two_screens():
    long = []
    for rel, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_CLASS_LINES and f"{rel}:{node.name}" not in LONG_CLASSES:
                    long.append(f"{rel}:{node.name} ({length} lines)")
    assert long == []


def test_sql_is_written_only_in_db():
    outside = []
    for rel, path in _modules().items():
        if rel.startswith("db/") or rel in SQL_OUTSIDE_DB:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and SQL.search(text):
                outside.append(f"{rel}:{node.lineno}")
    assert outside == []


def test_the_run_lock_is_taken_only_by_the_pipeline():
    """One layer takes the run lock (watcher.pipeline's entry points, once per run): a lower
    layer or a serve job taking it as well would hide which code runs under it."""
    takers = []
    for rel, path in _modules().items():
        if rel == "pipeline.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "exclusive":
                takers.append(f"{rel}:{node.lineno}")
    assert takers == []
