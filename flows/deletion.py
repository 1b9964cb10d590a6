"""The destructive part: the ten steps, repeated after a DeleteConflict.

Steps 1-9 remove what hangs off the user; none depends on another, so they run side by side
(at real IAM latencies each is tens of milliseconds a call, and waiting for each in turn was
most of a run's time). DeleteUser, step 10, runs once all of them have ended.

Each step with something to remove is bracketed by write-ahead records (flows.write_ahead): an
intent listing the item ids before its first mutating call, the outcome after. A step whose
intent cannot be written makes no call; once any record cannot be written, the run stops
before DeleteUser, and a rerun reconciles what the steps still running then had done."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import structlog

from config.settings import get_settings
from flows.auditing import RunAudit
from flows.report import FailureKind, StepFailure
from flows.write_ahead import TRAIL_ERRORS, reconcile_pending, record_intent, trail_failure
from tasks.inventory import take_inventory
from tasks.models import StepResult, UserInventory
from tasks.procedure import ATTACHMENT_STEPS, FINAL_STEP, Step
from tasks.side_by_side import each

log = structlog.get_logger("offboard.flow")


@dataclass
class DeletionOutcome:
    """The steps' results; `failure` is set when the user could not be deleted."""

    steps: list[StepResult] = field(default_factory=list)
    rounds: int = 0
    inventory_api_calls: int = 0
    failure: StepFailure | None = None
    remaining: UserInventory | None = None


@dataclass(frozen=True)
class _Ran:
    """One step's end: its result, or the failure it ended with, or the record it could not
    write (``unwritten``)."""

    step: Step
    result: StepResult | None = None
    failure: StepFailure | None = None
    unwritten: BaseException | None = None


def _run_step(user_name: str, inventory: UserInventory, audit: RunAudit, step: Step) -> _Ran:
    """Intent, the step's task, its outcome: each record on disk before what follows it."""
    items = inventory.items(step.name)
    result: StepResult | None = None
    try:
        if items:
            record_intent(audit, step.name, step.spec.action, items)
        state = step.task(user_name, items, return_state=True)
        if state.is_completed():
            result = state.result()
            audit.step_result(step.spec.action, result)
            return _Ran(step, result=result)
        failure = StepFailure.from_state(step.name, state)
        audit.failed(failure, step.spec.action)
        return _Ran(step, failure=failure)
    except TRAIL_ERRORS as trail_exc:
        return _Ran(step, result=result, unwritten=trail_exc)


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
        step_of = partial(_run_step, user_name, current, audit)
        ran = each(ATTACHMENT_STEPS, step_of, len(ATTACHMENT_STEPS))
        ran.append(_final_step(ran, user_name, current, audit))
        # In the procedure's order: every result first, then the first step that stopped.
        done.steps.extend(r.result for r in ran if r.result is not None)
        for ended in ran:
            if ended.unwritten is not None:
                return _trail_broken(done, ended.step.name, audit, ended.unwritten, current)
            failure = ended.failure
            if failure is None:
                continue
            if ended.step is FINAL_STEP and failure.error_code == "DeleteConflict":
                break
            log.error(
                "offboard.step_failed",
                step=ended.step.name,
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


def _final_step(ran: list[_Ran], user_name: str, current: UserInventory, audit: RunAudit) -> _Ran:
    """DeleteUser, once steps 1-9 have all ended, and only when none of them stopped."""
    if any(r.failure is not None or r.unwritten is not None for r in ran):
        return _Ran(FINAL_STEP)
    return _run_step(user_name, current, audit, FINAL_STEP)


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
