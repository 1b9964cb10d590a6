"""Rename a user or change its path, then rewrite the policies that name it as a resource.

Refusals (unknown, protected or taken names) end the run before any mutating call. A run that
failed after UpdateUser can be run again with the same arguments: the audit trail's UpdateUser
record proves the user under the new name is the one renamed, and the run rewrites whatever
still names the old ARN.
"""

from __future__ import annotations

from typing import Any

import structlog
from prefect import flow
from pydantic import model_validator

from audit.records import AuditRecord
from audit.trail import AuditTrailError, default_trail, read_records
from flows.auditing import RunAudit
from flows.protection import protected_name
from flows.report import FailureKind, Outcome, RunReport, StepFailure
from flows.run_context import RunContext, run_context
from tasks.errors import InvalidInputError
from tasks.models import UserSummary, validate_user_name
from tasks.rename import (
    AppliedChange,
    PolicyChange,
    RenamePlan,
    UserRenamed,
    apply_change,
    plan_rename,
    split_user_arn,
    update_user,
    user_arn,
    validate_user_path,
)
from tasks.user import find_user

log = structlog.get_logger("offboard.flow")
FLOW_NAME = "rename-user"
UPDATE_USER = "iam:UpdateUser"


class RenameReport(RunReport):
    user_name: str
    new_name: str | None = None
    new_path: str | None = None
    dry_run: bool
    reason: str | None = None
    ticket: str | None = None
    user: UserSummary | None = None
    plan: RenamePlan | None = None
    # Set when this run finishes the policy rewrites of an earlier run's rename.
    resumed_run_id: str | None = None
    renamed: UserRenamed | None = None
    applied: tuple[AppliedChange, ...] = ()
    # Every change that failed; ``failure`` is the first.
    failures: tuple[StepFailure, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _first_failure(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("failures") and data.get("failure") is None:
            return {**data, "failure": data["failures"][0]}
        return data

    @property
    def unapplied(self) -> tuple[PolicyChange, ...]:
        """Planned changes this run did not write (they failed)."""
        if self.plan is None or self.dry_run:
            return ()
        written = {(a.kind, a.owner_arn, a.policy_name) for a in self.applied}
        return tuple(
            change
            for change in self.plan.changes
            if (change.kind, self._owner_arn(change), change.policy_name) not in written
        )

    def _owner_arn(self, change: PolicyChange) -> str:
        plan = self.plan
        if plan is not None and change.owner_arn == plan.old_arn:
            return plan.new_arn
        return change.owner_arn


def validate_rename_input(user_name: str, new_name: str | None, new_path: str | None) -> None:
    """One-line InvalidInputError for bad input, before any AWS call."""
    validate_user_name(user_name)
    if new_name is None and new_path is None:
        raise InvalidInputError(
            "nothing to change: give a new name (--new-name), a new path (--new-path) or both"
        )
    if new_name is not None:
        validate_user_name(new_name)
    if new_path is not None:
        validate_user_path(new_path)


def earlier_rename(user: UserSummary, old_name: str | None = None) -> AuditRecord | None:
    """The latest audited UpdateUser that made `user` what it is now (same unique id, now at
    its current ARN), optionally from `old_name`; None when the trail has no such record."""
    found: AuditRecord | None = None
    try:
        for record in read_records(default_trail().path):
            if (
                record.flow == FLOW_NAME
                and record.action == UPDATE_USER
                and record.outcome == "done"
                and len(record.resources) == 2
                and record.resources[1] == user.arn
                and record.target.user_id == user.user_id
                and (old_name is None or record.target.user_name == old_name)
            ):
                found = record
    except (FileNotFoundError, AuditTrailError):
        return None
    return found


@flow(name=FLOW_NAME, flow_run_name="rename-{user_name}", log_prints=False)
def rename_user(
    user_name: str,
    new_name: str | None = None,
    new_path: str | None = None,
    dry_run: bool = False,
    reason: str | None = None,
    ticket: str | None = None,
) -> RenameReport:
    """Give `user_name` a new name and/or path, and rewrite every customer-managed and inline
    policy naming its old ARN as a resource; only plan it with ``dry_run``.

    Raises InvalidInputError for bad input. Ends with outcome ``refused`` (unknown or protected
    user, taken name) before any mutating call; ``failed`` lists what did not change.
    """
    validate_rename_input(user_name, new_name, new_path)
    with run_context(
        FLOW_NAME,
        user_name,
        RenameReport,
        dry_run=dry_run,
        reason=reason,
        ticket=ticket,
        new_name=new_name,
        new_path=new_path,
    ) as run:
        return _rename(run, new_name, new_path)


def _rename(
    run: RunContext[RenameReport], new_name: str | None, new_path: str | None
) -> RenameReport:
    dry_run, settings = run.dry_run, run.settings
    resumed: AuditRecord | None = None

    def find(name: str) -> UserSummary | None:
        nonlocal resumed
        user = find_user(name)
        if user is None and new_name is not None and new_name != name:
            # A run that failed after UpdateUser left the user under its new name.
            current = find_user(new_name)
            if current is not None and new_path in (None, current.path):
                resumed = earlier_rename(current, name)
                user = current if resumed is not None else None
        return user

    def refuse(failure: StepFailure) -> RenameReport:
        return run.refuse(failure, failures=(failure,))

    refused = run.resolve(find)
    if refused is not None:
        return refuse(refused)
    user, audit, fields = run.user, run.audit, run.fields
    assert user is not None  # refusal() answers for an unknown user
    fields["user"] = user
    if new_name is not None and protected_name(new_name, settings) is not None:
        # Policies may still name a protected user's ARN; nobody else may take that name.
        return refuse(
            StepFailure(
                step="protect",
                error_code="Protected",
                action=None,
                message=f"{new_name} is listed in protected_user_names and cannot be taken "
                "by a rename",
                kind=FailureKind.protected,
            )
        )

    prefix, _, _ = split_user_arn(user.arn)
    if resumed is not None:
        old_arn = resumed.resources[0]
        change_name = change_path = None
    else:
        old_arn = user.arn
        change_name = new_name if new_name not in (None, user.user_name) else None
        change_path = new_path if new_path not in (None, user.path) else None
        if change_name is not None:
            taken = find_user(change_name)
            # The same unique id is a change of case only, which IAM allows.
            if taken is not None and taken.user_id != user.user_id:
                return refuse(
                    StepFailure(
                        step="resolve",
                        error_code="EntityAlreadyExists",
                        action="iam:GetUser",
                        message=f"an IAM user named {change_name} already exists",
                    )
                )
        if change_name is None and change_path is None:
            # Only an earlier path change of this very name is finished here.
            resumed = earlier_rename(user, user.user_name)
            if resumed is None:
                return refuse(
                    StepFailure(
                        step="resolve",
                        error_code="NothingToChange",
                        action=None,
                        message=f"nothing to change: {user.user_name} already has path {user.path}",
                        kind=FailureKind.refused,
                    )
                )
            old_arn = resumed.resources[0]
    new_arn = user_arn(prefix, change_path or user.path, change_name or user.user_name)
    if resumed is not None:
        fields["resumed_run_id"] = resumed.run_id
        log.info("rename.resumed", earlier_run=resumed.run_id, old_arn=old_arn)

    plan = plan_rename(old_arn, new_arn)
    fields["plan"] = plan
    log.info("rename.plan", changes=len(plan.changes), dry_run=dry_run)
    if dry_run:
        return run.finish(Outcome.planned)

    if resumed is None:
        state = update_user(
            user.user_name, user.user_id, change_name, change_path, return_state=True
        )
        if not state.is_completed():
            failure = StepFailure.from_state("update_user", state)
            audit.record(
                "update_user",
                UPDATE_USER,
                "failed",
                resources=(old_arn, new_arn),
                error_code=failure.error_code,
                message=failure.message,
            )
            return run.finish(Outcome.failed, failures=(failure,))
        renamed: UserRenamed = state.result()
        fields["renamed"] = renamed
        audit.record("update_user", UPDATE_USER, "done", resources=(old_arn, new_arn))
    else:
        audit.record(
            "update_user",
            UPDATE_USER,
            "skipped",
            resources=(old_arn, new_arn),
            message=f"renamed earlier in run {resumed.run_id}",
        )

    applied, failures = _apply(plan, audit)
    return run.finish(
        Outcome.failed if failures else Outcome.renamed,
        applied=tuple(applied),
        failures=tuple(failures),
    )


def _apply(plan: RenamePlan, audit: RunAudit) -> tuple[list[AppliedChange], list[StepFailure]]:
    """Every change, each on its own: one failed policy does not hold back the others."""
    applied: list[AppliedChange] = []
    failures: list[StepFailure] = []
    for change in plan.changes:
        resource = plan.new_arn if change.owner_arn == plan.old_arn else change.owner_arn
        where = "" if change.kind == "managed" else f"inline policy {change.policy_name}: "
        state = apply_change(change, plan.old_arn, plan.new_arn, return_state=True)
        if not state.is_completed():
            failure = StepFailure.from_state("policy", state)
            failures.append(
                failure.model_copy(update={"message": f"{change.label}: {failure.message}"})
            )
            audit.record(
                "policy",
                change.write_action,
                "failed",
                resources=(resource,),
                error_code=failure.error_code,
                message=f"{where}{failure.message}",
            )
            continue
        result: AppliedChange = state.result()
        applied.append(result)
        if result.deleted_version_id:
            audit.record(
                "policy",
                "iam:DeletePolicyVersion",
                "done",
                resources=(resource,),
                message=f"deleted version {result.deleted_version_id} to make room for the new "
                "default version",
            )
        if result.outcome == "done":
            version = (
                f"; new default version {result.new_version_id}" if result.new_version_id else ""
            )
            audit.record(
                "policy",
                result.action,
                "done",
                resources=(resource,),
                message=f"{where}{result.references} reference(s) to {plan.old_arn} now name "
                f"{plan.new_arn}{version}",
            )
        else:
            audit.record(
                "policy",
                result.action,
                "already_absent",
                resources=(resource,),
                message=f"{where}no reference to {plan.old_arn} left",
            )
    return applied, failures
