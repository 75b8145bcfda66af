"""A rate limit shared by every thread (and every query of a run) that asks one service."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """At most *rate* calls per second, shared by every thread that holds this limiter.

    By default calls are spaced evenly, (1 + *margin*) / *rate* seconds apart. With
    *per_second* (a service that counts requests per second, as NCBI does) up to ``int(rate)``
    calls may go together, as long as no more than that many fall in any (1 + *margin*)
    seconds: a run's first ten searches at 10/s need not wait 0.11 s each for a limit that
    only counts them per second. Both keep the same margin between a call and the one
    ``int(rate)`` calls later, so neither lands more than *rate* in one second on the server's
    clock."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, margin: float = 0.1,
                 per_second: bool = False):
        # A small margin: requests spaced exactly 1/rate apart still land `rate + 1` in one
        # second on the server's clock once network jitter is added.
        self.interval = (1.0 + margin) / rate
        self._burst = max(1, int(rate)) if per_second else 1
        # per_second: (1 + margin) s for int(rate) calls, whatever the rate's fraction (2.5/s
        # is two per 1.1 s, not two per 0.88 s: four in one second); below one a second, the
        # even spacing.
        self._window = max(self.interval, 1.0 + margin) if per_second else self.interval
        self._sent: deque[float] = deque(maxlen=self._burst)  # the last calls' times
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            at = now
            if self._sent:
                at = max(at, self._sent[-1])  # in the order asked
                if len(self._sent) == self._burst:
                    at = max(at, self._sent[0] + self._window)
            self._sent.append(at)
        if at > now:
            self._sleep(at - now)

    def slow_to(self, interval: float) -> None:
        """Space calls at least *interval* seconds apart from now on, the next one included
        (a server's rate-limit headers asking for less than the configured rate)."""
        with self._lock:
            if interval > self.interval:
                self.interval = self._window = interval
                self._burst = 1
                self._sent = deque(list(self._sent)[-1:], maxlen=1)
