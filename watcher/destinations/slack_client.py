"""Talking to Slack, for both senders: their settings (SLACK_*, WATCHER_SLACK_INTERVAL), slack_sdk
clients that retry a short 429 after its
Retry-After, pacing of about one message per second per channel, and turning ``ok: false`` (or
a webhook's error body) into one DeliveryError line naming the destination, Slack's error code
and what to do, never the token or the webhook URL.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from ..errors import DeliveryError
from ..render import slack as render
from ..variables import EnvSettings, Variable
from .base import Part

if TYPE_CHECKING:
    from ..digest import Digest

DEFAULT_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class SlackSettings(EnvSettings):
    """What both Slack kinds read from the environment (one class, so each variable is read
    and reported once): the bot's token and API, the webhook, and the pace of posts."""

    api_url: str = DEFAULT_API_URL
    bot_token: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)
    interval: float = 1.0  # seconds between two Slack posts to one channel

    variables = {
        "api_url": Variable.http_url("SLACK_API_URL", DEFAULT_API_URL),
        "bot_token": Variable.text("SLACK_BOT_TOKEN", secret=True),
        "webhook_url": Variable.http_url("SLACK_WEBHOOK_URL", secret=True),
        "interval": Variable.number("WATCHER_SLACK_INTERVAL", 1.0, zero_ok=True),
    }


RATE_LIMIT_RETRIES = 5
#: Longest Retry-After waited for; a longer (or unreadable) one fails the part, which stays
#: pending, rather than putting the run and every later destination to sleep.
MAX_RETRY_AFTER = 60.0
#: A Slack channel id (what the API answers), as opposed to the '#name' the YAML may give.
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{6,}")

#: Slack error code -> what the operator should do (the items stay pending either way).
ADVICE = {
    "channel_not_found": "the channel {channel} was not found: check 'channel' in the YAML",
    "not_in_channel": "the bot is not a member of {channel}: invite it (/invite @your-bot)",
    "is_archived": "the channel {channel} is archived",
    "invalid_auth": "SLACK_BOT_TOKEN was refused: check the token",
    "not_authed": "no SLACK_BOT_TOKEN was accepted: check the token",
    "token_revoked": "SLACK_BOT_TOKEN was revoked: install the app again",
    "account_inactive": "the bot's account is inactive: check the Slack app",
    "invalid_blocks": "Slack rejected the message layout",
    "msg_too_long": "Slack said the message is too long",
    "no_text": "Slack said the message has no text",
    "ratelimited": "Slack kept rate-limiting the channel",
    "missing_scope": "the token lacks a scope: give the app chat:write",
    "invalid_payload": "Slack could not read the message",
    "action_prohibited": "the workspace does not allow this webhook to post",
    "no_service": "the webhook URL is no longer valid: check SLACK_WEBHOOK_URL",
}

#: What differs for an incoming webhook, which is tied to one channel by its URL.
WEBHOOK_ADVICE = {
    "channel_not_found": "the webhook's channel no longer exists: create a new webhook and "
                         "set SLACK_WEBHOOK_URL",
    "channel_is_archived": "the webhook's channel is archived",
    "invalid_token": "the webhook URL was refused: check SLACK_WEBHOOK_URL",
}


def _retry_after(response: Any) -> float | None:
    """Seconds a 429 asks to wait (1 when it does not say), or None when unreadable."""
    for name, values in (response.headers or {}).items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) else values
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return seconds if 0 <= seconds < float("inf") else None
    return 1.0


class _RateLimitRetry(RateLimitErrorRetryHandler):
    """Retries a 429 after its Retry-After, but only a short wait that can be read."""

    def _can_retry(self, *, state: Any, request: Any, response: Any = None,
                   error: Exception | None = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response)
        return wait is not None and wait <= MAX_RETRY_AFTER

    def prepare_for_next_attempt(self, *, state: Any, request: Any, response: Any = None,
                                 error: Exception | None = None) -> None:
        state.next_attempt_requested = True
        time.sleep(_retry_after(response) or 1.0)
        state.increment_current_attempt()


class _Silent(logging.Filter):
    """slack_sdk logs each failed request as an ERROR of its own (a second, unattributed line
    beside the sender's) and, at debug level, the URL it calls, which for a webhook is the
    secret: the sender reports every failure itself, so nothing of the SDK's is shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


_sdk_log = logging.getLogger("watcher.destinations.slack.sdk")
_sdk_log.addFilter(_Silent())

_pace_lock = threading.Lock()
_last_post: dict[str, float] = {}


def pace(key: str, interval: float) -> None:
    """Wait until *interval* seconds have passed since the last post to the same channel
    answered (any sender in this process)."""
    with _pace_lock:
        wait = _last_post.get(key, -interval) + interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)


def posted(key: str) -> None:
    with _pace_lock:
        _last_post[key] = time.monotonic()


class SlackError(DeliveryError):
    """Slack answered ``ok: false`` (or a webhook error): *code* is Slack's error code."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def error_code(value: object) -> str:
    """Slack's error code as a short safe word (an error body is not trusted)."""
    found = re.match(r"[A-Za-z0-9_.:-]{1,60}", str(value or "").strip())
    return found.group(0) if found else "unknown_error"


def explain(destination: str, channel: str | None, code: str) -> str:
    """One line naming the destination, what Slack said and what to do (*channel* None: an
    incoming webhook)."""
    advice = (WEBHOOK_ADVICE.get(code) if channel is None else None) or ADVICE.get(
        code, "Slack refused the message").format(channel=channel or "the webhook's channel")
    return f"{destination}: {advice} ({code})"


def unreachable(destination: str, exc: Exception) -> str:
    reason = " ".join(str(getattr(exc, "reason", None) or exc or type(exc).__name__).split())
    return f"{destination}: Slack could not be reached ({reason[:120]})"


def parts(digest: Digest, *, threaded: bool) -> list[Part]:
    """The digest as the messages it is posted as (the Slack renderer's, one part each)."""
    return [Part(list(m.outbox_ids), m.payload(), render.readable(m), {"reply": m.reply})
            for m in render.render(digest, threaded=threaded)]


class BotClient:
    """The Web API with a bot token, for one destination's channel: every call's failure is
    one line; posts are paced per channel."""

    def __init__(self, name: str, channel: str, *, token: str | None, api_url: str,
                 timeout: float, interval: float):
        self.name = name
        self.channel = channel
        self.interval = interval
        base_url = api_url.rstrip("/") + "/"
        self.client = WebClient(
            token=token, base_url=base_url, timeout=timeout, logger=_sdk_log,
            retry_handlers=[_RateLimitRetry(max_retry_count=RATE_LIMIT_RETRIES)])
        self._pace_key = f"{base_url} {channel}"

    def call(self, method: str, **kwargs: Any) -> Any:
        paced = method == "chat_postMessage"
        if paced:
            pace(self._pace_key, self.interval)
        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            code = error_code(exc.response.get("error"))
            raise SlackError(explain(self.name, self.channel, code), code) from None
        except (SlackClientError, OSError) as exc:
            # A post whose answer timed out may have been kept: the core then asks recover().
            uncertain = paced and ("timed out" in str(exc).lower()
                                   or isinstance(exc, TimeoutError))
            raise DeliveryError(unreachable(self.name, exc), uncertain=uncertain) from None
        finally:
            if paced:
                posted(self._pace_key)


def webhook_client(url: str, *, timeout: float) -> WebhookClient:
    return WebhookClient(url, timeout=timeout, logger=_sdk_log,
                         retry_handlers=[_RateLimitRetry(max_retry_count=RATE_LIMIT_RETRIES)])
