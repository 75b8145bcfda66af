"""A rate limit shared by every thread (and every query of a run) that asks one service."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """At most *rate* calls per second, shared by every thread that holds this limiter."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, margin: float = 0.1):
        # A small margin: requests spaced exactly 1/rate apart still land `rate + 1` in one
        # second on the server's clock once network jitter is added.
        self.interval = (1.0 + margin) / rate
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            wait = self._next - now
            self._next = max(now, self._next) + self.interval
        if wait > 0:
            self._sleep(wait)

    def slow_to(self, interval: float) -> None:
        """Space calls at least *interval* seconds apart from now on, the next one included
        (a server's rate-limit headers asking for less than the configured rate)."""
        with self._lock:
            if interval > self.interval:
                self._next += interval - self.interval
                self.interval = interval
