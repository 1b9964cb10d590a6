"""One IAM call rate for batches: a thread-safe token bucket that every IAM call made inside
``iam_rate_limit()`` waits on (``iam_calls_per_second``; 0 means unlimited).

A batch runs all its users in one process, so a local bucket holds the rate without a round trip
to Prefect's server for every call. The bucket is the engine's (config.engine): batches running
side by side in one process share it. Single-user runs are not limited.

Every HTTP attempt waits its turn (botocore's own retries too: IAM counts each request), just
before it is sent, after the request is built and signed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from config.engine import engine

# The bucket paces this share below the limit, so that a caller sending a little after its turn
# next to one on time stays under it.
HEADROOM = 0.02

# A caller woken much later than its turn (the GIL, a loaded machine) would send beside those on
# time: before it sends, it is admitted only while its window of sends holds fewer than the
# limit allows (the benchmark's busiest-window measure).
WINDOW_SECONDS = 5.0


@dataclass(frozen=True)
class LimiterStats:
    calls: int
    waited_seconds: float


class TokenBucket:
    """At most ``rate`` calls a second: tokens come at ``rate * (1 - headroom)`` a second, the
    bucket holds at most ``burst``, each call takes one; and no ``WINDOW_SECONDS`` of sends holds
    more than ``rate`` calls a second.

    A caller reserves its token under the lock and sleeps outside it, so waiting threads are
    served in arrival order and none holds the lock while asleep. Woken, it is admitted under
    the lock and its send is counted in the window then.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        headroom: float = HEADROOM,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if not 0 <= headroom < 1:
            raise ValueError("headroom must be at least 0 and below 1")
        self.rate = rate
        self.pace = rate * (1 - headroom)
        self.burst = burst
        self.per_window = max(1, int(rate * WINDOW_SECONDS))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = burst
        self._stamp = clock()
        self._sent: deque[float] = deque()
        self._calls = 0
        self._waited = 0.0

    def acquire(self) -> float:
        """Take one token, waiting for it if need be; returns the seconds waited."""
        waited = wait = self.reserve()
        while wait > 0:
            self._sleep(wait)
            wait = self.admit()
            waited += wait
        return waited

    def reserve(self) -> float:
        """Take the next token; the seconds until its turn (0: admitted already)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.pace)
            self._stamp = now
            self._tokens -= 1
            wait = -self._tokens / self.pace if self._tokens < 0 else 0.0
            self._calls += 1
            self._waited += wait
            if wait == 0.0:
                wait = self._admit(now)
        return wait

    def admit(self) -> float:
        """After the turn's wait: 0 when the call may be sent now (it is counted as sent), else
        the seconds until its window has room."""
        with self._lock:
            return self._admit(self._clock())

    def _admit(self, now: float) -> float:
        # One sum decides and measures the wait, so a wait is never a rounded 0.
        while self._sent and self._sent[0] + WINDOW_SECONDS <= now:
            self._sent.popleft()
        if len(self._sent) < self.per_window:
            self._sent.append(now)
            return 0.0
        wait = self._sent[0] + WINDOW_SECONDS - now
        self._waited += wait
        return wait

    def stats(self) -> LimiterStats:
        with self._lock:
            return LimiterStats(calls=self._calls, waited_seconds=self._waited)


def iam_rate_limiter() -> TokenBucket | None:
    """The engine's IAM bucket at the ``iam_calls_per_second`` setting; None when unlimited.
    Reloaded settings build a new engine, and with it a new bucket."""
    return engine().limiter


_active: ContextVar[TokenBucket | None] = ContextVar("offboard_iam_rate", default=None)


@contextmanager
def iam_rate_limit() -> Iterator[TokenBucket | None]:
    """IAM calls in this context, and in threads that copy it, share the process's bucket."""
    token = _active.set(iam_rate_limiter())
    try:
        yield _active.get()
    finally:
        _active.reset(token)


def throttle_iam_call(**_: Any) -> None:
    """botocore ``before-send`` hook: inside iam_rate_limit(), wait for the request's turn."""
    limiter = _active.get()
    if limiter is not None:
        limiter.acquire()
