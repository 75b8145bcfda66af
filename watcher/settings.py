"""Runtime settings from the environment (the only place secrets come from).

This module declares only the core's own variables. Each source and each destination kind
declares its own (``SourceSpec.settings``, ``DestinationSpec.settings``); they are read here with
the rest, so one start reports every bad variable together.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from . import destinations as kinds
from .errors import ConfigError
from .lookups.settings import LookupSettings
from .sources import REGISTRY
from .variables import EnvSettings, Variable

LOG_FORMATS = ("text", "json")
#: Variables whose values are secrets: never echoed, even in an error about the value.
SECRET_VARIABLES = (*(variable.name for spec in REGISTRY.values()
                      for variable in spec.settings.variables.values() if variable.secret),
                    *(variable.name for variable in kinds.VARIABLES if variable.secret))


def _default_sources() -> dict[str, EnvSettings]:
    return {name: spec.settings() for name, spec in REGISTRY.items()}


@dataclass(frozen=True)
class Settings:
    queries: str = "queries/"
    db: str = "state/watcher.db"
    #: Each source's own settings (URL, rate, keys), by source name: see ``source()``.
    sources: Mapping[str, EnvSettings] = field(default_factory=_default_sources)
    #: Each destination kind's own settings (token, server), by kind: see ``destination()``.
    destinations: Mapping[str, EnvSettings] = field(default_factory=kinds.default_settings)
    #: The look-ups after a poll (Crossref, bioRxiv): see watcher.lookups.
    lookups: LookupSettings = field(default_factory=LookupSettings)
    http_timeout: float = 30.0
    poll_timeout: float = 3600.0  # seconds one poll of one (query, source) may take in all
    max_response_mb: float = 200.0  # largest answer read from a source, decoded
    retry_backoff: float = 2.0  # first retry wait in seconds (doubles); Retry-After wins
    overlap_days: int = 2  # each poll re-reads this many days before its last window's end
    #: Hours between two corrections searches of a query (PubMed's by modification date; 0:
    #: every run): see watcher.poll_run.
    corrections_every_hours: float = 24.0
    poll_every: float = 180.0  # `serve`: minutes between two polls of every query
    lease_seconds: float = 120.0  # `serve`: a worker's lease expires this long after renewal
    stop_grace: float = 20.0  # `serve`: seconds a stop waits for the current step, then abandons it
    digest_retry: float = 300.0  # `serve`: seconds before a failed digest is tried again (doubling)
    health_failing_hours: float = 24.0  # `health`: a source failing longer than this is a problem
    health_min_free_mb: float = 50.0  # `health`: less free space by the database is a problem
    log_format: str = "text"  # `serve`'s log lines: text or json
    archive_dir: str | None = None  # `serve`: rebuild the static archive here after a digest
    archive_url: str | None = None  # where that archive is served: digests link into it

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check the environment; raise ConfigError listing every bad variable."""
        env = os.environ if env is None else env
        problems: list[str] = []

        def get(name: str) -> str | None:
            return Variable.text(name).raw(env)

        def seconds(name: str, default: float, *, zero_ok: bool, unit: str = "seconds"
                    ) -> float:
            return Variable.number(name, default, zero_ok=zero_ok, unit=unit).read(env, problems)

        log_format = (get("WATCHER_LOG_FORMAT") or "text").lower()
        if log_format not in LOG_FORMATS:
            problems.append(f"WATCHER_LOG_FORMAT={get('WATCHER_LOG_FORMAT')!r} must be one of "
                            f"{', '.join(LOG_FORMATS)}")
        settings = cls(
            queries=get("WATCHER_QUERIES") or cls.queries,
            db=get("WATCHER_DB") or cls.db,
            sources={name: spec.settings.from_env(env, problems)
                     for name, spec in REGISTRY.items()},
            destinations=kinds.settings_from_env(env, problems),
            lookups=LookupSettings.from_env(env, problems),
            http_timeout=seconds("WATCHER_HTTP_TIMEOUT", cls.http_timeout, zero_ok=False),
            poll_timeout=seconds("WATCHER_POLL_TIMEOUT", cls.poll_timeout, zero_ok=False),
            max_response_mb=seconds("WATCHER_MAX_RESPONSE_MB", cls.max_response_mb,
                                    zero_ok=False, unit="megabytes"),
            retry_backoff=seconds("WATCHER_RETRY_BACKOFF", cls.retry_backoff, zero_ok=True),
            poll_every=seconds("WATCHER_POLL_EVERY", cls.poll_every, zero_ok=False,
                               unit="minutes"),
            lease_seconds=seconds("WATCHER_LEASE_SECONDS", cls.lease_seconds, zero_ok=False),
            stop_grace=seconds("WATCHER_STOP_GRACE", cls.stop_grace, zero_ok=True),
            digest_retry=seconds("WATCHER_DIGEST_RETRY", cls.digest_retry, zero_ok=False),
            corrections_every_hours=seconds("WATCHER_CORRECTIONS_EVERY_HOURS",
                                            cls.corrections_every_hours, zero_ok=True,
                                            unit="hours"),
            health_failing_hours=seconds("WATCHER_HEALTH_FAILING_HOURS",
                                         cls.health_failing_hours, zero_ok=True, unit="hours"),
            health_min_free_mb=seconds("WATCHER_HEALTH_MIN_FREE_MB", cls.health_min_free_mb,
                                       zero_ok=True, unit="megabytes"),
            log_format=log_format,
            archive_dir=get("WATCHER_ARCHIVE_DIR") or None,
            archive_url=_archive_url(get("WATCHER_ARCHIVE_URL"), problems),
        )
        if problems:
            raise ConfigError(problems)
        return settings

    def source(self, name: str) -> Any:
        """The settings of source *name* (its module's settings class)."""
        return self.sources[name]

    def with_source(self, name: str, **changes: object) -> Settings:
        """These settings with some of source *name*'s own changed."""
        return replace(self, sources={**self.sources,
                                      name: self.sources[name].with_(**changes)})

    def destination(self, kind: str) -> Any:
        """The settings of destination kind *kind* (its module's settings class)."""
        return self.destinations[kind]

    def with_destination(self, kind: str, **changes: object) -> Settings:
        """These settings with some of destination kind *kind*'s own changed (for every kind
        sharing its settings class: one variable, one value)."""
        old = self.destinations[kind]
        new = old.with_(**changes)
        return replace(self, destinations={k: new if type(v) is type(old) else v
                                           for k, v in self.destinations.items()})

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be printed, logged or stored."""
        return tuple(dict.fromkeys(s for part in (*self.sources.values(),
                                                  *self.destinations.values())
                                   for s in part.secrets()))

    def without_secrets(self) -> Settings:
        """The demo uses this so it can never post to a real team channel."""
        return replace(self, sources={name: source.without_secrets()
                                      for name, source in self.sources.items()},
                       destinations={kind: own.without_secrets()
                                     for kind, own in self.destinations.items()})

    def with_(self, **changes: object) -> Settings:
        names = {f.name for f in fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **changes)  # type: ignore[arg-type]


def secrets_in_env(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The secret values in the environment, read without checking anything else: used to hide
    them from an error message when the settings themselves could not be built."""
    env = os.environ if env is None else env
    sources = [s for spec in REGISTRY.values() for s in spec.settings.secrets_in(env)]
    return tuple(dict.fromkeys((*sources, *kinds.secrets_in(env))))


def _archive_url(value: str | None, problems: list[str]) -> str | None:
    """The archive's base address, without a trailing '/'; an address that is not http(s)
    is a problem (a reader's link must open)."""
    if not value:
        return None
    value = value.strip().rstrip("/")
    if not re.match(r"https?://[^\s\"'<>]+$", value, re.IGNORECASE):
        problems.append(f"WATCHER_ARCHIVE_URL={value!r} must be an http(s) address")
        return None
    return value
