"""What every flow that changes a user starts with: the run's id, the caller, the target and
whether it is refused, the log's bound fields, the audit writer, and the report it ends with."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import structlog
from prefect.runtime import flow_run

from audit.records import AuditTarget
from config.engine import engine
from config.logging import ensure_logging
from config.settings import Settings, get_settings
from flows.auditing import RunAudit, target_of
from flows.protection import refusal
from flows.report import Outcome, RunReport, StepFailure
from flows.task_calls import call
from tasks.identity import CallerIdentity, caller_identity
from tasks.models import UserSummary
from tasks.user import find_user

log = structlog.get_logger("offboard.flow")
R = TypeVar("R", bound=RunReport)


def current_run_id() -> str | None:
    return str(flow_run.id) if flow_run.id else None


@dataclass
class RunContext(Generic[R]):
    flow: str
    user_name: str
    report_type: type[R]
    dry_run: bool = False
    reason: str | None = None
    ticket: str | None = None
    run_id: str | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    settings: Settings = field(default_factory=get_settings)
    # The report's fields gathered as the run goes; ``finish`` adds the outcome and the end.
    fields: dict[str, Any] = field(default_factory=dict)
    caller: CallerIdentity | None = None
    user: UserSummary | None = None
    _audit: RunAudit | None = None

    @property
    def audit(self) -> RunAudit:
        if self._audit is None:
            raise RuntimeError("the run's target is not resolved yet (call resolve())")
        return self._audit

    def resolve(
        self,
        find: Callable[[str], UserSummary | None] = lambda name: call(find_user, name),
        caller: CallerIdentity | None = None,
    ) -> StepFailure | None:
        """Who calls (``caller`` when already known), which user this is (``find``), the audit
        writer; why the run must not touch the user (unknown or protected), or None. The audit
        writer refuses a torn or foreign log here (AuditTrailError), before any change."""
        self.caller = caller or call(caller_identity)
        self.adopt(self.caller.arn, find(self.user_name))
        if (flow_run.run_count or 1) > 1:
            # A retry of this same flow run (operator rerun or the UI's Retry button).
            self.audit.record("run", "run.rerun", "done", message=f"attempt {flow_run.run_count}")
        return refusal(self.user_name, self.user, self.caller, self.settings)

    def adopt(
        self, actor: str | None, user: UserSummary | None, target: AuditTarget | None = None
    ) -> None:
        """The target already resolved (by a batch's plan): no IAM call. ``target``: the audit
        target when IAM no longer has the user (as the trail knew it), or when the run is about
        another kind of identity than an IAM user."""
        self.fields["actor"] = actor
        self.user = user
        self._audit = RunAudit(
            flow=self.flow,
            run_id=self.run_id,
            actor=actor,
            target=target or target_of(self.user_name, user),
            reason=self.reason,
            ticket=self.ticket,
            enabled=not self.dry_run,
        )
        if user is not None:
            structlog.contextvars.bind_contextvars(account=user.account_id)

    def finish(self, outcome: Outcome | str, **more: Any) -> R:
        report = self.report_type.model_validate(
            {
                **self.fields,
                **more,
                "outcome": outcome,
                "run_id": self.run_id,
                "started_at": self.started,
                "finished_at": datetime.now(UTC),
            }
        )
        log.info(f"{self.flow}.finished", outcome=str(report.outcome))
        return report

    def refuse(self, failure: StepFailure, **more: Any) -> R:
        """A refused run changed nothing; the trail says who asked and why."""
        self.audit.refusal(failure)
        return self.finish(Outcome.refused, failure=failure, **more)


def _request_fields(
    report_type: type[RunReport], dry_run: bool, reason: str | None, ticket: str | None
) -> dict[str, Any]:
    """What the run was asked, in the report when its type records it."""
    asked = {"dry_run": dry_run, "reason": reason, "ticket": ticket}
    return {name: value for name, value in asked.items() if name in report_type.model_fields}


@contextmanager
def run_context(
    flow: str,
    user_name: str,
    report_type: type[R],
    *,
    dry_run: bool = False,
    reason: str | None = None,
    ticket: str | None = None,
    **fields: Any,
) -> Iterator[RunContext[R]]:
    """The run's context, with the log's fields bound for its duration; ``fields`` start the
    report (``user_name`` is the target's). The engine is built for the settings in force now,
    so a setting changed since the last run (retries, call rate, trail) applies to this one."""
    ensure_logging()
    engine()
    run = RunContext(
        flow=flow,
        user_name=user_name,
        report_type=report_type,
        dry_run=dry_run,
        reason=reason,
        ticket=ticket,
        run_id=current_run_id(),
        fields={
            "user_name": user_name,
            **_request_fields(report_type, dry_run, reason, ticket),
            **fields,
        },
    )
    structlog.contextvars.bind_contextvars(run_id=run.run_id, target_user=user_name)
    try:
        yield run
    finally:
        structlog.contextvars.unbind_contextvars("run_id", "target_user", "account")
