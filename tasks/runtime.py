"""What every deletion step shares: inventory → act → report, with retries declared on the task."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import structlog
from botocore.exceptions import ClientError
from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.tasks import exponential_backoff

from config.engine import on_build
from config.settings import Settings, get_settings
from tasks.aws import count_calls, iam_client
from tasks.errors import (
    error_code,
    http_status,
    retry_transient,
    retry_transient_or_conflict,
)
from tasks.models import StepResult

if TYPE_CHECKING:
    from tasks.items import Item

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

log = structlog.get_logger("offboard.step")
P = ParamSpec("P")
R = TypeVar("R")

Lister = Callable[["IAMClient", str], "tuple[Item, ...]"]
Remover = Callable[["IAMClient", str, str], None]
# Fills in what the list call leaves out (a document, a key body) for the snapshot.
Detailer = Callable[["IAMClient", str, "Item"], "Item"]


@dataclass(frozen=True)
class StepSpec:
    """One step of the seed's CLI deletion procedure, declared as data."""

    name: str
    # How tables name the step's kind: a short count label, and the plan's row title.
    label: str
    title: str
    # The `aws iam` commands the seed names for this step, in its order.
    seed_commands: tuple[str, ...]
    # IAM actions the step calls; the engine's policy is generated from these.
    permissions: tuple[str, ...]
    # The mutating action(s) the audit trail names for this step.
    action: str
    list_items: Lister
    remove: Remover
    # DeleteUser may conflict briefly after the last detach (eventual consistency).
    retry_on_conflict: bool = False
    details: Detailer | None = None

    def ids(self, iam: IAMClient, user_name: str) -> tuple[str, ...]:
        return tuple(item.id for item in self.list_items(iam, user_name))


@dataclass
class _EarlierAttempts:
    """What earlier attempts of one task run sent: Prefect's retries keep the task run id."""

    removed: set[str] = field(default_factory=set)
    # Sent, but the answer was lost (connection error, 5xx): IAM may have acted on it.
    unanswered: set[str] = field(default_factory=set)


_attempts_by_task_run: dict[str, _EarlierAttempts] = {}
_lost_answers: ContextVar[list[str] | None] = ContextVar("offboard_lost_answers", default=None)


def _note_lost_answer(
    exception: BaseException | None = None,
    response_dict: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    """botocore's per-HTTP-attempt event: a failed send or a 5xx may still have been done."""
    seen = _lost_answers.get()
    if seen is None:
        return
    status = int((response_dict or {}).get("status_code") or 0)
    if exception is not None or status >= 500:
        seen.append(type(exception).__name__ if exception else str(status))


@contextmanager
def _watch_lost_answers() -> Iterator[list[str]]:
    seen: list[str] = []
    token = _lost_answers.set(seen)
    try:
        yield seen
    finally:
        _lost_answers.reset(token)


def _earlier_attempts() -> _EarlierAttempts:
    context = TaskRunContext.get()
    if context is None:
        # Called directly (task.fn): there is no earlier attempt to remember.
        return _EarlierAttempts()
    return _attempts_by_task_run.setdefault(str(context.task_run.id), _EarlierAttempts())


def _forget_attempts() -> None:
    context = TaskRunContext.get()
    if context is not None:
        _attempts_by_task_run.pop(str(context.task_run.id), None)


def run_step(spec: StepSpec, user_name: str, items: tuple[str, ...] | None) -> StepResult:
    """Remove every item of the step's kind; NoSuchEntity on a delete means already absent,
    or done by an earlier attempt of this run when that attempt's answer was lost."""
    iam = iam_client()
    # unique_id: registered once per client, however many steps run.
    iam.meta.events.register(
        "response-received.iam", _note_lost_answer, unique_id="offboard-lost-answers"
    )
    earlier = _earlier_attempts()
    removed: list[str] = []
    absent: list[str] = []
    done_earlier: list[str] = []
    with count_calls() as calls:
        targets = items if items is not None else spec.ids(iam, user_name)
        for item in targets:
            with _watch_lost_answers() as lost:
                try:
                    spec.remove(iam, user_name, item)
                except ClientError as exc:
                    if error_code(exc) != "NoSuchEntity":
                        if lost or http_status(exc) >= 500:
                            earlier.unanswered.add(item)
                        raise
                    if item in earlier.removed:
                        removed.append(item)
                    elif lost or item in earlier.unanswered:
                        done_earlier.append(item)
                    else:
                        absent.append(item)
                except Exception:
                    # A connection error after the request went out: it may have been done.
                    earlier.unanswered.add(item)
                    raise
                else:
                    earlier.removed.add(item)
                    removed.append(item)
    _forget_attempts()
    result = StepResult(
        step=spec.name,
        user_name=user_name,
        removed=tuple(removed),
        already_absent=tuple(absent),
        done_earlier=tuple(done_earlier),
        api_calls=calls.count,
    )
    log.info(
        "step.done",
        step=spec.name,
        user=user_name,
        removed=result.removed,
        already_absent=result.already_absent,
        done_earlier=result.done_earlier,
        api_calls=result.api_calls,
    )
    return result


StepTask = Task[[str, "tuple[str, ...] | None"], StepResult]


def retry_options(*, on_conflict: bool = False, settings: Settings | None = None) -> dict[str, Any]:
    """Task options every IAM-calling task shares: retries of transient errors only."""
    settings = settings or get_settings()
    return {
        "retries": settings.step_retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=settings.retry_backoff_seconds)(
            settings.step_retries
        ),
        "retry_jitter_factor": settings.retry_jitter_factor,
        "retry_condition_fn": retry_transient_or_conflict if on_conflict else retry_transient,
        # Steps are idempotent; a repeated call (e.g. after DeleteConflict) must act, not replay.
        "cache_policy": NO_CACHE,
    }


# Every task made by iam_task, so the settings a run starts with size their retries.
_iam_tasks: list[Task[Any, Any]] = []
_SIZED_BY_SETTINGS = ("retries", "retry_delay_seconds", "retry_jitter_factor")


def iam_task(
    *, on_conflict: bool = False, **options: Any
) -> Callable[[Callable[P, R]], Task[P, R]]:
    """A Prefect task that calls AWS: transient errors retried, sized by the settings in force
    when the run starts (not when the module was imported)."""

    def decorate(fn: Callable[P, R]) -> Task[P, R]:
        made: Task[P, R] = task(**options, **retry_options(on_conflict=on_conflict))(fn)
        _iam_tasks.append(made)
        return made

    return decorate


def _size_retries(settings: Settings) -> None:
    sized = retry_options(settings=settings)
    for made in _iam_tasks:
        for name in _SIZED_BY_SETTINGS:
            setattr(made, name, sized[name])


on_build(_size_retries)


def step_task(spec: StepSpec) -> StepTask:
    """A Prefect task for one step: retries only transient errors, never AccessDenied."""

    def run(user_name: str, items: tuple[str, ...] | None = None) -> StepResult:
        return run_step(spec, user_name, items)

    run.__name__ = f"delete_{spec.name}"
    run.__qualname__ = run.__name__
    decorate = iam_task(
        name=f"delete-{spec.name.replace('_', '-')}",
        task_run_name=f"{spec.name}:{{user_name}}",
        on_conflict=spec.retry_on_conflict,
    )
    return decorate(run)
