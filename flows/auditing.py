"""Writes a run's state changes to the audit trail, with the run's context filled in once,
and publishes the trail's signed head when the run ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from audit.records import AuditEvent, AuditTarget, Outcome
from audit.trail import AuditTrail, default_trail
from config.settings import get_settings
from flows.report import StepFailure
from tasks.audit_anchor import write_anchor
from tasks.errors import describe_failure
from tasks.models import StepResult, UserSummary

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State

    from tasks.snapshot import SnapshotRef

log = structlog.get_logger("offboard.audit")


def target_of(user_name: str, user: UserSummary | None) -> AuditTarget:
    if user is None:
        return AuditTarget(account=None, user_name=user_name, user_arn=None, user_id=None)
    return AuditTarget(
        account=user.account_id, user_name=user.user_name, user_arn=user.arn, user_id=user.user_id
    )


@dataclass
class RunAudit:
    flow: str
    run_id: str | None
    actor: str | None
    target: AuditTarget
    reason: str | None = None
    ticket: str | None = None
    # Dry runs change nothing, so they write nothing.
    enabled: bool = True
    trail: AuditTrail = field(default_factory=default_trail)

    def __post_init__(self) -> None:
        # A torn or foreign log is refused here, before the run changes anything in IAM:
        # AuditTrailError names the file and line.
        if self.enabled:
            self.trail.check_appendable()

    def record(
        self,
        step: str,
        action: str,
        outcome: Outcome,
        resources: tuple[str, ...] = (),
        error_code: str | None = None,
        message: str | None = None,
    ) -> None:
        if not self.enabled:
            return
        self.trail.append(
            AuditEvent(
                run_id=self.run_id,
                flow=self.flow,
                step=step,
                actor=self.actor,
                target=self.target,
                action=action,
                resources=resources,
                outcome=outcome,
                error_code=error_code,
                message=message,
                reason=self.reason,
                ticket=self.ticket,
            )
        )

    def refusal(self, failure: StepFailure) -> None:
        """A refused run changed nothing; the record says who asked and why it was refused."""
        self.failed(failure, f"{failure.step}.refuse", outcome="skipped")

    def failed(
        self,
        failure: StepFailure,
        action: str,
        resources: tuple[str, ...] = (),
        outcome: Outcome = "failed",
    ) -> None:
        """The failure's record: its step, its IAM action (else ``action``), code and why."""
        self.record(
            failure.step,
            failure.action or action,
            outcome,
            resources=resources,
            error_code=failure.error_code,
            message=failure.message,
        )

    def snapshot_written(self, state: State[SnapshotRef]) -> SnapshotRef | StepFailure:
        """The snapshot task's end, recorded: where the snapshot went and its digest, or why it
        was not written."""
        if not state.is_completed():
            failure = StepFailure.from_state("snapshot", state)
            self.failed(failure, "snapshot.write")
            return failure
        written: SnapshotRef = state.result()
        self.record(
            "snapshot",
            "snapshot.write",
            "done",
            resources=(written.location,),
            message=f"sha256 {written.sha256}",
        )
        return written

    def step_result(self, action: str, result: StepResult) -> None:
        """One record per step: what it removed, or that everything was already gone; items an
        earlier attempt of this run removed (its answer lost) get their own record."""
        if result.done_earlier:
            self.record(
                result.step,
                action,
                "done_by_earlier_attempt",
                resources=result.done_earlier,
                message="no such entity on a retry of a call whose answer was lost",
            )
            if not (result.removed or result.already_absent):
                return
        if result.removed:
            outcome: Outcome = "done"
        elif result.already_absent:
            outcome = "already_absent"
        else:
            outcome = "skipped"
        message = (
            f"already absent: {', '.join(result.already_absent)}"
            if (result.removed and result.already_absent)
            else None
        )
        self.record(
            result.step,
            action,
            outcome,
            resources=result.removed or result.already_absent,
            message=message,
        )


def audit_head_markdown(run_id: str | None, trail: AuditTrail | None = None) -> str:
    """The trail's signed head after a run, for the run's artifact; also put beside the
    snapshots when they are in S3. Each copy is an anchor: a log later cut back or rewritten
    no longer contains this head."""
    head = (trail or default_trail()).latest_checkpoint()
    if head is None:
        return ""
    lines = [
        f"- audit head: record {head.seq}, sha256 `{head.head}`, signed by key `{head.key}` "
        f"at {head.time.isoformat()} (check with `offboard audit verify --expect-head`)"
    ]
    try:
        location = write_anchor(get_settings().snapshot_store, head, run_id)
    except Exception as exc:  # the run's own outcome stands; the artifact says what is missing
        code, action, message = describe_failure(exc)
        log.warning("audit.anchor_failed", error=code, action=action, message=message)
        lines.append(f"- audit head NOT kept beside the snapshots: {code} on {action}")
    else:
        if location is not None:
            lines.append(f"- audit head kept at `{location}`")
    return "\n".join(lines) + "\n"
