"""Deactivate and reactivate a user: the flows, and the fallback the offboarding flow uses."""

from __future__ import annotations

from typing import Any, Literal

import structlog
from prefect import flow

from flows.auditing import RunAudit
from flows.report import Outcome, RunReport, StepFailure
from flows.run_context import run_context
from tasks.deactivation import (
    DeactivationChange,
    DenyWindow,
    check_not_ended,
    disable_access_keys,
    put_deny_policy,
    reactivate_access_keys,
    remove_deny_policy,
)
from tasks.models import validate_user_name

log = structlog.get_logger("offboard.flow")


class DeactivationReport(RunReport):
    user_name: str
    action: Literal["deactivate", "reactivate"]
    window: DenyWindow | None = None
    changes: tuple[DeactivationChange, ...] = ()
    message: str | None = None


def apply_deactivation(
    user_name: str, window: DenyWindow | None, disable_keys: bool, audit: RunAudit
) -> tuple[DeactivationChange, ...]:
    """Deny policy first (it blocks everything at once), then the keys; each step audited.

    Raises the task's exception when a step fails (after auditing it)."""
    steps: list[tuple[str, Any]] = [("deny_policy", lambda: put_deny_policy(user_name, window))]
    if disable_keys:
        steps.append(("disable_keys", lambda: disable_access_keys(user_name)))
    changes: list[DeactivationChange] = []
    for step, run in steps:
        try:
            change: DeactivationChange = run()
        except Exception as exc:
            failure = StepFailure.from_exception(step, exc)
            audit.failed(failure, f"deactivate.{step}")
            raise
        changes.append(change)
        _audit_change(
            audit, change, "iam:PutUserPolicy" if step == "deny_policy" else "iam:UpdateAccessKey"
        )
    return tuple(changes)


def _audit_change(audit: RunAudit, change: DeactivationChange, action: str) -> None:
    resources = (
        *change.policies_put,
        *change.policies_removed,
        *(key.access_key_id for key in change.keys_changed),
    )
    audit.record(change.step, action, "done" if change.changed else "skipped", resources=resources)


def _run(
    action: Literal["deactivate", "reactivate"],
    flow_name: str,
    user_name: str,
    reason: str | None,
    ticket: str | None,
    window: DenyWindow | None,
    disable_keys: bool,
) -> DeactivationReport:
    validate_user_name(user_name)
    # The model checks a window's shape; whether it is already over depends on when it runs.
    check_not_ended(window)
    with run_context(
        flow_name,
        user_name,
        DeactivationReport,
        reason=reason,
        ticket=ticket,
        action=action,
        window=window,
    ) as run:
        refused = run.resolve()
        if refused:
            return run.refuse(refused, message=refused.message)
        try:
            changes = _change(action, user_name, window, disable_keys, run.audit)
        except Exception as exc:
            failure = StepFailure.from_exception(action, exc)
            if action == "reactivate":
                run.audit.failed(failure, "reactivate")
            message = f"{failure.error_code} on {failure.action}: {failure.message}"
            return run.finish(Outcome.failed, failure=failure, message=message)
        changed = [c.step for c in changes if c.changed]
        log.info(f"{action}.finished", user=user_name, changed=changed)
        return run.finish(Outcome.done, changes=changes)


def _change(
    action: Literal["deactivate", "reactivate"],
    user_name: str,
    window: DenyWindow | None,
    disable_keys: bool,
    audit: RunAudit,
) -> tuple[DeactivationChange, ...]:
    if action == "deactivate":
        return apply_deactivation(user_name, window, disable_keys, audit)
    removed = remove_deny_policy(user_name)
    _audit_change(audit, removed, "iam:DeleteUserPolicy")
    keys = reactivate_access_keys(user_name)
    _audit_change(audit, keys, "iam:UpdateAccessKey")
    return (removed, keys)


@flow(name="deactivate-user", flow_run_name="deactivate-{user_name}", log_prints=False)
def deactivate_user(
    user_name: str,
    window: DenyWindow | None = None,
    disable_keys: bool = False,
    reason: str | None = None,
    ticket: str | None = None,
) -> DeactivationReport:
    """Attach the deny-all policy (named ``offboard-deactivated``), optionally bounded in time,
    and optionally disable the user's active access keys."""
    return _run("deactivate", "deactivate-user", user_name, reason, ticket, window, disable_keys)


@flow(name="reactivate-user", flow_run_name="reactivate-{user_name}", log_prints=False)
def reactivate_user(
    user_name: str, reason: str | None = None, ticket: str | None = None
) -> DeactivationReport:
    """Remove ``offboard-deactivated`` and re-activate exactly the keys the engine disabled."""
    return _run("reactivate", "reactivate-user", user_name, reason, ticket, None, False)
