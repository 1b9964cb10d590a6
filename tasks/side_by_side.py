"""Independent reads at once: at real AWS latencies (tens of milliseconds a call) it is the wait
that counts, not the work, so reads that do not depend on each other wait side by side."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import Any, TypeVar

# One user's independent reads at once (the inventory's nine lists, the snapshot's documents,
# the review's key lookups); a batch runs several users, and every client's pool holds 64.
USER_READS_AT_ONCE = 9

T = TypeVar("T")
R = TypeVar("R")


def each(items: Iterable[T], read: Callable[[T], R], workers: int) -> list[R]:
    """``read(item)`` for every item, results in order, on up to ``workers`` threads; the first
    error raises once every read has ended.

    Each read runs in a copy of the caller's context, so it acts in the same account scope, on
    the same run's retry quota, and its calls are counted with the caller's."""
    listed = list(items)
    workers = min(workers, len(listed))
    if workers <= 1:
        return [read(item) for item in listed]
    contexts = [copy_context() for _ in listed]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="side-by-side") as pool:
        futures = [
            pool.submit(context.run, read, item)
            for context, item in zip(contexts, listed, strict=True)
        ]
    return [future.result() for future in futures]


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Each of ``calls`` (reads of different kinds), side by side as ``each`` runs them; their
    results in order."""
    return each(calls, lambda call: call(), len(calls))
