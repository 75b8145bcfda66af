"""Runtime settings from the environment (the only place secrets come from)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from .errors import ConfigError

DEFAULT_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
DEFAULT_CTGOV_URL = "https://clinicaltrials.gov/api/v2/"
DEFAULT_EUROPEPMC_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest/"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class Settings:
    queries: str = "queries/"
    db: str = "state/watcher.db"
    eutils_url: str = DEFAULT_EUTILS_URL
    ctgov_url: str = DEFAULT_CTGOV_URL
    europepmc_url: str = DEFAULT_EUROPEPMC_URL
    slack_api_url: str = DEFAULT_SLACK_API_URL
    ncbi_email: str | None = None
    ncbi_api_key: str | None = field(default=None, repr=False)
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_webhook_url: str | None = field(default=None, repr=False)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_tls: str = "starttls"
    email_from: str | None = None
    http_timeout: float = 30.0
    retry_backoff: float = 2.0  # first retry wait in seconds (doubles); Retry-After wins
    overlap_days: int = 2  # each poll re-reads this many days before its last window's end

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def number(name: str, default: float) -> float:
            value = get(name)
            if value is None:
                return default
            try:
                parsed = float(value)
            except ValueError:
                parsed = -1.0
            if parsed < 0:
                raise ConfigError([f"{name}={value!r} is not a non-negative number"])
            return parsed

        return cls(
            queries=get("WATCHER_QUERIES") or cls.queries,
            db=get("WATCHER_DB") or cls.db,
            eutils_url=get("WATCHER_EUTILS_URL") or DEFAULT_EUTILS_URL,
            ctgov_url=get("WATCHER_CTGOV_URL") or DEFAULT_CTGOV_URL,
            europepmc_url=get("WATCHER_EUROPEPMC_URL") or DEFAULT_EUROPEPMC_URL,
            slack_api_url=get("SLACK_API_URL") or DEFAULT_SLACK_API_URL,
            ncbi_email=get("NCBI_EMAIL"),
            ncbi_api_key=get("NCBI_API_KEY"),
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_webhook_url=get("SLACK_WEBHOOK_URL"),
            smtp_host=get("SMTP_HOST"),
            smtp_port=int(number("SMTP_PORT", 587)),
            smtp_user=get("SMTP_USER"),
            smtp_password=get("SMTP_PASSWORD"),
            smtp_tls=(get("SMTP_TLS") or "starttls").lower(),
            email_from=get("WATCHER_EMAIL_FROM"),
            http_timeout=number("WATCHER_HTTP_TIMEOUT", cls.http_timeout),
            retry_backoff=number("WATCHER_RETRY_BACKOFF", cls.retry_backoff),
        )

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be printed, logged or stored."""
        return tuple(v for v in (self.ncbi_api_key, self.slack_bot_token,
                                 self.slack_webhook_url, self.smtp_password) if v)

    def without_secrets(self) -> Settings:
        """The demo uses this so it can never post to a real team channel."""
        return replace(self, ncbi_api_key=None, slack_bot_token=None, slack_webhook_url=None,
                       smtp_host=None, smtp_user=None, smtp_password=None)

    def with_(self, **changes: object) -> Settings:
        names = {f.name for f in fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **changes)  # type: ignore[arg-type]
