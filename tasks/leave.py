"""Leave windows on IAM: one time-bounded deny policy per window, kept in step with the calendar.

AWS enforces each window itself (aws:CurrentTime), so a sync only has to run now and then.
"""

from __future__ import annotations

from datetime import datetime

from tasks.aws import count_calls, iam_client
from tasks.deactivation import (
    DeactivationChange,
    DenyWindow,
    deny_document,
    window_of_policy_name,
)
from tasks.inline_policies import current_document, ensure_policy, remove_policy
from tasks.runtime import iam_task

PERMISSIONS = (
    "iam:ListUserPolicies",
    "iam:GetUserPolicy",
    "iam:PutUserPolicy",
    "iam:DeleteUserPolicy",
)


@iam_task(name="sync-user-leave", task_run_name="leave:{user_name}")
def sync_user_leave(
    user_name: str, windows: tuple[DenyWindow, ...], now: datetime
) -> DeactivationChange:
    """Ensure a policy for each window not yet ended; remove our policies whose window ended or
    left the calendar, but only when unmodified (ours and matching). Reads before every write,
    so a second sync writes nothing."""
    iam = iam_client()
    put: list[str] = []
    removed: list[str] = []
    with count_calls() as calls:
        desired = {w.policy_name(): w for w in windows if not w.ended(now)}
        for name, window in desired.items():
            if ensure_policy(iam, user_name, name, deny_document(window)):
                put.append(name)
        pages = iam.get_paginator("list_user_policies").paginate(UserName=user_name)
        for name in pages.search("PolicyNames[]"):
            encoded = window_of_policy_name(name)
            if encoded is None or name in desired:
                continue
            if current_document(iam, user_name, name) == deny_document(encoded) and remove_policy(
                iam, user_name, name
            ):
                removed.append(name)
    return DeactivationChange(
        step="leave",
        user_name=user_name,
        policies_put=tuple(put),
        policies_removed=tuple(removed),
        api_calls=calls.count,
    )
