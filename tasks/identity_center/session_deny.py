"""Cut a departed user's live sessions: role sessions made through a permission set outlive the
deleted assignment for the set's session duration. AWS's remedy is an explicit Deny in the
permission set's inline policy conditioned on ``identitystore:UserId``, then provisioning the
set again. The deny's Sid carries the time after which it may be pruned (the longest session
duration from now); a deny without one (written when deletion could not finish) stays.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tasks.aws import sso_admin_client
from tasks.frozen import Frozen
from tasks.identity_center.models import IdcInstance
from tasks.identity_center.polling import wait_until_done
from tasks.runtime import iam_task

PERMISSIONS = (
    "sso:ListPermissionSets",
    "sso:GetInlinePolicyForPermissionSet",
    "sso:PutInlinePolicyToPermissionSet",
    "sso:DeleteInlinePolicyFromPermissionSet",
    "sso:ProvisionPermissionSet",
    "sso:DescribePermissionSetProvisioningStatus",
)
SID_PREFIX = "OffboardSessionDeny"
CONDITION_KEY = "identitystore:UserId"
_SID = re.compile(rf"^{SID_PREFIX}[A-Za-z0-9]*?(?:Until(?P<until>\d{{12}}))?$")
_UNTIL = "%Y%m%d%H%M"
# A deny already there that ends at most this much before the one asked for is kept: a rerun
# moments later does not rewrite and provision every permission set again. Callers add it to
# the time they ask for.
UNTIL_TOLERANCE = timedelta(minutes=15)


class SessionDenyChange(Frozen):
    permission_set_arn: str
    user_id: str
    # None: the deny stays until removed by hand.
    until: datetime | None
    change: Literal["added", "kept", "pruned"]


def deny_sid(user_id: str, until: datetime | None) -> str:
    # Sids are alphanumeric; the condition holds the exact user id.
    base = SID_PREFIX + re.sub(r"[^A-Za-z0-9]", "", user_id)
    return base + (f"Until{until.astimezone(UTC).strftime(_UNTIL)}" if until else "")


def deny_statement(user_id: str, until: datetime | None) -> dict[str, Any]:
    return {
        "Sid": deny_sid(user_id, until),
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringEquals": {CONDITION_KEY: user_id}},
    }


def _until_of(statement: dict[str, Any]) -> tuple[bool, datetime | None]:
    """(is it one of the engine's denies, the time after which it may go)."""
    found = _SID.match(str(statement.get("Sid") or ""))
    if found is None:
        return False, None
    until = found.group("until")
    return True, datetime.strptime(until, _UNTIL).replace(tzinfo=UTC) if until else None


def _denied_user(statement: dict[str, Any]) -> str | None:
    condition = (statement.get("Condition") or {}).get("StringEquals") or {}
    for key, value in condition.items():
        if key.casefold() == CONDITION_KEY.casefold():
            return str(value)
    return None


def read_inline_policy(instance_arn: str, arn: str) -> dict[str, Any]:
    text = (
        sso_admin_client()
        .get_inline_policy_for_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn)
        .get("InlinePolicy")
    )
    policy: dict[str, Any] = json.loads(text) if text else {"Version": "2012-10-17"}
    statements = policy.get("Statement") or []
    policy["Statement"] = [statements] if isinstance(statements, dict) else list(statements)
    return policy


def write_inline_policy(instance_arn: str, arn: str, policy: dict[str, Any]) -> None:
    """Write the policy (none left: delete it) and provision the set so that it takes effect."""
    sso = sso_admin_client()
    if policy["Statement"]:
        sso.put_inline_policy_to_permission_set(
            InstanceArn=instance_arn, PermissionSetArn=arn, InlinePolicy=json.dumps(policy)
        )
    else:
        sso.delete_inline_policy_from_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn)
    started = sso.provision_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn, TargetType="ALL_PROVISIONED_ACCOUNTS"
    )["PermissionSetProvisioningStatus"]

    def ask(request_id: str) -> dict[str, Any]:
        status: dict[str, Any] = sso.describe_permission_set_provisioning_status(
            InstanceArn=instance_arn, ProvisionPermissionSetRequestId=request_id
        )["PermissionSetProvisioningStatus"]
        return status

    wait_until_done(started, ask, "sso:ProvisionPermissionSet", f"provisioning {arn}")


def _lasts_as_long(statement: dict[str, Any], until: datetime | None) -> bool:
    ours, present = _until_of(statement)
    if not ours:
        return True  # a deny someone else wrote for this user is left as it is
    if present is None:
        return True
    return until is not None and present >= until - UNTIL_TOLERANCE


@iam_task(
    name="identity-center-session-deny",
    task_run_name="session-deny:{user_id}",
)
def deny_sessions(
    instance: IdcInstance,
    user_id: str,
    permission_set_arns: tuple[str, ...],
    until: datetime | None,
    end_lasting: bool = False,
) -> tuple[SessionDenyChange, ...]:
    """Every listed permission set denies ``user_id`` everything, at least until ``until``
    (None: for good). A set that already does is left alone and not provisioned again.
    ``end_lasting`` (the user is deleted now): a deny for good the engine wrote when an earlier
    run could not finish gets ``until`` instead, so that it is pruned in time."""
    changes: list[SessionDenyChange] = []
    for arn in permission_set_arns:
        policy = read_inline_policy(instance.instance_arn, arn)
        mine = [s for s in policy["Statement"] if _denied_user(s) == user_id]
        if end_lasting and until is not None:
            mine = [s for s in mine if _until_of(s) == (True, None)]
            if not mine:
                continue
        elif any(_lasts_as_long(s, until) for s in mine if s.get("Effect") == "Deny"):
            changes.append(
                SessionDenyChange(
                    permission_set_arn=arn, user_id=user_id, until=until, change="kept"
                )
            )
            continue
        policy["Statement"] = [s for s in policy["Statement"] if s not in mine]
        policy["Statement"].append(deny_statement(user_id, until))
        write_inline_policy(instance.instance_arn, arn, policy)
        changes.append(
            SessionDenyChange(permission_set_arn=arn, user_id=user_id, until=until, change="added")
        )
    return tuple(changes)


@iam_task(name="identity-center-prune-session-denies")
def prune_session_denies(
    instance: IdcInstance, now: datetime | None = None
) -> tuple[SessionDenyChange, ...]:
    """Remove the engine's denies whose time has passed, from every permission set."""
    moment = now or datetime.now(UTC)
    pages = (
        sso_admin_client()
        .get_paginator("list_permission_sets")
        .paginate(InstanceArn=instance.instance_arn)
    )
    pruned: list[SessionDenyChange] = []
    for arn in pages.search("PermissionSets[]"):
        policy = read_inline_policy(instance.instance_arn, arn)
        kept: list[dict[str, Any]] = []
        gone: list[SessionDenyChange] = []
        for statement in policy["Statement"]:
            ours, until = _until_of(statement)
            if ours and until is not None and until <= moment:
                gone.append(
                    SessionDenyChange(
                        permission_set_arn=arn,
                        user_id=_denied_user(statement) or "",
                        until=until,
                        change="pruned",
                    )
                )
            else:
                kept.append(statement)
        if gone:
            write_inline_policy(instance.instance_arn, arn, {**policy, "Statement": kept})
            pruned.extend(gone)
    return tuple(pruned)
