"""The process-wide log of every request the sandbox answers, for tests and diagnostics."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from moto.core.utils import utcnow

__all__ = ["RecordedCall", "RequestLog", "request_log"]


@dataclass(frozen=True)
class RecordedCall:
    """One request the sandbox answered."""

    seq: int
    service: str
    action: str | None
    status: int
    access_key_id: str | None
    method: str
    path: str
    at: datetime
    # The region the request was signed for (None: unsigned).
    region: str | None = None


class RequestLog:
    """Thread-safe, in-memory log of handled requests, oldest first.

    ``mark()`` returns a position that survives ``clear()``, so ``since(mark)`` is always the
    calls made after the mark that are still in the log. Only the newest ``max_calls`` are
    kept, so a long-running sandbox does not grow without bound.
    """

    def __init__(self, max_calls: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._calls: deque[RecordedCall] = deque(maxlen=max_calls)
        self._next_seq = 0

    def record(
        self,
        *,
        service: str,
        action: str | None,
        status: int,
        access_key_id: str | None = None,
        method: str = "POST",
        path: str = "/",
        region: str | None = None,
    ) -> RecordedCall:
        with self._lock:
            call = RecordedCall(
                seq=self._next_seq,
                service=service,
                action=action,
                status=status,
                access_key_id=access_key_id,
                method=method,
                path=path,
                at=utcnow(),
                region=region,
            )
            self._next_seq += 1
            self._calls.append(call)
            return call

    def calls(self, *, service: str | None = None, action: str | None = None) -> list[RecordedCall]:
        with self._lock:
            snapshot = list(self._calls)
        return [
            c
            for c in snapshot
            if (service is None or c.service == service) and (action is None or c.action == action)
        ]

    def actions(self, *, service: str | None = None) -> list[str]:
        """Action names in order, skipping requests that carried none."""
        return [c.action for c in self.calls(service=service) if c.action]

    def count(self, action: str, *, service: str | None = None) -> int:
        return len(self.calls(service=service, action=action))

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def mark(self) -> int:
        with self._lock:
            return self._next_seq

    def since(self, mark: int) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self._calls if c.seq >= mark]

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)


_REQUEST_LOG = RequestLog()


def request_log() -> RequestLog:
    """The process-wide log; moto's state is process-wide too, so one log serves all."""
    return _REQUEST_LOG
