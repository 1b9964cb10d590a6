"""One Identity Center user's offboarding, with the IAM run's rails: resolve -> inventory ->
refuse (unknown or protected) -> snapshot -> deny live sessions -> the deletion steps
(assignments, memberships, the user) -> fall back when deletion cannot finish (the session deny
then stays for good). Groups and permission sets stay. A flow of its own prunes the denies whose
time has passed (flows/identity_center_prune.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prefect import flow
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from audit.records import AuditTarget
from flows.identity_center_rails import IdcReport, idc_protection_rule, not_found, protected
from flows.report import FailureKind, Outcome, StepFailure, report_of
from flows.run_context import RunContext, run_context
from flows.task_calls import call
from flows.write_ahead import TRAIL_ERRORS, trail_failure
from tasks.frozen import Frozen
from tasks.identity import caller_identity
from tasks.identity_center.instance import NoInstanceError, find_instance
from tasks.identity_center.inventory import take_idc_inventory
from tasks.identity_center.lookup import Selector, find_user
from tasks.identity_center.models import (
    IdcInstance,
    IdcInventory,
    IdcStepResult,
    IdcTarget,
    IdcUser,
)
from tasks.identity_center.procedure import IDENTITY_CENTER_PROCEDURE
from tasks.identity_center.session_deny import (
    UNTIL_TOLERANCE,
    SessionDenyChange,
    deny_sessions,
)
from tasks.identity_center.snapshot import take_idc_snapshot
from tasks.runtime import iam_task

log = structlog.get_logger("offboard.flow")
FLOW_NAME = "offboard-identity-center-user"
DENY_ACTION = "sso:PutInlinePolicyToPermissionSet"
Run = RunContext[IdcReport]

identity_center_instance = iam_task(name="identity-center-instance")(find_instance)
find_identity_center_user = iam_task(
    name="find-identity-center-user", task_run_name="find:{value}"
)(find_user)


class IdcOffboardRequest(Frozen):
    value: str
    selector: Selector = "user_name"
    dry_run: bool = False
    reason: str | None = None
    ticket: str | None = None


def offboard_identity_center_one(request: IdcOffboardRequest) -> IdcReport:
    """Delete the Identity Center user ``request`` names, or only plan it (``dry_run``).
    Never raises for a failure it can report."""
    with run_context(
        FLOW_NAME,
        request.value,
        IdcReport,
        dry_run=request.dry_run,
        reason=request.reason,
        ticket=request.ticket,
    ) as run:
        try:
            return _phases(run, request)
        except TRAIL_ERRORS as exc:
            log.error("offboard.audit_unwritable", error=str(exc))
            failure = trail_failure("audit", run.settings.audit_log, exc)
            if "snapshot" in run.fields:
                return _fall_back(run, failure)
            return run.finish(Outcome.failed, failure=failure)


def _phases(run: Run, request: IdcOffboardRequest) -> IdcReport:
    resolved = _resolve(run, request)
    if isinstance(resolved, IdcReport):
        return resolved
    instance, user = resolved
    target = IdcTarget(instance=instance, user_id=user.user_id, user_name=user.user_name)
    inventory = call(take_idc_inventory, target)
    run.fields["inventory"] = inventory
    assert run.caller is not None
    rule = idc_protection_rule(user, inventory, run.caller, run.settings)
    if rule is not None:
        return run.refuse(protected(user, rule))
    if run.dry_run:
        return run.finish(Outcome.planned)
    snapshot = take_idc_snapshot(instance, user, inventory, run.run_id, return_state=True)
    ref = run.audit.snapshot_written(snapshot)
    if isinstance(ref, StepFailure):
        return run.finish(Outcome.failed, failure=ref)
    run.fields["snapshot"] = ref
    deny_failure = _deny_sessions(run, instance, user, inventory)
    step_failure = _delete(run, target, inventory)
    if step_failure is not None:
        return _fall_back(run, step_failure)
    if deny_failure is not None:
        # Deleted, but sessions started before may live on: not a success to report quietly.
        return run.finish(Outcome.failed, failure=deny_failure)
    _end_lasting_denies(run, instance, user, inventory)
    return run.finish(Outcome.deleted)


def _resolve(run: Run, request: IdcOffboardRequest) -> tuple[IdcInstance, IdcUser] | IdcReport:
    run.caller = call(caller_identity)
    try:
        instance = call(identity_center_instance)
    except NoInstanceError as exc:
        run.adopt(run.caller.arn, None)
        return run.refuse(
            StepFailure(
                step="resolve",
                error_code="ResourceNotFoundException",
                action="sso:ListInstances",
                message=str(exc),
                kind=FailureKind.not_found,
            )
        )
    run.fields["instance"] = instance
    user = call(find_identity_center_user, instance, request.selector, request.value)
    if user is None:
        run.adopt(run.caller.arn, None)
        asked = request.selector.replace("_", " ")
        named = request.value if request.selector == "any" else f"with {asked} {request.value}"
        return run.refuse(not_found(named))
    target = AuditTarget(
        account=run.caller.account,
        user_name=user.user_name,
        user_arn=f"arn:aws:identitystore:::user/{user.user_id}",
        user_id=user.user_id,
    )
    run.adopt(run.caller.arn, None, target)
    run.fields.update(user=user, user_name=user.user_name)
    structlog.contextvars.bind_contextvars(target_user=user.user_name)
    return instance, user


def _deny_sessions(
    run: Run, instance: IdcInstance, user: IdcUser, inventory: IdcInventory
) -> StepFailure | None:
    """Every permission set the user may hold a session of denies the user everything until
    the longest of their session durations has passed."""
    durations = inventory.permission_sets()
    if not durations:
        return None
    until = datetime.now(UTC) + timedelta(seconds=max(durations.values())) + UNTIL_TOLERANCE
    state = deny_sessions(instance, user.user_id, tuple(durations), until, return_state=True)
    if not state.is_completed():
        failure = StepFailure.from_state("session_deny", state)
        run.audit.record(
            "session_deny",
            DENY_ACTION,
            "failed",
            error_code=failure.error_code,
            message=failure.message,
        )
        return failure
    changes: tuple[SessionDenyChange, ...] = state.result()
    run.fields["session_deny"] = changes
    run.audit.record(
        "session_deny",
        DENY_ACTION,
        "done",
        resources=tuple(c.permission_set_arn for c in changes),
        message=f"deny identitystore:UserId {user.user_id} until {until.isoformat()}, "
        "then ProvisionPermissionSet",
    )
    return None


def _end_lasting_denies(
    run: Run, instance: IdcInstance, user: IdcUser, inventory: IdcInventory
) -> None:
    """The user is gone: a deny for good left by an earlier run that could not finish now ends
    when the longest session does, so that it is pruned. A failure leaves it as it is."""
    durations = inventory.permission_sets()
    if not durations:
        return
    until = datetime.now(UTC) + timedelta(seconds=max(durations.values())) + UNTIL_TOLERANCE
    state = deny_sessions(
        instance, user.user_id, tuple(durations), until, end_lasting=True, return_state=True
    )
    ended: tuple[SessionDenyChange, ...] = state.result() if state.is_completed() else ()
    if ended:
        run.fields["session_deny"] = (*run.fields.get("session_deny", ()), *ended)
        run.audit.record(
            "session_deny",
            DENY_ACTION,
            "done",
            resources=tuple(c.permission_set_arn for c in ended),
            message=f"the deny for good of identitystore:UserId {user.user_id} now ends "
            f"{until.isoformat()}: the user is deleted",
        )


def _delete(run: Run, target: IdcTarget, inventory: IdcInventory) -> StepFailure | None:
    steps: list[IdcStepResult] = []
    try:
        for step in IDENTITY_CENTER_PROCEDURE:
            items = (target.user_id,) if step.name == "user" else inventory.items(step.name)
            state = step.task(target, items, return_state=True)
            if not state.is_completed():
                failure = StepFailure.from_state(step.name, state)
                run.audit.record(
                    step.name,
                    failure.action or step.spec.action,
                    "failed",
                    error_code=failure.error_code,
                    message=failure.message,
                )
                run.fields["remaining"] = _remaining(target)
                return failure
            result: IdcStepResult = state.result()
            run.audit.step_result(step.spec.action, result)
            steps.append(result)
        return None
    finally:
        run.fields["steps"] = tuple(steps)


def _remaining(target: IdcTarget) -> IdcInventory | None:
    try:
        return take_idc_inventory.fn(target)
    except Exception as exc:  # the report says less; the failure itself is reported already
        log.warning("identity_center.reinventory_failed", error=type(exc).__name__)
        return None


def _fall_back(run: Run, failure: StepFailure) -> IdcReport:
    """Deletion cannot finish: the session deny stays for good (no time to prune it after)
    until a rerun deletes the user. Protective, so it is tried even when the trail is not."""
    user: IdcUser = run.fields["user"]
    instance: IdcInstance = run.fields["instance"]
    inventory: IdcInventory = run.fields["inventory"]
    arns = tuple(inventory.permission_sets())
    state = deny_sessions(instance, user.user_id, arns, None, return_state=True)
    if not state.is_completed():
        cause = StepFailure.from_state("deactivate", state)
        log.error("offboard.fallback_failed", error=cause.error_code, action=cause.action)
        return run.finish(Outcome.failed, failure=failure)
    changes: tuple[SessionDenyChange, ...] = state.result()
    run.fields["session_deny"] = changes
    try:
        run.audit.record(
            "deactivate",
            DENY_ACTION,
            "done",
            resources=arns,
            message=f"session deny of identitystore:UserId {user.user_id} kept until a rerun "
            "deletes the user",
        )
    except TRAIL_ERRORS as exc:
        log.error("offboard.audit_unwritable", error=str(exc))
    return run.finish(Outcome.deactivated_pending_deletion, failure=failure)


@flow(name=FLOW_NAME, flow_run_name="offboard-identity-center-{value}", log_prints=False)
def offboard_identity_center_user(
    value: str,
    selector: Selector = "user_name",
    dry_run: bool = False,
    reason: str | None = None,
    ticket: str | None = None,
) -> IdcReport | State[Any]:
    """Delete an IAM Identity Center user (by user name, email, external id ISSUER#ID or user
    id), its account assignments and group memberships, after cutting its live sessions."""
    report = offboard_identity_center_one(
        IdcOffboardRequest(
            value=value, selector=selector, dry_run=dry_run, reason=reason, ticket=ticket
        )
    )
    if report.outcome.ends_run_failed:
        return Failed(message=report.summary(), data=report)
    return Completed(message=report.summary(), data=report)


def run_identity_center_offboarding(value: str, **parameters: Any) -> IdcReport:
    """Run the flow in this process and return its report, whatever the run's final state."""
    state = offboard_identity_center_user(value=value, return_state=True, **parameters)
    return report_of(state, IdcReport)
