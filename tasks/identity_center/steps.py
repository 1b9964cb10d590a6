"""What every Identity Center deletion step shares, as tasks.runtime is for IAM's: list → act →
report, ResourceNotFound on a delete = already absent, retries declared on the task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from botocore.exceptions import ClientError
from prefect import Task

from tasks.aws import count_calls
from tasks.errors import error_code
from tasks.identity_center.models import IdcStepResult
from tasks.runtime import iam_task

if TYPE_CHECKING:
    from tasks.identity_center.models import IdcTarget
    from tasks.items import Item

log = structlog.get_logger("offboard.step")

NOT_FOUND = "ResourceNotFoundException"


@dataclass(frozen=True)
class IdcStepSpec:
    """One Identity Center deletion step, declared as data."""

    name: str
    label: str
    title: str
    # The actions the step calls; the engine's policy is generated from these.
    permissions: tuple[str, ...]
    # The mutating action the audit trail names for this step.
    action: str
    list_items: Callable[[IdcTarget], tuple[Item, ...]]
    remove: Callable[[IdcTarget, str], None]


def run_idc_step(
    spec: IdcStepSpec, target: IdcTarget, items: tuple[str, ...] | None
) -> IdcStepResult:
    """Remove every item of the step's kind (re-listed when ``items`` is None)."""
    removed: list[str] = []
    absent: list[str] = []
    with count_calls() as calls:
        wanted = items if items is not None else tuple(i.id for i in spec.list_items(target))
        for item in wanted:
            try:
                spec.remove(target, item)
            except ClientError as exc:
                if error_code(exc) != NOT_FOUND:
                    raise
                absent.append(item)
            else:
                removed.append(item)
    result = IdcStepResult(
        step=spec.name,
        user_name=target.user_name,
        removed=tuple(removed),
        already_absent=tuple(absent),
        api_calls=calls.count,
    )
    log.info(
        "step.done",
        step=spec.name,
        user=target.user_name,
        removed=result.removed,
        already_absent=result.already_absent,
        api_calls=result.api_calls,
    )
    return result


IdcStepTask = Task[["IdcTarget", "tuple[str, ...] | None"], IdcStepResult]


def idc_step_task(spec: IdcStepSpec) -> IdcStepTask:
    """A Prefect task for one step: retries transient errors and failed asynchronous requests."""

    def run(target: IdcTarget, items: tuple[str, ...] | None = None) -> IdcStepResult:
        return run_idc_step(spec, target, items)

    run.__name__ = f"delete_identity_center_{spec.name}"
    run.__qualname__ = run.__name__
    decorate = iam_task(
        name=f"delete-identity-center-{spec.name.replace('_', '-')}",
        task_run_name=f"{spec.name}:{{target.user_name}}",
    )
    return decorate(run)
