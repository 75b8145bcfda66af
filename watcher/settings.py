"""Runtime settings from the environment (the only place secrets come from)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from urllib.parse import urlsplit

from .errors import ConfigError

DEFAULT_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
DEFAULT_CTGOV_URL = "https://clinicaltrials.gov/api/v2/"
DEFAULT_ISRCTN_URL = "https://www.isrctn.com/api/"
DEFAULT_EUROPEPMC_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest/"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
SMTP_TLS_MODES = ("starttls", "ssl", "none")
LOG_FORMATS = ("text", "json")
#: Variables whose values are secrets: never echoed, even in an error about the value.
SECRET_VARIABLES = ("NCBI_API_KEY", "SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL", "SMTP_PASSWORD")


@dataclass(frozen=True)
class Settings:
    queries: str = "queries/"
    db: str = "state/watcher.db"
    eutils_url: str = DEFAULT_EUTILS_URL
    ctgov_url: str = DEFAULT_CTGOV_URL
    isrctn_url: str = DEFAULT_ISRCTN_URL
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
    poll_timeout: float = 3600.0  # seconds one poll of one (query, source) may take in all
    max_response_mb: float = 200.0  # largest answer read from a source, decoded
    retry_backoff: float = 2.0  # first retry wait in seconds (doubles); Retry-After wins
    slack_interval: float = 1.0  # seconds between two Slack posts to one channel
    ctgov_rate: float = 1.0  # requests per second to ClinicalTrials.gov
    isrctn_rate: float = 1.0  # requests per second to ISRCTN
    ncbi_rate: float | None = None  # requests/s to a local E-utilities; NCBI's own is capped
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
            value = env.get(name, "").strip()
            return value or None

        def seconds(name: str, default: float, *, zero_ok: bool, unit: str = "seconds"
                    ) -> float:
            value = get(name)
            if value is None:
                return default
            try:
                parsed = float(value)
            except ValueError:
                parsed = math.nan
            if not math.isfinite(parsed) or parsed < 0 or (parsed == 0 and not zero_ok):
                wanted = "0 or more" if zero_ok else "more than 0"
                problems.append(f"{name}={value!r} is not a number of {unit} ({wanted})")
                return default
            return parsed

        def port(name: str, default: int) -> int:
            value = get(name)
            if value is None:
                return default
            if not re.fullmatch(r"[0-9]{1,5}", value) or not 1 <= int(value) <= 65535:
                problems.append(f"{name}={value!r} is not a port number (1-65535)")
                return default
            return int(value)

        def url(name: str) -> str | None:
            value = get(name)
            if value is not None and not _is_http_url(value):
                shown = "" if name in SECRET_VARIABLES else f"={_without_user_info(value)!r}"
                problems.append(f"{name}{shown} is not an http(s) URL with a host")
                return None
            return value

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
            eutils_url=url("WATCHER_EUTILS_URL") or DEFAULT_EUTILS_URL,
            ctgov_url=url("WATCHER_CTGOV_URL") or DEFAULT_CTGOV_URL,
            isrctn_url=url("WATCHER_ISRCTN_URL") or DEFAULT_ISRCTN_URL,
            europepmc_url=url("WATCHER_EUROPEPMC_URL") or DEFAULT_EUROPEPMC_URL,
            slack_api_url=url("SLACK_API_URL") or DEFAULT_SLACK_API_URL,
            ncbi_email=get("NCBI_EMAIL"),
            ncbi_api_key=get("NCBI_API_KEY"),
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
            ctgov_rate=seconds("WATCHER_CTGOV_RATE", cls.ctgov_rate, zero_ok=False,
                               unit="requests per second"),
            isrctn_rate=seconds("WATCHER_ISRCTN_RATE", cls.isrctn_rate, zero_ok=False,
                                unit="requests per second"),
            ncbi_rate=seconds("WATCHER_NCBI_RATE", 0.0, zero_ok=False,
                              unit="requests per second") or None,
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

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be printed, logged or stored."""
        passwords = (_password(u) for u in (self.eutils_url, self.ctgov_url, self.isrctn_url,
                                             self.europepmc_url, self.slack_api_url))
        return tuple(v for v in (self.ncbi_api_key, self.slack_bot_token, self.slack_webhook_url,
                                 self.smtp_password, *passwords) if v)

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


def secrets_in_env(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The secret values in the environment, read without checking anything else: used to hide
    them from an error message when the settings themselves could not be built."""
    env = os.environ if env is None else env
    urls = [env.get(name, "") for name in ("WATCHER_EUTILS_URL", "WATCHER_CTGOV_URL",
                                           "WATCHER_ISRCTN_URL", "WATCHER_EUROPEPMC_URL",
                                           "SLACK_API_URL")]
    values = [env.get(name, "").strip() for name in SECRET_VARIABLES]
    return tuple(v for v in (*values, *(_password(u.strip()) for u in urls)) if v)


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number or too big)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _without_user_info(value: str) -> str:
    """The URL with anything before the last '@' of its address replaced, so a malformed URL
    can be echoed without its user name or password."""
    scheme, sep, rest = value.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        scheme, sep, rest = "", "", value
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"
