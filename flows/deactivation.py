"""Deactivate and reactivate a user: the flows, and the fallback the offboarding flow uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from prefect import flow
from prefect.runtime import flow_run

from config.logging import ensure_logging
from config.settings import get_settings
from flows.auditing import RunAudit, target_of
from flows.protection import refusal
from tasks.deactivation import (
    DeactivationChange,
    DenyWindow,
    check_not_ended,
    disable_access_keys,
    put_deny_policy,
    reactivate_access_keys,
    remove_deny_policy,
)
from tasks.errors import describe_failure
from tasks.frozen import Frozen
from tasks.identity import caller_identity
from tasks.models import validate_user_name
from tasks.user import find_user

log = structlog.get_logger("offboard.flow")


class DeactivationReport(Frozen):
    user_name: str
    action: Literal["deactivate", "reactivate"]
    outcome: Literal["done", "refused", "failed"]
    window: DenyWindow | None = None
    changes: tuple[DeactivationChange, ...] = ()
    message: str | None = None
    run_id: str | None = None
    finished_at: datetime


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
            code, action, message = describe_failure(exc)
            audit.record(
                step, action or f"deactivate.{step}", "failed", error_code=code, message=message
            )
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
    ensure_logging()
    validate_user_name(user_name)
    # The model checks a window's shape; whether it is already over depends on when it runs.
    check_not_ended(window)
    run_id = str(flow_run.id) if flow_run.id else None
    caller = caller_identity()
    user = find_user(user_name)
    audit = RunAudit(
        flow=flow_name,
        run_id=run_id,
        actor=caller.arn,
        target=target_of(user_name, user),
        reason=reason,
        ticket=ticket,
    )

    def report(outcome: Literal["done", "refused", "failed"], **more: Any) -> DeactivationReport:
        return DeactivationReport(
            user_name=user_name,
            action=action,
            outcome=outcome,
            window=window,
            run_id=run_id,
            finished_at=datetime.now(UTC),
            **more,
        )

    refused = refusal(user_name, user, caller, get_settings())
    if refused:
        audit.refusal(refused)
        return report("refused", message=refused.message)
    try:
        if action == "deactivate":
            changes = apply_deactivation(user_name, window, disable_keys, audit)
        else:
            removed = remove_deny_policy(user_name)
            _audit_change(audit, removed, "iam:DeleteUserPolicy")
            keys = reactivate_access_keys(user_name)
            _audit_change(audit, keys, "iam:UpdateAccessKey")
            changes = (removed, keys)
    except Exception as exc:
        code, action_name, message = describe_failure(exc)
        if action == "reactivate":
            audit.record(
                "reactivate",
                action_name or "reactivate",
                "failed",
                error_code=code,
                message=message,
            )
        return report("failed", message=f"{code} on {action_name}: {message}")
    log.info(f"{action}.finished", user=user_name, changed=[c.step for c in changes if c.changed])
    return report("done", changes=changes)


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
