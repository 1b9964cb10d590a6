"""Calling a task from code that runs both inside flow runs and outside any (the CLI's plan and
review, the HR webhook's lookups)."""

from __future__ import annotations

from typing import Any, ParamSpec, TypeVar, cast

from prefect import Task
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.states import Completed, Failed
from prefect.utilities.annotations import quote
from pydantic import BaseModel

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def unvisited(value: T) -> T:
    """``value`` as a task argument Prefect hands over without walking it (``quote``).

    Prefect walks every argument of a task run, field by field, looking for futures and states
    (to resolve them and to draw the run graph's arrows), and walks each result again. Ours are
    frozen models that never hold either; walking an inventory or an account's reference scan
    cost a batch's users about a tenth of Prefect's CPU per task run. Only inside a flow run:
    a task's body called directly gets the value itself.
    """
    return cast(T, quote(value))


def _models_unvisited(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    for name, value in kwargs.items():
        if isinstance(value, BaseModel):
            kwargs[name] = unvisited(value)
    return tuple(unvisited(a) if isinstance(a, BaseModel) else a for a in args)


def call(task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Inside a flow run, the task (retried, seen in the run); outside one, its body alone: a
    read outside a run must not start a Prefect server, and has no run to be seen in."""
    if FlowRunContext.get() is None:
        return task.fn(*args, **kwargs)
    return task(*_models_unvisited(args, kwargs), **kwargs)


def call_for_state(task: Task[P, R], *args: Any, **kwargs: Any) -> State[R]:
    """As ``call``, answering the final state (``return_state=True``) rather than raising."""
    if FlowRunContext.get() is not None:
        state: State[R] = task(*_models_unvisited(args, kwargs), return_state=True, **kwargs)
        return state
    try:
        return Completed(data=task.fn(*args, **kwargs))
    except Exception as exc:
        return Failed(data=exc, message=str(exc))
