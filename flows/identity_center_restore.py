"""Put an offboarded Identity Center user back from its snapshot, audited: the user (a new
user id), its group memberships and account assignments. Refused when the user name is taken.
The session deny of the old user id does not touch the new one."""

from __future__ import annotations

import structlog

from audit.records import AuditTarget
from flows.identity_center_rails import IdcReport
from flows.report import FailureKind, Outcome, StepFailure
from flows.run_context import run_context
from tasks.identity import caller_identity
from tasks.identity_center.lookup import user_id_by
from tasks.identity_center.restore import IdcRestoreResult, restore_idc_user
from tasks.identity_center.snapshot import load_idc_snapshot

log = structlog.get_logger("offboard.flow")
FLOW_NAME = "restore-identity-center-user"


class IdcRestoreReport(IdcReport):
    restored: IdcRestoreResult | None = None


def restore_identity_center(location: str, reason: str | None = None) -> IdcRestoreReport:
    snapshot = load_idc_snapshot(location)
    user = snapshot.user
    with run_context(FLOW_NAME, user.user_name, IdcRestoreReport, reason=reason) as run:
        run.caller = caller_identity()
        run.fields.update(instance=snapshot.instance, user=user)
        if user_id_by(snapshot.instance, "user_name", user.user_name) is not None:
            run.adopt(run.caller.arn, None)
            return run.refuse(
                StepFailure(
                    step="restore",
                    error_code="ConflictException",
                    action="identitystore:CreateUser",
                    message=f"an Identity Center user named {user.user_name} exists already",
                    kind=FailureKind.refused,
                )
            )
        state = restore_idc_user(snapshot, return_state=True)
        if not state.is_completed():
            failure = StepFailure.from_state("restore", state)
            run.adopt(run.caller.arn, None)
            run.audit.record(
                "restore",
                failure.action or "identitystore:CreateUser",
                "failed",
                error_code=failure.error_code,
                message=failure.message,
            )
            return run.finish(Outcome.failed, failure=failure)
        restored: IdcRestoreResult = state.result()
        target = AuditTarget(
            account=run.caller.account,
            user_name=user.user_name,
            user_arn=f"arn:aws:identitystore:::user/{restored.user_id}",
            user_id=restored.user_id,
        )
        run.adopt(run.caller.arn, None, target)
        run.audit.record(
            "restore",
            "identitystore:CreateUser",
            "done",
            resources=(restored.user_id, *restored.group_ids, *restored.assignments),
            message=f"from {location}"
            + (f"; missing since: {', '.join(restored.missing)}" if restored.missing else ""),
        )
        return run.finish(Outcome.restored, restored=restored)
