"""The offboarding flow: resolve, inventory, then the seed's ten deletion steps in order."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from prefect import flow
from prefect.runtime import flow_run

from config.logging import ensure_logging
from config.settings import get_settings
from tasks.errors import describe_failure, error_code
from tasks.inventory import take_inventory
from tasks.models import (
    OffboardingReport,
    Outcome,
    StepFailure,
    StepResult,
    UserInventory,
    UserSummary,
    validate_user_name,
)
from tasks.procedure import DELETION_PROCEDURE, FINAL_STEP
from tasks.user import resolve_user

log = structlog.get_logger("offboard.flow")


@flow(name="offboard-user", flow_run_name="offboard-{user_name}", log_prints=False)
def offboard_user(
    user_name: str,
    dry_run: bool = False,
    reason: str | None = None,
    ticket: str | None = None,
) -> OffboardingReport:
    """Delete an IAM user the way the AWS CLI procedure does, or only plan it (``dry_run``).

    Raises InvalidInputError for a bad name and UserNotFoundError for an unknown user, both
    before any mutating call. A failing step ends the run with outcome ``failed``.
    """
    ensure_logging()
    validate_user_name(user_name)
    started = datetime.now(UTC)
    run_id = str(flow_run.id) if flow_run.id else None
    structlog.contextvars.bind_contextvars(run_id=run_id, target_user=user_name)
    try:
        user = resolve_user(user_name)
        structlog.contextvars.bind_contextvars(account=user.account_id)
        inventory = take_inventory(user_name)
        log.info("offboard.inventory", attachments=inventory.attachments(), dry_run=dry_run)

        def report(outcome: Outcome, **fields: object) -> OffboardingReport:
            return OffboardingReport.model_validate(
                {
                    "user_name": user_name,
                    "user": user,
                    "outcome": outcome,
                    "dry_run": dry_run,
                    "reason": reason,
                    "ticket": ticket,
                    "run_id": run_id,
                    "inventory": inventory,
                    "started_at": started,
                    "finished_at": datetime.now(UTC),
                    **fields,
                }
            )

        if dry_run:
            return report("planned", inventory_api_calls=inventory.api_calls)
        outcome, fields = _delete(user, inventory)
        result = report(outcome, **fields)
        log.info("offboard.finished", outcome=result.outcome, rounds=result.rounds)
        return result
    finally:
        structlog.contextvars.unbind_contextvars("run_id", "target_user", "account")


def _delete(user: UserSummary, inventory: UserInventory) -> tuple[Outcome, dict[str, object]]:
    """Run the steps; when DeleteUser still conflicts, re-inventory and repeat, a bounded number
    of times, then report exactly what remains."""
    max_rounds = get_settings().max_delete_rounds
    results: list[StepResult] = []
    inventory_calls = inventory.api_calls
    current = inventory
    for round_number in range(1, max_rounds + 1):
        for step in DELETION_PROCEDURE:
            state = step.task(user.user_name, current.items(step.name), return_state=True)
            if state.is_completed():
                results.append(state.result())
                continue
            exc = state.result(raise_on_failure=False)
            if (
                step is FINAL_STEP
                and isinstance(exc, Exception)
                and error_code(exc) == ("DeleteConflict")
            ):
                break
            code, action, message = describe_failure(
                exc if isinstance(exc, BaseException) else RuntimeError(str(state.message))
            )
            log.error("offboard.step_failed", step=step.name, error=code, action=action)
            failure = StepFailure(step=step.name, error_code=code, action=action, message=message)
            return "failed", {
                "steps": tuple(results),
                "failure": failure,
                "rounds": round_number,
                "inventory_api_calls": inventory_calls,
            }
        else:
            return "deleted", {
                "steps": tuple(results),
                "rounds": round_number,
                "inventory_api_calls": inventory_calls,
            }
        # Something appeared while the steps ran (or IAM has not caught up): look again.
        current = take_inventory(user.user_name)
        inventory_calls += current.api_calls
        log.warning("offboard.delete_conflict", round=round_number, remaining=current.attachments())
    return "delete_conflict", {
        "steps": tuple(results),
        "rounds": max_rounds,
        "remaining": current,
        "inventory_api_calls": inventory_calls,
        "failure": StepFailure(
            step=FINAL_STEP.name,
            error_code="DeleteConflict",
            action="iam:DeleteUser",
            message=f"user still has attachments after {max_rounds} rounds: "
            + ", ".join(f"{kind}={len(ids)}" for kind, ids in current.attachments().items()),
        ),
    }
