"""Secrets scrubbed in one place: error lines, log records and anything else shown to a person.

Two nets, because either alone leaks. Known values (NCBI_API_KEY, SLACK_BOT_TOKEN, ...) are
removed wherever they appear, also percent-encoded; and values that merely *look* secret are
removed by shape (URL user info, ``api_key=...``, ``"token": "..."``, ``Authorization: ...``,
Slack tokens and webhook URLs), so a secret we were never told about is still caught.

The CLI registers ``Settings.secrets()`` once at start-up with :func:`register_secrets`, so any
module can call :func:`scrub` without being handed the settings. Scrubbing is idempotent and
leaves ordinary text (a PubMed error, a URL without user info) untouched.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

from .printable import printable

MASK = "***"
# A known secret shorter than this is only removed where it stands alone (not inside a word):
# scrubbing every "pw" out of "pwd" or "npw" would make messages unreadable.
_SHORT = 8

_registry: set[str] = set()
_registry_lock = threading.Lock()

# Names whose value is a secret, in query strings, forms, JSON and Python reprs.
_NAME = r"[\w-]*?(?:api[-_]?key|token|passw(?:or)?d|secret|authorization)[\w-]*"

_Replacement = str | Callable[[re.Match[str]], str]

_PATTERNS: list[tuple[re.Pattern[str], _Replacement]] = [
    # https://user:pass@host/ -> https://***@host/
    (re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/\s@?#\"'<>]+@", re.IGNORECASE),
     rf"\g<scheme>{MASK}@"),
    # Slack incoming webhooks and workflow triggers (the path is the secret), plain or encoded.
    (re.compile(r"(?P<keep>hooks\.slack\.com(?:/|%2F)(?:services|workflows|triggers)(?:/|%2F))"
                r"[\w/%-]+", re.IGNORECASE),
     rf"\g<keep>{MASK}"),
    # Slack tokens by shape: xoxb-, xoxp-, xoxa-, xoxe-, xapp- ...
    (re.compile(r"\b(?P<keep>xox[a-z]|xapp)-[A-Za-z0-9-]+"), rf"\g<keep>-{MASK}"),
    # "api-key": "..." in JSON, 'token': '...' in a Python repr.
    (re.compile(rf"(?P<key>(?P<q>[\"']){_NAME}(?P=q)\s*:\s*)(?P<vq>[\"'])(?:\\.|(?!(?P=vq)).)*"
                rf"(?P=vq)", re.IGNORECASE),
     rf"\g<key>\g<vq>{MASK}\g<vq>"),
    # Authorization: Bearer abc / Proxy-Authorization: Basic abc / Authorization=abc
    (re.compile(r"(?P<key>\b(?:proxy-)?authorization\s*[:=]\s*)"
                r"(?:(?P<scheme>bearer|basic|token|bot|digest)\s+)?[^\s,;\"'&]+", re.IGNORECASE),
     lambda m: f"{m['key']}{m['scheme'] + ' ' if m['scheme'] else ''}{MASK}"),
    # A bare bearer token (one that contains a digit, so "Bearer authentication" stays).
    (re.compile(r"\b(?P<keep>Bearer\s+)(?=[\w.~+/=-]*\d)[\w.~+/=-]{8,}"), rf"\g<keep>{MASK}"),
    # api_key=..., api-key=..., apikey=..., token=..., password=... in queries and forms.
    (re.compile(rf"(?P<key>(?<![\w-]){_NAME}=)[^&\s\"'<>;,]+", re.IGNORECASE),
     rf"\g<key>{MASK}"),
]


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values for the rest of the process; blanks and None are ignored."""
    with _registry_lock:
        _registry.update(v for v in values if _usable(v))


def known_secrets() -> tuple[str, ...]:
    """Every value registered so far."""
    with _registry_lock:
        return tuple(sorted(_registry))


def clear_secrets() -> None:
    """Forget every registered value (for tests, which share one process)."""
    with _registry_lock:
        _registry.clear()


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """*text* with the given and registered secrets, and anything shaped like one, masked."""
    if not text:
        return text
    values = {v for v in secrets if _usable(v)} | set(known_secrets())
    if values:
        text = _value_pattern(frozenset(values)).sub(MASK, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _usable(value: str | None) -> bool:
    """Blank values, and values made of the mask's own characters, cannot be scrubbed."""
    return bool(value and value.strip() and value.strip(MASK[0]))


@functools.lru_cache(maxsize=32)
def _value_pattern(values: frozenset[str]) -> re.Pattern[str]:
    """One regex for every form of every value, longest first (a webhook URL holds a token)."""
    forms: dict[str, bool] = {}  # regex -> is short
    for value in values:
        short = len(value) < _SHORT
        for form in {value, quote(value, safe=""), quote(value), quote_plus(value)}:
            forms[_encoded_regex(form)] = short
    alternatives = []
    for regex, short in sorted(forms.items(), key=lambda item: -len(item[0])):
        alternatives.append(rf"(?<![A-Za-z0-9]){regex}(?![A-Za-z0-9])" if short else regex)
    return re.compile("|".join(alternatives))


def _encoded_regex(form: str) -> str:
    """re.escape(form), but %2f matches %2F too: percent-escapes are case-insensitive."""
    parts = re.split(r"(%[0-9A-F]{2})", form)
    return "".join(
        f"%(?:{p[1:]}|{p[1:].lower()})" if re.fullmatch(r"%[0-9A-F]{2}", p) else re.escape(p)
        for p in parts)


class ScrubbingFilter(logging.Filter):
    """Rewrites a record's final message, traceback and stack through :func:`scrub`, and
    through printable.printable: a log line may quote a title or an upstream error, and
    its escape sequences must not reach the operator's terminal.

    Attach it to *handlers*: a filter on a logger does not see records propagated from its
    children, so a filter on the root logger alone would miss ``watcher.http``'s records.
    """

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad format args: still show (scrubbed) what we have
            message = f"{record.msg} {record.args}"
        record.msg = printable(scrub(message, self.secrets), lines=True)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = printable(scrub(record.exc_text, self.secrets), lines=True)
        if record.stack_info:
            record.stack_info = printable(scrub(record.stack_info, self.secrets), lines=True)
        return True


def install_log_scrubbing(logger: logging.Logger | None = None) -> ScrubbingFilter:
    """Attach one ScrubbingFilter to every handler of *logger* (the root logger by default).

    Call it after the handlers are configured (logging.basicConfig(force=True) replaces them);
    it is safe to call again and never adds a second filter to the same handler.
    """
    logger = logger or logging.getLogger()
    installed = ScrubbingFilter()
    for handler in logger.handlers:
        if not any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            handler.addFilter(installed)
    return installed
