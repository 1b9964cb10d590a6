"""The offboarding flow: resolve, refuse protected principals, inventory, review, guard,
snapshot, then the seed's ten deletion steps in order."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import structlog
from prefect import flow
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from config.logging import ensure_logging
from config.settings import get_settings
from flows.auditing import RunAudit, target_of
from flows.deactivation import apply_deactivation
from flows.deletion import run_deletion
from flows.guards import activity_hold, refusal
from flows.report import OffboardingReport, Outcome, StepFailure
from flows.report_artifact import publish_report
from flows.saved_plan import check_plan
from flows.write_ahead import (
    TRAIL_ERRORS,
    TRAIL_UNWRITABLE,
    best_effort,
    earlier_deletion,
    half_offboarded,
    record_earlier_deletion,
    trail_failure,
)
from tasks.accounts import in_account
from tasks.aws import current_account_id
from tasks.errors import InvalidInputError, describe_failure
from tasks.identity import caller_identity
from tasks.inventory import take_inventory
from tasks.models import UserInventory, validate_user_name
from tasks.plan_file import SavedPlan
from tasks.review import review_access
from tasks.snapshot import SnapshotRef, take_snapshot
from tasks.user import find_user

log = structlog.get_logger("offboard.flow")
FLOW_NAME = "offboard-user"


# Outcomes that leave the flow run Failed, so operators find and retry it.
FAILING_OUTCOMES = frozenset({"failed", "deactivated_pending_deletion"})


@flow(name=FLOW_NAME, flow_run_name="offboard-{user_name}", log_prints=False)
def offboard_user(
    user_name: str,
    dry_run: bool = False,
    reason: str | None = None,
    ticket: str | None = None,
    override_activity_guard: bool = False,
    account_id: str | None = None,
    plan: SavedPlan | None = None,
    replan: bool = False,
) -> OffboardingReport | State[Any]:
    """Delete an IAM user the way the AWS CLI procedure does, or only plan it (``dry_run``).

    Raises InvalidInputError for bad input. Ends with outcome ``refused`` (unknown or protected
    user) before any mutating call. When deletion cannot finish, the user is deactivated and the
    run ends Failed (outcome ``deactivated_pending_deletion``) so that it can be retried.
    With ``account_id``, the user is in that account, reached through its role (see
    tasks.accounts). With ``plan`` (a saved plan), the run is refused before any mutating call
    if IAM has changed since the plan, unless ``replan``.
    """
    report = _offboard(
        user_name, dry_run, reason, ticket, override_activity_guard, account_id, plan, replan
    )
    if report.outcome in FAILING_OUTCOMES:
        return Failed(message=report.summary(), data=report)
    # The outcome in the state message too, for the UI and `offboard runs`.
    return Completed(message=report.summary(), data=report)


def run_offboarding(
    user_name: str, account_id: str | None = None, **parameters: Any
) -> OffboardingReport:
    """Run the flow in this process and return its report, whatever the run's final state."""
    state = offboard_user(
        user_name=user_name, account_id=account_id, return_state=True, **parameters
    )
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    if not isinstance(result, OffboardingReport):
        raise RuntimeError(f"offboarding run ended without a report: {state.message}")
    return result


