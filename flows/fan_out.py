"""Work over many items on a bounded pool of threads, each in a copy of this context, so that
Prefect's run context, the account scope and the log's bound fields follow the work.

A plain pool rather than Prefect's task runner: each user's work in a batch is a Prefect task
(retried, seen in the run) wrapped in what must stay outside it: the user's account scope and
retry quota, and the fallback to deactivation once the task has failed for good. The plan's
lookups use the same pool, inside the batch's run or outside any (its tests)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextvars import copy_context
from typing import TypeVar

from config.settings import get_settings

T = TypeVar("T")
R = TypeVar("R")


def fan_out(
    items: Sequence[T], work: Callable[[T], R], on_done: Callable[[R], None] | None = None
) -> list[R]:
    """``work`` over ``items`` on at most ``batch_concurrency`` threads, results in input order.

    Each thread runs in a copy of this context, so Prefect's run context, the account scope and
    the log's bound fields follow the work.
    """
    if not items:
        return []
    workers = min(get_settings().batch_concurrency, len(items))
    results: dict[int, R] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="offboard-batch") as pool:
        futures = {
            pool.submit(copy_context().run, work, item): index for index, item in enumerate(items)
        }
        for future in as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            if on_done is not None:
                on_done(result)
    return [results[index] for index in range(len(items))]
