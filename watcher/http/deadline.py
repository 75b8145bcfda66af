"""Deadlines: one for a whole poll (every request made inside ``poll_deadline``), and the
per-phase timeouts httpx is handed, capped by what is left of the attempt's own deadline."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class PollDeadline:
    at: float  # time.monotonic() by which every request of the poll must be done
    seconds: float


_POLL_DEADLINE: ContextVar[PollDeadline | None] = ContextVar("watcher_poll_deadline",
                                                             default=None)


@contextlib.contextmanager
def poll_deadline(seconds: float) -> Iterator[None]:
    """Every request made inside (in this thread) must be done within *seconds* of entering:
    a source that keeps paging, or keeps being answered slowly, fails its poll with one line
    instead of running for ever and holding up every later job of `serve`."""
    token = _POLL_DEADLINE.set(PollDeadline(time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _POLL_DEADLINE.reset(token)


def current_poll() -> PollDeadline | None:
    """The deadline of the poll this thread is in, if any."""
    return _POLL_DEADLINE.get()


def out_of_time(label: str, poll: PollDeadline | None) -> str:
    seconds = f"{poll.seconds:g}s" if poll else "its time"
    return (f"{label}: the poll ran past its deadline ({seconds}, WATCHER_POLL_TIMEOUT); "
            "stopped")


class Remaining(dict):
    """httpx's timeout extension ({connect, read, write, pool}) whose every value is capped, at
    the moment httpcore looks it up (once per phase), by what is left of *deadline*."""

    def __init__(self, deadline: float, timeout: float):
        super().__init__(connect=timeout, read=timeout, write=timeout, pool=timeout)
        self.deadline = deadline

    def get(self, key: str, default: float | None = None) -> float | None:
        try:
            return self[key]
        except KeyError:
            return default

    def __getitem__(self, key: str) -> float:
        left = self.deadline - time.monotonic()
        return max(0.001, min(super().__getitem__(key), left))
