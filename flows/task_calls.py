"""Calling a task from code that runs both inside flow runs and outside any (the CLI's plan and
review, the HR webhook's lookups)."""

from __future__ import annotations

from typing import Any, ParamSpec, TypeVar

from prefect import Task
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.states import Completed, Failed

P = ParamSpec("P")
R = TypeVar("R")


def call(task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Inside a flow run, the task (retried, seen in the run); outside one, its body alone: a
    read outside a run must not start a Prefect server, and has no run to be seen in."""
    if FlowRunContext.get() is None:
        return task.fn(*args, **kwargs)
    return task(*args, **kwargs)


def call_for_state(task: Task[P, R], *args: Any, **kwargs: Any) -> State[R]:
    """As ``call``, answering the final state (``return_state=True``) rather than raising."""
    if FlowRunContext.get() is not None:
        state: State[R] = task(*args, return_state=True, **kwargs)
        return state
    try:
        return Completed(data=task.fn(*args, **kwargs))
    except Exception as exc:
        return Failed(data=exc, message=str(exc))
