"""Environment variables, declared once each: name, default, how a value is checked, whether it
is a secret. A leaf (it imports nothing of watcher), so any part that owns
settings (a source, a destination kind) declares its own variables beside its code.

A bad value is never raised alone: it is added to the caller's list of problems, so one start
reports every bad variable together, and the variable falls back to its default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

#: check(value) -> the value to use; raises Invalid with the message's tail when it is bad.
Check = Callable[[str], Any]


class Invalid(ValueError):
    """A value that cannot be used: the text after ``NAME='value'`` in the problem reported."""


@dataclass(frozen=True)
class Variable:
    """One environment variable. *url*: its value may hold a password, which is then a secret
    too; *secret*: never echoed, even in an error about the value."""

    name: str
    check: Check
    default: Any = None
    secret: bool = False
    url: bool = False

    def raw(self, env: Mapping[str, str]) -> str | None:
        """The value as set, stripped; None when unset or blank."""
        return env.get(self.name, "").strip() or None

    def read(self, env: Mapping[str, str], problems: list[str]) -> Any:
        """The checked value, or the default (with a problem added when the value is bad)."""
        value = self.raw(env)
        if value is None:
            return self.default
        try:
            return self.check(value)
        except Invalid as exc:
            shown = value if not self.url else _without_user_info(value)
            shown = "" if self.secret else f"={shown!r}"
            problems.append(f"{self.name}{shown} {exc}")
            return self.default

    def secrets(self, value: Any) -> tuple[str, ...]:
        """What of *value* must never be printed: all of it for a secret, a URL's password."""
        if not value:
            return ()
        found = [str(value)] if self.secret else []
        if self.url and (password := url_password(str(value))):
            found.append(password)
        return tuple(found)

    # -- the kinds of values watcher reads ---------------------------------------------------

    @classmethod
    def text(cls, name: str, default: str | None = None, *, secret: bool = False) -> Variable:
        return cls(name, str, default, secret=secret)

    @classmethod
    def http_url(cls, name: str, default: str | None = None, *,
                 secret: bool = False) -> Variable:
        return cls(name, _http_url, default, secret=secret, url=True)

    @classmethod
    def number(cls, name: str, default: float | None, *, zero_ok: bool,
               unit: str = "seconds") -> Variable:
        """A finite number, 0 or more (*zero_ok*) or more than 0, of *unit*."""
        def check(value: str) -> float:
            try:
                parsed = float(value)
            except ValueError:
                parsed = math.nan
            if not math.isfinite(parsed) or parsed < 0 or (parsed == 0 and not zero_ok):
                wanted = "0 or more" if zero_ok else "more than 0"
                raise Invalid(f"is not a number of {unit} ({wanted})")
            return parsed
        return cls(name, check, default)

    @classmethod
    def choice(cls, name: str, choices: tuple[str, ...], default: str) -> Variable:
        """One of *choices*, in any case (read in lower case)."""
        def check(value: str) -> str:
            if value.lower() not in choices:
                raise Invalid(f"must be one of {', '.join(choices)}")
            return value.lower()
        return cls(name, check, default)

    @classmethod
    def port(cls, name: str, default: int) -> Variable:
        def check(value: str) -> int:
            if not re.fullmatch(r"[0-9]{1,5}", value) or not 1 <= int(value) <= 65535:
                raise Invalid("is not a port number (1-65535)")
            return int(value)
        return cls(name, check, default)


@dataclass(frozen=True)
class EnvSettings:
    """Base of a frozen settings dataclass whose fields are read from environment variables:
    ``variables`` maps each field to its Variable (a field without one keeps its default)."""

    variables: ClassVar[Mapping[str, Variable]] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str], problems: list[str]) -> Self:
        return cls(**{name: variable.read(env, problems)
                      for name, variable in cls.variables.items()})

    @classmethod
    def secrets_in(cls, env: Mapping[str, str]) -> tuple[str, ...]:
        """The secret values among these variables as set, read without checking them."""
        return tuple(secret for variable in cls.variables.values()
                     for secret in variable.secrets(variable.raw(env)))

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be printed, logged or stored."""
        return tuple(secret for name, variable in self.variables.items()
                     for secret in variable.secrets(getattr(self, name)))

    def without_secrets(self) -> Self:
        """The secret fields unset (a URL holding a password is kept: it names a server)."""
        return replace(self, **{name: None for name, variable in self.variables.items()
                                if variable.secret})

    def with_(self, **changes: Any) -> Self:
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **changes)


@dataclass(frozen=True)
class NoSettings(EnvSettings):
    """The settings of a part (a source, a destination kind) that reads no variable."""


def _http_url(value: str) -> str:
    if not is_http_url(value):
        raise Invalid("is not an http(s) URL with a host")
    return value


def is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number or too big)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def url_password(url: str) -> str | None:
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
