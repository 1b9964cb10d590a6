"""Counting a scan's API calls per region and operation (the README's cost table, the batch's
proof that one scan serves every user)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_counter: ContextVar[Counter[str] | None] = ContextVar("offboard_reference_calls", default=None)
# A scan's reads run on several threads that count into one counter.
_lock = threading.Lock()


def _count(model: Any = None, **_: Any) -> None:
    counter = _counter.get()
    if counter is not None and model is not None:
        with _lock:
            counter[f"{model.service_model.service_name}:{model.name}"] += 1


def counted(client: Any) -> Any:
    """The client, with its calls counted inside ``counting()`` (registered once per client)."""
    client.meta.events.register("before-call", _count, unique_id="offboard-reference-calls")
    return client


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Within, calls made by counted clients in this context are counted ("service:Operation")."""
    counter: Counter[str] = Counter()
    token = _counter.set(counter)
    try:
        yield counter
    finally:
        _counter.reset(token)
