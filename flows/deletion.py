"""The destructive part: the ten steps in order, repeated after a DeleteConflict.

Each step with something to remove is bracketed by write-ahead records (flows.write_ahead): an
intent listing the item ids before its first mutating call, the outcome after. When either
cannot be written, no further destructive call is made."""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from config.settings import get_settings
from flows.auditing import RunAudit
from flows.report import FailureKind, StepFailure
from flows.write_ahead import TRAIL_ERRORS, reconcile_pending, record_intent, trail_failure
from tasks.inventory import take_inventory
from tasks.models import StepResult, UserInventory
from tasks.procedure import DELETION_PROCEDURE, FINAL_STEP

log = structlog.get_logger("offboard.flow")


@dataclass
class DeletionOutcome:
    """The steps' results; `failure` is set when the user could not be deleted."""

    steps: list[StepResult] = field(default_factory=list)
    rounds: int = 0
    inventory_api_calls: int = 0
    failure: StepFailure | None = None
    remaining: UserInventory | None = None


def run_deletion(user_name: str, inventory: UserInventory, audit: RunAudit) -> DeletionOutcome:
    """Run the steps; when DeleteUser still conflicts after its retries, take a new inventory
    and repeat, a bounded number of times, then report exactly what remains."""
    max_rounds = get_settings().max_delete_rounds
    done = DeletionOutcome(inventory_api_calls=inventory.api_calls)
    current = inventory
    try:
        done.steps.extend(reconcile_pending(audit, inventory))
    except TRAIL_ERRORS as trail_exc:
        return _trail_broken(done, "reconcile", audit, trail_exc, current)
    for round_number in range(1, max_rounds + 1):
        done.rounds = round_number
        for step in DELETION_PROCEDURE:
            items = current.items(step.name)
            if items:
                try:
                    record_intent(audit, step.name, step.spec.action, items)
                except TRAIL_ERRORS as trail_exc:
                    return _trail_broken(done, step.name, audit, trail_exc, current)
            state = step.task(user_name, items, return_state=True)
            if state.is_completed():
                result: StepResult = state.result()
                done.steps.append(result)
                try:
                    audit.step_result(step.spec.action, result)
                except TRAIL_ERRORS as trail_exc:
                    return _trail_broken(done, step.name, audit, trail_exc, current)
                continue
            failure = StepFailure.from_state(step.name, state)
            try:
                audit.failed(failure, step.spec.action)
            except TRAIL_ERRORS as trail_exc:
                return _trail_broken(done, step.name, audit, trail_exc, current)
            if step is FINAL_STEP and failure.error_code == "DeleteConflict":
                break
            log.error(
                "offboard.step_failed",
                step=step.name,
                error=failure.error_code,
                action=failure.action,
            )
            done.failure = failure
            return done
        else:
            return done
        # Something appeared while the steps ran (or IAM has not caught up): look again.
        current = take_inventory(user_name)
        done.inventory_api_calls += current.api_calls
        log.warning("offboard.delete_conflict", round=round_number, remaining=current.attachments())
    done.remaining = current
    done.failure = StepFailure(
        step=FINAL_STEP.name,
        error_code="DeleteConflict",
        action="iam:DeleteUser",
        message=f"user still has attachments after {max_rounds} rounds: "
        + ", ".join(f"{kind}={len(ids)}" for kind, ids in current.attachments().items()),
        kind=FailureKind.conflict,
    )
    return done


def _trail_broken(
    done: DeletionOutcome, step: str, audit: RunAudit, exc: BaseException, current: UserInventory
) -> DeletionOutcome:
    log.error("offboard.audit_unwritable", step=step, error=str(exc))
    done.failure = trail_failure(step, audit.trail.path, exc)
    done.remaining = _left_over(current, done)
    return done


def _left_over(current: UserInventory, done: DeletionOutcome) -> UserInventory:
    """The inventory without what the completed steps removed (no IAM call: IAM may be the
    reason the run stops)."""
    gone: dict[str, set[str]] = {}
    for result in done.steps:
        gone.setdefault(result.step, set()).update(
            result.removed, result.already_absent, result.done_earlier
        )
    update = {
        kind: tuple(item for item in getattr(current, kind) if item.id not in gone.get(kind, ()))
        for kind in current.attachments()
    }
    return current.model_copy(update=update)