def _offboard(
    user_name: str,
    dry_run: bool,
    reason: str | None,
    ticket: str | None,
    override_activity_guard: bool,
    account_id: str | None = None,
    plan: SavedPlan | None = None,
    replan: bool = False,
) -> OffboardingReport:
    if account_id is not None and current_account_id() != account_id:
        # Everything below, IAM calls and caller identity included, acts in that account.
        with in_account(account_id, str(flow_run.id) if flow_run.id else None) as scoped:
            # None: the engine's own account, reached with its own credentials.
            return _offboard(
                user_name, dry_run, reason, ticket, override_activity_guard, scoped, plan, replan
            )
    ensure_logging()
    validate_user_name(user_name)
    if override_activity_guard and not (reason and reason.strip()):
        raise InvalidInputError("overriding the activity guard needs a reason (--reason)")
    settings = get_settings()
    started = datetime.now(UTC)
    run_id = str(flow_run.id) if flow_run.id else None
    structlog.contextvars.bind_contextvars(run_id=run_id, target_user=user_name)
    fields: dict[str, Any] = {
        "user_name": user_name,
        "dry_run": dry_run,
        "reason": reason,
        "ticket": ticket,
        "run_id": run_id,
        "started_at": started,
    }

    def finish(outcome: Outcome, **more: Any) -> OffboardingReport:
        report = OffboardingReport.model_validate(
            {**fields, **more, "outcome": outcome, "finished_at": datetime.now(UTC)}
        )
        log.info("offboard.finished", outcome=report.outcome, rounds=report.rounds)
        if not dry_run:
            publish_report(report)
        return report

    try:
        caller = caller_identity()
        fields["actor"] = caller.arn
        user = find_user(user_name)
        audit = RunAudit(
            flow=FLOW_NAME,
            run_id=run_id,
            actor=caller.arn,
            target=target_of(user_name, user),
            reason=reason,
            ticket=ticket,
            enabled=not dry_run,
        )
        if (flow_run.run_count or 1) > 1:
            # A retry of this same flow run (operator rerun or the UI's Retry button).
            audit.record("run", "run.rerun", "done", message=f"attempt {flow_run.run_count}")
        refused = refusal(user_name, user, caller, settings)
        if refused is not None and user is None and not dry_run:
            # Gone from IAM: deleted by an earlier attempt whose intent the trail holds?
            earlier = earlier_deletion(audit, user_name, caller.account, run_id)
            if earlier is not None and earlier.problem is None:
                audit = dataclasses.replace(audit, target=earlier.intent.target)
                result = record_earlier_deletion(audit, earlier)
                return finish(
                    "deleted", user=earlier.user, snapshot=earlier.snapshot, steps=(result,)
                )
            if earlier is not None:
                refused = refused.model_copy(
                    update={
                        "message": f"{refused.message}; the audit trail shows run "
                        f"{earlier.intent.run_id} was about to delete it (seq "
                        f"{earlier.intent.seq}), but {earlier.problem}"
                    }
                )
        if refused is not None:
            audit.refusal(refused)
            return finish("refused", failure=refused)
        assert user is not None  # refusal() answers for an unknown user
        fields["user"] = user
        structlog.contextvars.bind_contextvars(account=user.account_id)

        def fall_back(
            failure: StepFailure, remaining: UserInventory | None = None
        ) -> OffboardingReport:
            """Deletion cannot finish: deny everything and disable the keys until a rerun.
            Protective, so a record that cannot be written does not stop it."""
            try:
                changes = apply_deactivation(user_name, None, True, best_effort(audit))
            except Exception as exc:
                code, action, _ = describe_failure(exc)
                log.error("offboard.fallback_failed", error=code, action=action)
                if failure.error_code == TRAIL_UNWRITABLE:
                    left = remaining or fields.get("inventory")
                    failure = half_offboarded(failure, f"{code} on {action or '-'}", left)
                return finish("failed", failure=failure)
            return finish("deactivated_pending_deletion", failure=failure, deactivation=changes)

        inventory = take_inventory(user_name)
        fields["inventory"] = inventory
        fields["inventory_api_calls"] = inventory.api_calls
        log.info("offboard.inventory", attachments=inventory.attachments(), dry_run=dry_run)
        if plan is not None:
            outdated = check_plan(plan, user, inventory, replan, audit)
            if outdated is not None:
                return finish("refused", failure=outdated)

        review = review_access(user, inventory)
        fields["review"] = review
        last = review.last_activity
        audit.record(
            "review",
            "review.access",
            "done" if review.complete else "failed",
            resources=tuple(s.namespace for s in review.used_services),
            message=review.incomplete_reason
            or f"last activity {last.isoformat() if last else 'never'}",
        )
        hold = activity_hold(review, settings)
        if hold and not override_activity_guard:
            audit.record("guard", "guard.hold", "held", message=hold)
            guard_code = "ReviewIncomplete" if not review.complete else "ActivityGuard"
            failure = StepFailure(step="guard", error_code=guard_code, action=None, message=hold)
            if dry_run:
                outcome: Outcome = (
                    "held_review_incomplete" if not review.complete else "held_recently_active"
                )
                return finish(outcome, failure=failure)
            return fall_back(failure)
        if hold:
            audit.record("guard", "guard.override", "done", message=hold)
            fields["activity_guard_overridden"] = True

        if dry_run:
            return finish("planned")

        state = take_snapshot(user, inventory, review, run_id, return_state=True)
        if not state.is_completed():
            exc = state.result(raise_on_failure=False)
            code, action, message = describe_failure(
                exc if isinstance(exc, BaseException) else RuntimeError(str(state.message))
            )
            audit.record("snapshot", "snapshot.write", "failed", error_code=code, message=message)
            return finish(
                "failed",
                failure=StepFailure(
                    step="snapshot", error_code=code, action=action, message=message
                ),
            )
        snapshot: SnapshotRef = state.result()
        fields["snapshot"] = snapshot
        audit.record(
            "snapshot",
            "snapshot.write",
            "done",
            resources=(snapshot.location,),
            message=f"sha256 {snapshot.sha256}",
        )

        deletion = run_deletion(user_name, inventory, audit)
        fields.update(
            steps=tuple(deletion.steps),
            rounds=deletion.rounds,
            remaining=deletion.remaining,
            inventory_api_calls=deletion.inventory_api_calls,
        )
        if deletion.failure:
            return fall_back(deletion.failure, deletion.remaining)
        return finish("deleted")
    except TRAIL_ERRORS as exc:
        # A record before the deletion steps could not be written.
        log.error("offboard.audit_unwritable", error=str(exc))
        failure = trail_failure("audit", settings.audit_log, exc)
        if "user" not in fields:
            return finish("failed", failure=failure)  # nothing was changed yet
        return fall_back(failure)
    finally:
        structlog.contextvars.unbind_contextvars("run_id", "target_user", "account")
