"""Reading many resources' policies at once: one call per resource is the scan's cost, and at
real AWS latencies it is the wait that counts, not the work."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import TypeVar

from config.settings import get_settings

T = TypeVar("T")
R = TypeVar("R")


def each(items: Iterable[T], read: Callable[[T], R]) -> list[R]:
    """``read(item)`` for every item, in order, on up to ``reference_scan_concurrency`` threads.

    Each call runs in a copy of the caller's context, so it acts in the same account scope and
    its calls are counted with the caller's."""
    listed = list(items)
    workers = min(get_settings().reference_scan_concurrency, len(listed))
    if workers <= 1:
        return [read(item) for item in listed]
    contexts = [copy_context() for _ in listed]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="references") as pool:
        return list(
            pool.map(lambda pair: pair[0].run(read, pair[1]), zip(contexts, listed, strict=True))
        )
