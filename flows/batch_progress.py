"""A batch run in this process, seen from its caller: the plan to confirm before any change,
then the plan and each user as they finish."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from flows.batch_models import BatchPlan, BatchUser


class BatchProgress(Protocol):
    """Told what the batch will do, then each user's report as it finishes (from any thread)."""

    def planned(self, plan: BatchPlan) -> None: ...

    def finished(self, user: BatchUser) -> None: ...


# The listener of the batches run in this context, if any.
progress_listener: ContextVar[BatchProgress | None] = ContextVar(
    "offboard_batch_progress", default=None
)


@contextmanager
def reporting_progress(listener: BatchProgress) -> Iterator[None]:
    """Batches run in this context (in this process) report their progress to ``listener``."""
    token = progress_listener.set(listener)
    try:
        yield
    finally:
        progress_listener.reset(token)


# Asked once the batch is planned and within its size, before anything is changed or audited;
# False ends the batch with nothing done.
plan_confirmation: ContextVar[Callable[[BatchPlan], bool] | None] = ContextVar(
    "offboard_batch_confirmation", default=None
)


@contextmanager
def confirming(ask: Callable[[BatchPlan], bool]) -> Iterator[None]:
    """Batches run in this context (in this process) ask ``ask`` before their first change."""
    token = plan_confirmation.set(ask)
    try:
        yield
    finally:
        plan_confirmation.reset(token)
