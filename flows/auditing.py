"""Writes a run's state changes to the audit trail, with the run's context filled in once."""

from __future__ import annotations

from dataclasses import dataclass, field

from audit.records import AuditEvent, AuditTarget, Outcome
from audit.trail import AuditTrail, default_trail
from flows.report import StepFailure
from tasks.models import StepResult, UserSummary


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
        self.record(
            failure.step,
            failure.action or f"{failure.step}.refuse",
            "skipped",
            error_code=failure.error_code,
            message=failure.message,
        )

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
