"""The CLI's per-invocation state and the options every command shares: --db and --queries,
which win over WATCHER_DB and WATCHER_QUERIES (the defaults) for that one command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from . import config
from .db import Store
from .redact import register_secrets
from .settings import Settings, secrets_in_env


class Context:
    """Per-invocation state. The environment is read on first use, inside a command, so that
    `--help` and `--version` work whatever it holds and its errors get the usual handling."""

    def __init__(self, debug: bool):
        self.debug = debug
        self._settings: Settings | None = None
        #: --db / --queries given on the command line: they win over WATCHER_DB / WATCHER_QUERIES.
        self.paths: dict[str, str] = {}

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_env().with_(**self.paths)
            register_secrets(self._settings.secrets())
        return self._settings

    @property
    def db_setting(self) -> str:
        """What set the database's path, for an error about it: the option or the variable."""
        return "--db" if "db" in self.paths else "WATCHER_DB"

    def secrets(self) -> tuple[str, ...]:
        """What to hide from an error message, even when the settings could not be built."""
        return self._settings.secrets() if self._settings else secrets_in_env()

    def config(self) -> config.Config:
        return config.load(self.settings.queries)

    def store(self) -> Store:
        return Store(self.settings.db, setting=self.db_setting)

    def reader(self) -> Store:
        """The database for a command that only reads it (`status`, `health`): never created,
        migrated or waited on behind a writer; a read-only file can still be inspected."""
        return Store.reading(self.settings.db, setting=self.db_setting)


def _set_path(name: str) -> Callable[[click.Context, click.Parameter, str | None], None]:
    """A --db / --queries callback: record the path so it wins over the environment variable."""

    def callback(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None:
            ctx.ensure_object(Context).paths[name] = value

    return callback


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--db", type=click.Path(dir_okay=False), metavar="FILE",
                        expose_value=False, callback=_set_path("db"),
                        help="SQLite database (default: WATCHER_DB, or state/watcher.db).")(func)


def queries_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--queries", type=click.Path(), metavar="DIR", expose_value=False,
                        callback=_set_path("queries"),
                        help="Folder of YAML query files (default: WATCHER_QUERIES, or "
                             "queries/).")(func)


def paths(func: Callable[..., Any]) -> Callable[..., Any]:
    """Both --db and --queries, for a command that reads both."""
    return db_option(queries_option(func))
