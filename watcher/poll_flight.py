"""Requests in flight while a run goes on (watcher.poll_run): the searches sent together, the
next fetch asked for while one is stored. Each runs in a daemon thread, so Ctrl-C or a
stopping worker never waits for an answer still on its way, and in the caller's context (its
poll deadline, a `serve` job's log fields)."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from .models import SourceRecord
from .sources import TwoPhaseSource

T = TypeVar("T")


def in_background(name: str, task: Callable[..., T], *args: Any,
                  gate: AbstractContextManager[Any] | None = None) -> Future[T]:
    """*task* called with *args* in a daemon thread (within *gate*: a semaphore bounding how
    many are in flight); its result or error in the future returned."""
    future: Future[T] = Future()
    work = functools.partial(contextvars.copy_context().run, task, *args)
    threading.Thread(target=_settle, args=(future, work, gate or contextlib.nullcontext()),
                     daemon=True, name=name).start()
    return future


def _settle(future: Future[Any], work: Callable[[], Any],
            gate: AbstractContextManager[Any]) -> None:
    with gate:
        try:
            future.set_result(work())
        except BaseException as exc:  # handed to the caller, which records the failure
            future.set_exception(exc)


def batches(source: TwoPhaseSource, chunks: list[list[str]]
            ) -> Iterator[tuple[list[str], list[SourceRecord]]]:
    """Each chunk and its records, the next chunk's fetch already on its way when one is
    handed over (one ahead, never more: memory holds two batches); raises the first failing
    fetch's error. A chunk is asked for only once the one before it arrived, so a failing
    fetch stops the fetching: nothing after it is asked."""
    following: Future[list[SourceRecord]] | None = None
    for number, chunk in enumerate(chunks, start=1):
        records = following.result() if following is not None else source.fetch_ids(chunk)
        following = (in_background(f"{source.name}-fetch", source.fetch_ids, chunks[number])
                     if number < len(chunks) else None)
        yield chunk, records
