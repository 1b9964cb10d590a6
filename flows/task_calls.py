"""Calling a task from code that runs both inside flow runs and outside any (the CLI's plan and
review, the HR webhook's lookups)."""

from __future__ import annotations

from typing import ParamSpec, TypeVar

from prefect import Task
from prefect.context import FlowRunContext

P = ParamSpec("P")
R = TypeVar("R")


def call(task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Inside a flow run, the task (retried, seen in the run); outside one, its body alone: a
    read outside a run must not start a Prefect server, and has no run to be seen in."""
    if FlowRunContext.get() is None:
        return task.fn(*args, **kwargs)
    return task(*args, **kwargs)
