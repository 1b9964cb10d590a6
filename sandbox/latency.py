"""Per-call latency: real IAM answers in tens of milliseconds, loopback in about one, which hides
what concurrency buys. With a latency set, every AWS request waits that long before it is
answered; requests wait side by side (the server is threaded), as they do against AWS.
moto's own API (``/moto-api``: reset, state) answers at once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

_lock = threading.Lock()
_latency_seconds = 0.0


def set_latency_ms(milliseconds: float) -> None:
    """Delay every AWS request by ``milliseconds`` (0: answer at once). Per process."""
    if milliseconds < 0:
        raise ValueError("latency must be 0 or more milliseconds")
    global _latency_seconds
    with _lock:
        _latency_seconds = milliseconds / 1000


def latency_ms() -> float:
    return _latency_seconds * 1000


def delay_request(environ: dict[str, Any]) -> None:
    """Called by the WSGI hook for every request, before it is answered."""
    delay = _latency_seconds
    if delay > 0 and not str(environ.get("PATH_INFO", "/")).startswith("/moto-api"):
        time.sleep(delay)
