"""Runtime settings from the environment (the only place secrets come from).

Each source declares its own variables and settings (``SourceSpec.settings``); they are read
here with the rest, so one start reports every bad variable together.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import ConfigError
from .sources import REGISTRY
from .variables import EnvSettings, Variable, url_password

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
SMTP_TLS_MODES = ("starttls", "ssl", "none")
LOG_FORMATS = ("text", "json")
#: Variables whose values are secrets: never echoed, even in an error about the value.
SECRET_VARIABLES = (*(variable.name for spec in REGISTRY.values()
                      for variable in spec.settings.variables.values() if variable.secret),
                    "SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL", "SMTP_PASSWORD")


def _default_sources() -> dict[str, EnvSettings]:
    return {name: spec.settings() for name, spec in REGISTRY.items()}


@dataclass(frozen=True)
class Settings:
    queries: str = "queries/"
    db: str = "state/watcher.db"
    #: Each source's own settings (URL, rate, keys), by source name: see ``source()``.
    sources: Mapping[str, EnvSettings] = field(default_factory=_default_sources)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_webhook_url: str | None = field(default=None, repr=False)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_tls: str = "starttls"
    email_from: str | None = None
    http_timeout: float = 30.0
    poll_timeout: float = 3600.0  # seconds one poll of one (query, source) may take in all
    max_response_mb: float = 200.0  # largest answer read from a source, decoded
    retry_backoff: float = 2.0  # first retry wait in seconds (doubles); Retry-After wins
    slack_interval: float = 1.0  # seconds between two Slack posts to one channel
    overlap_days: int = 2  # each poll re-reads this many days before its last window's end
    poll_every: float = 180.0  # `serve`: minutes between two polls of every query
    lease_seconds: float = 120.0  # `serve`: a worker's lease expires this long after renewal
    stop_grace: float = 20.0  # `serve`: seconds a stop waits for the current step, then abandons it
    digest_retry: float = 300.0  # `serve`: seconds before a failed digest is tried again (doubling)
    health_failing_hours: float = 24.0  # `health`: a source failing longer than this is a problem
    health_min_free_mb: float = 50.0  # `health`: less free space by the database is a problem
    log_format: str = "text"  # `serve`'s log lines: text or json

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

        def port(name: str, default: int) -> int:
            return Variable.port(name, default).read(env, problems)

        def url(name: str) -> str | None:
            return Variable.http_url(name, secret=name in SECRET_VARIABLES).read(env, problems)

        log_format = (get("WATCHER_LOG_FORMAT") or "text").lower()
        if log_format not in LOG_FORMATS:
            problems.append(f"WATCHER_LOG_FORMAT={get('WATCHER_LOG_FORMAT')!r} must be one of "
                            f"{', '.join(LOG_FORMATS)}")
        tls = (get("SMTP_TLS") or "starttls").lower()
        if tls not in SMTP_TLS_MODES:
            problems.append(f"SMTP_TLS={get('SMTP_TLS')!r} must be one of "
                            f"{', '.join(SMTP_TLS_MODES)}")
        settings = cls(
            queries=get("WATCHER_QUERIES") or cls.queries,
            db=get("WATCHER_DB") or cls.db,
            sources={name: spec.settings.from_env(env, problems)
                     for name, spec in REGISTRY.items()},
            slack_api_url=url("SLACK_API_URL") or DEFAULT_SLACK_API_URL,
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_webhook_url=url("SLACK_WEBHOOK_URL"),
            smtp_host=get("SMTP_HOST"),
            smtp_port=port("SMTP_PORT", cls.smtp_port),
            smtp_user=get("SMTP_USER"),
            smtp_password=get("SMTP_PASSWORD"),
            smtp_tls=tls,
            email_from=get("WATCHER_EMAIL_FROM"),
            http_timeout=seconds("WATCHER_HTTP_TIMEOUT", cls.http_timeout, zero_ok=False),
            poll_timeout=seconds("WATCHER_POLL_TIMEOUT", cls.poll_timeout, zero_ok=False),
            max_response_mb=seconds("WATCHER_MAX_RESPONSE_MB", cls.max_response_mb,
                                    zero_ok=False, unit="megabytes"),
            retry_backoff=seconds("WATCHER_RETRY_BACKOFF", cls.retry_backoff, zero_ok=True),
            slack_interval=seconds("WATCHER_SLACK_INTERVAL", cls.slack_interval, zero_ok=True),
            poll_every=seconds("WATCHER_POLL_EVERY", cls.poll_every, zero_ok=False,
                               unit="minutes"),
            lease_seconds=seconds("WATCHER_LEASE_SECONDS", cls.lease_seconds, zero_ok=False),
            stop_grace=seconds("WATCHER_STOP_GRACE", cls.stop_grace, zero_ok=True),
            digest_retry=seconds("WATCHER_DIGEST_RETRY", cls.digest_retry, zero_ok=False),
            health_failing_hours=seconds("WATCHER_HEALTH_FAILING_HOURS",
                                         cls.health_failing_hours, zero_ok=True, unit="hours"),
            health_min_free_mb=seconds("WATCHER_HEALTH_MIN_FREE_MB", cls.health_min_free_mb,
                                       zero_ok=True, unit="megabytes"),
            log_format=log_format,
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

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be printed, logged or stored."""
        own = (url_password(self.slack_api_url),)
        return tuple(v for v in (*(s for source in self.sources.values()
                                   for s in source.secrets()),
                                 self.slack_bot_token, self.slack_webhook_url,
                                 self.smtp_password, *own) if v)

    def without_secrets(self) -> Settings:
        """The demo uses this so it can never post to a real team channel."""
        return replace(self, sources={name: source.without_secrets()
                                      for name, source in self.sources.items()},
                       slack_bot_token=None, slack_webhook_url=None,
                       smtp_host=None, smtp_user=None, smtp_password=None)

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
    values = [env.get(name, "").strip() for name in ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL",
                                                     "SMTP_PASSWORD")]
    return tuple(v for v in (*sources, *values, url_password(env.get("SLACK_API_URL",
                                                                      "").strip())) if v)
