"""Saved queries and destinations: load every YAML file in the queries folder and check it.

The YAML is the team's interface, so every problem is reported as ``path:line: message`` and all
problems are collected before giving up. Parsing uses ruamel.yaml (it keeps line numbers);
checking uses pydantic models with unknown keys forbidden.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, create_model, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .described import type_name as _type_name
from .destinations import KINDS, UNKNOWN_KIND, Destination, options_models
from .errors import ConfigError
from .filters import Filters
from .printable import one_line
from .schedules import Schedule
from .sources import REGISTRY, Search
from .terms import Terms
from .yaml_base import Strict
from .yaml_errors import ALIAS_VALUES, alias_bomb, describe, plain, syntax_error
from .yaml_errors import line_of as _line_of

SLUG = r"^[a-z0-9][a-z0-9_-]*$"


def _intervention_model() -> type[BaseModel]:
    """Shared intervention terms (ketamine and synonyms), one optional field per source."""
    # Every source's terms are checked like the query's own.
    fields: dict[str, Any] = {name: (Terms | None, None) for name in REGISTRY}
    return create_model("Intervention", __base__=Strict, **fields)


def _sources_model() -> type[BaseModel]:
    """A query's 'sources:' mapping: one optional block per registered source."""
    fields: dict[str, Any] = {name: (spec.options | None, None)
                              for name, spec in REGISTRY.items()}
    return create_model("Sources", __base__=Strict, **fields)


Intervention = _intervention_model()
Sources = _sources_model()


class Defaults(Strict):
    intervention: str | None = None
    destinations: list[str] | None = None
    lookback_days: int = Field(default=30, ge=1, le=3650)
    filters: Filters | None = None


class QueryModel(Strict):
    id: str = Field(pattern=SLUG)
    condition: str = Field(min_length=1)
    enabled: bool = True
    intervention: str | None = None
    sources: Sources
    destinations: list[str] | None = None
    lookback_days: int | None = Field(default=None, ge=1, le=3650)
    filters: Filters | None = None
    notes: str | None = None


