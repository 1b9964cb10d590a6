"""botocore's retry quota, one per run instead of one per client.

In standard and adaptive mode botocore gives each client a retry quota (500 units; a retry takes
5 after throttling and 14 after other errors, a success gives some back), so that a client stops
retrying when most of its calls fail. A batch's users share the engine's clients (making a pair
of clients per user cost more CPU than any other part of a user's run but Prefect's); inside
``own_retry_quota()`` a run draws on a quota of its own, as a run with clients of its own would,
so one user's faults never spend the retries of the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from botocore.retries.quota import RetryQuota

_run_quota: ContextVar[RetryQuota | None] = ContextVar("offboard_retry_quota", default=None)


class RunRetryQuota(RetryQuota):
    """A client's quota that hands each call to the quota of the run making it; calls outside
    ``own_retry_quota()`` share the client's own, as botocore's do."""

    def acquire(self, capacity_amount: int) -> bool:
        run = _run_quota.get()
        return run.acquire(capacity_amount) if run is not None else super().acquire(capacity_amount)

    def release(self, capacity_amount: int) -> None:
        run = _run_quota.get()
        if run is not None:
            run.release(capacity_amount)
        else:
            super().release(capacity_amount)

    @property
    def available_capacity(self) -> int:
        run = _run_quota.get()
        capacity: int = run.available_capacity if run is not None else super().available_capacity
        return capacity


def quota_per_run(client: Any) -> None:
    """Make ``client``'s retry quota follow the run (no quota in legacy mode: nothing to do).

    botocore has no setting for the quota: it sits on the retry handler the client registered
    for ``needs-retry`` (``retry-config-<service>``), which this reaches and checks.
    """
    if client.meta.config.retries.get("mode") not in ("standard", "adaptive"):
        return
    service = client.meta.service_model.service_id.hyphenize()
    registered = client.meta.events._emitter._unique_id_handlers[f"retry-config-{service}"]
    checker = registered["handler"].__self__._retry_quota
    if not isinstance(checker._quota, RetryQuota):
        raise TypeError(f"botocore's retry handler changed: {type(checker._quota).__name__}")
    checker._quota = RunRetryQuota()


@contextmanager
def own_retry_quota() -> Iterator[RetryQuota]:
    """Within (and in threads that copy this context), botocore retries draw on a fresh quota."""
    quota = RetryQuota()
    token = _run_quota.set(quota)
    try:
        yield quota
    finally:
        _run_quota.reset(token)
