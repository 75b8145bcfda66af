"""Exceptions that carry a one-line, user-facing message and an exit status.

The CLI prints ``str(error)`` and exits with ``error.exit_code``; no traceback unless --debug.
"""

from __future__ import annotations

from .redact import scrub


class WatcherError(Exception):
    """Base for errors that are reported to the user as one clear line."""

    exit_code = 1


class ConfigError(WatcherError):
    """The saved queries could not be loaded; holds every problem found, one line each."""

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class UsageError(WatcherError):
    """The command was asked for something that does not exist (a query id, a destination)."""

    exit_code = 2


class SourceError(WatcherError):
    """A source could not be polled (network, HTTP status, malformed response)."""


class ParseError(SourceError):
    """A response arrived but could not be understood (malformed, truncated, error body)."""


class DeliveryError(WatcherError):
    """A destination did not accept a digest.

    *uncertain* means the destination may have kept the message anyway (its answer never
    came): the items stay 'sending', so the next run asks the destination before re-sending."""

    def __init__(self, message: str, *, uncertain: bool = False):
        super().__init__(message)
        self.uncertain = uncertain


class DatabaseError(WatcherError):
    """WATCHER_DB points at something watcher must not or cannot use as its database (another
    program's file, a newer watcher's, a folder, a read-only file); nothing was written."""

    exit_code = 2


class StorageError(WatcherError):
    """The database's own storage failed (a full disk, an I/O error, a read-only file system):
    a problem of this installation, never of the source or destination being worked on.
    *cause* is SQLite's or the system's reason ('database or disk is full')."""

    def __init__(self, message: str, *, cause: str = ""):
        super().__init__(message)
        self.cause = cause


def failure_line(exc: Exception, name: str) -> str:
    """A failure as one line, secrets scrubbed: our own errors as they are, anything else
    named as unexpected. Every failure the core reports, logs or stores passes through here."""
    if isinstance(exc, WatcherError):
        text = str(exc)
    else:
        text = f"{name}: unexpected {type(exc).__name__}: {exc}"
    return scrub(" ".join(text.split()))


def named(destination: str, error: str) -> str:
    """*error* naming its destination once (delivery errors often begin with it already)."""
    return error if error.startswith(f"{destination}: ") else f"{destination}: {error}"