class FileModel(Strict):
    interventions: dict[str, Intervention] = {}
    defaults: Defaults = Defaults()
    destinations: dict[str, Destination] = {}
    queries: list[QueryModel] = []
    #: Destinations removed on purpose: what they still owe is set aside, never sent.
    retired: list[str] = []

    @field_validator("retired", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


@dataclass(frozen=True)
class Query:
    """One saved query with the file defaults and the shared intervention terms applied."""

    id: str
    condition: str
    path: str
    sources: dict[str, Any]  # source name -> options model, enabled ones only
    destinations: tuple[str, ...]
    lookback_days: int
    filters: Filters
    intervention: Any | None  # the shared Intervention model: terms per source name

    def intervention_terms(self, source: str) -> str | None:
        return getattr(self.intervention, source, None) if self.intervention else None

    def search(self, source: str) -> Search:
        """What this query asks of *source*, all a fetch is handed: its own options only."""
        return Search(self.id, self.sources[source], self.intervention_terms(source))

    def terms_for(self, source: str) -> str:
        """The exact search this query sends to *source* (built by the source's options)."""
        return self.search(source).terms if source in self.sources else ""


@dataclass
class Config:
    queries: list[Query] = field(default_factory=list)
    destinations: dict[str, Destination] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    #: Old destination names removed on purpose (``retired:``): their open items are set
    #: aside rather than reported as orphaned.
    retired: tuple[str, ...] = ()

    def query(self, query_id: str) -> Query:
        for query in self.queries:
            if query.id == query_id:
                return query
        known = ", ".join(q.id for q in self.queries)
        raise ConfigError([f"unknown query {query_id!r} (known: {known})"])

    def conditions(self) -> dict[str, str]:
        return {q.id: q.condition for q in self.queries}

    def routes(self, query: Query) -> tuple[str, ...]:
        """Where a query's events go: its destinations, or the terminal when it has none."""
        return query.destinations or (TERMINAL.name,)

    def renames(self) -> dict[str, str]:
        """Old destination name -> the destination that took it over (``renamed_from``)."""
        return {old: name for name, destination in self.destinations.items()
                for old in destination.renamed_from}

    def all_destinations(self) -> dict[str, Destination]:
        """Configured destinations, plus the terminal when some query routes to nothing."""
        found = dict(self.destinations)
        if any(not q.destinations for q in self.queries):
            found[TERMINAL.name] = TERMINAL
        return found


#: The built-in destination of queries routed nowhere: `run --once` prints their digest.
TERMINAL = KINDS["terminal"].options(kind="terminal", name="terminal", max_items=5000)


# --- loading -----------------------------------------------------------------------------------


def load(folder: str | Path) -> Config:
    """Load and check every ``*.yaml`` in *folder*; raise ConfigError listing every problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError([f"{folder}: queries folder not found (give --queries DIR or set "
                           "WATCHER_QUERIES)"])
    paths = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not paths:
        raise ConfigError([f"{folder}: no *.yaml files with saved queries"])
    problems: list[str] = []
    parsed: list[tuple[str, Any, FileModel]] = []
    unloaded: set[str] = set()  # names declared in files that failed (ANY: unknown names)
    for path in paths:
        result = _load_file(path, problems)
        if result is None:
            unloaded |= _declared_names(path)
        else:
            parsed.append((str(path), *result))
    config = _combine(parsed, problems, unloaded)
    if problems:
        raise ConfigError(problems)
    config.files = [str(p) for p in paths]
    return config


def _load_file(path: Path, problems: list[str]) -> tuple[Any, FileModel] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}:1: cannot read file: {exc}")
        return None
    try:
        # A fresh parser per file: a ruamel YAML object is not safe to share between threads
        # (serve's jobs and two deliveries load the queries at the same time).
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        problems.append(f"{path}:{syntax_error(exc, text)}")
        return None
    except YAMLError as exc:
        problems.append(f"{path}:1: YAML syntax error: {one_line(str(exc))}")
        return None
    bomb = alias_bomb(data)
    if bomb is not None:  # before anything copies what the aliases share
        problems.append(f"{path}:{bomb}: YAML aliases here repeat more than {ALIAS_VALUES:,} "
                        "values (an alias bomb?): write the values out instead")
        return None
    if data is None:
        problems.append(f"{path}:1: file is empty (expected 'queries:' and optionally "
                        "'interventions:', 'defaults:', 'destinations:')")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path}:1: expected a mapping at the top level "
                        f"('queries:', 'destinations:', ...), found {_type_name(data)}")
        return None
    try:
        model = FileModel.model_validate(plain(data))
    except ValidationError as exc:
        errors = [{**error, "loc": _untagged(error["loc"])} for error in exc.errors()]
        found = sorted((_line_of(data, error["loc"]), describe(error, _known_keys()))
                       for error in errors)
        problems.extend(f"{path}:{line}: {message}" for line, message in found)
        return None
    return data, model


#: In ``unloaded``: a file failed before its names could be read, so any name may be there.
ANY = "*"


def _declared_names(path: Path) -> set[str]:
    """The destination and intervention names a file that failed to load declares (a bad
    ``timezone:`` fails the whole file): a query naming one gets no follow-on "unknown
    destination" error, the file's own error being the one cause. ANY if it cannot be read."""
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except Exception:  # unreadable or not YAML: its own error says so
        return {ANY}
    if not isinstance(data, dict):
        return {ANY}
    return {str(name) for key in ("destinations", "interventions")
            if isinstance(data.get(key), dict) for name in data[key]}


def _combine(parsed: list[tuple[str, Any, FileModel]], problems: list[str],
             unloaded: frozenset[str] | set[str] = frozenset()) -> Config:
    """Merge files: destinations and interventions are shared by name; query ids are unique.
    A name in *unloaded* (declared by a file that failed) is not reported unknown again."""
    config = Config()
    interventions: dict[str, Intervention] = {}
    seen_ids: dict[str, str] = {}
    renamed: list[tuple[str, Any, str]] = []  # (path, raw, destination) with renamed_from
    for path, raw, model in parsed:
        for kind, table, target in (
            ("destination", model.destinations, config.destinations),
            ("intervention", model.interventions, interventions),
        ):
            for name, item in table.items():
                line = _line_of(raw, (kind + "s", name))
                if not re.match(SLUG, name):
                    problems.append(f"{path}:{line}: {kind} name {name!r} must be lower-case "
                                    "letters, digits, '-' or '_'")
                if name in target:
                    problems.append(f"{path}:{line}: {kind} {name!r} is defined twice")
                if kind == "destination" and name == "terminal":
                    problems.append(f"{path}:{line}: the destination name 'terminal' is "
                                    "reserved for the built-in terminal digest")
                target[name] = item
                if kind == "destination":
                    item.name = name
                    if item.renamed_from:
                        renamed.append((path, raw, name))
    for path, raw, model in parsed:
        defaults = model.defaults
        for index, q in enumerate(model.queries):
            loc: tuple[Any, ...] = ("queries", index)
            if q.id in seen_ids:
                problems.append(f"{path}:{_line_of(raw, (*loc, 'id'))}: duplicate query id "
                                f"{q.id!r} (first defined in {seen_ids[q.id]})")
                continue
            seen_ids[q.id] = path
            intervention_name = q.intervention or defaults.intervention
            intervention = None
            if intervention_name:
                intervention = interventions.get(intervention_name)
                if intervention is None and not unloaded & {intervention_name, ANY}:
                    where = (*loc, "intervention") if q.intervention else ("defaults",
                                                                            "intervention")
                    problems.append(f"{path}:{_line_of(raw, where)}: query {q.id!r} uses unknown "
                                    f"intervention {intervention_name!r} (defined: "
                                    f"{', '.join(sorted(interventions)) or 'none'})")
            routes = q.destinations if q.destinations is not None else defaults.destinations
            for i, dest in enumerate(routes or []):
                if dest not in config.destinations and not unloaded & {dest, ANY}:
                    where = (*loc, "destinations", i) if q.destinations is not None else (
                        "defaults", "destinations", i)
                    retired = any(dest in other.retired for _, _, other in parsed)
                    problems.append(f"{path}:{_line_of(raw, where)}: query {q.id!r} routes to "
                                    + (f"destination {dest!r}, which is retired; drop it from "
                                       "the query's destinations" if retired else
                                       f"unknown destination {dest!r} (defined: "
                                       f"{', '.join(sorted(config.destinations)) or 'none'})"))
            sources = {
                name: options
                for name in REGISTRY
                if (options := getattr(q.sources, name)) is not None and options.enabled
            }
            for name, options in sources.items():
                terms = getattr(intervention, name, None) if intervention else None
                for problem in options.problems(terms):
                    problems.append(f"{path}:{_line_of(raw, (*loc, 'sources', name))}: "
                                    f"query {q.id!r} {problem}")
            if not q.enabled:
                continue
            config.queries.append(Query(
                id=q.id,
                condition=q.condition,
                path=path,
                sources=sources,
                destinations=tuple(routes or ()),
                lookback_days=q.lookback_days or defaults.lookback_days,
                filters=q.filters or defaults.filters or Filters(),
                intervention=intervention,
            ))
    _check_renames(config, renamed, problems)
    _check_retired(config, parsed, problems)
    return config


def _check_retired(config: Config, parsed: list[tuple[str, Any, FileModel]],
                   problems: list[str]) -> None:
    """A retired name must be gone from the YAML and claimed by no ``renamed_from``: its
    items are either set aside or moved, never both."""
    live, renames = config.all_destinations(), config.renames()
    retired: list[str] = []
    for path, raw, model in parsed:
        for index, old in enumerate(model.retired):
            where = f"{path}:{_line_of(raw, ('retired', index))}: retired {old!r}"
            if not re.match(SLUG, old):
                problems.append(f"{where} is not a destination name (lower-case letters, "
                                "digits, '-' or '_')")
            elif old == TERMINAL.name and old in live:  # nobody wrote it: say who uses it
                nowhere = next(q.id for q in config.queries if not q.destinations)
                problems.append(f"{where} still receives the digest of query {nowhere!r}, "
                                "which names no destination; give it destinations, or drop "
                                "terminal from retired")
            elif old in live:
                problems.append(f"{where} is still a destination in the YAML; remove it "
                                "first, or drop it from retired")
            elif old in renames:
                problems.append(f"{where} is also in renamed_from of destination "
                                f"{renames[old]!r}: its items either move or are set aside")
            elif old not in retired:
                retired.append(old)
    config.retired = tuple(retired)


def _check_renames(config: Config, renamed: list[tuple[str, Any, str]],
                   problems: list[str]) -> None:
    """An old name in ``renamed_from`` must be gone from the YAML, and claimed once: its items
    move to exactly one destination."""
    live = config.all_destinations()
    claimed: dict[str, str] = {}
    for path, raw, name in renamed:
        line = _line_of(raw, ("destinations", name, "renamed_from"))
        for old in config.destinations[name].renamed_from:
            where = f"{path}:{line}: destination {name!r}: renamed_from {old!r}"
            if not re.match(SLUG, old):
                problems.append(f"{where} is not a destination name (lower-case letters, "
                                "digits, '-' or '_')")
            elif old == name:
                problems.append(f"{where} is its own name")
            elif old in live and name in live[old].renamed_from:
                problems.append(f"{where}, and {old!r} renamed_from {name!r}: two names cannot "
                                "be swapped in one edit; rename one to a temporary name and "
                                "run, then the other, then the temporary one")
            elif old in live:
                problems.append(f"{where} is still a destination in the YAML; remove "
                                f"{old!r}, or drop renamed_from")
            elif old in claimed:
                problems.append(f"{where} is also claimed by destination {claimed[old]!r}; "
                                "an old name's items can move to one destination only")
            else:
                claimed[old] = name


def _untagged(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic puts a destination's kind (the union's tag) in an error's path, after its
    name; the YAML has no such key."""
    if len(loc) > 2 and loc[0] == "destinations" and (loc[2] in KINDS or loc[2] == UNKNOWN_KIND):
        return (*loc[:2], *loc[3:])
    return loc


def _known_keys() -> list[str]:
    models = [Schedule, *options_models(), Intervention, Sources, Filters, Defaults, QueryModel,
              FileModel, *(spec.options for spec in REGISTRY.values())]
    return sorted({name for model in models for name in model.model_fields})
