"""Seed step 1: delete the user's password (console login profile), if there is one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.errors import if_exists
from tasks.items import LoginProfileItem
from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:GetLoginProfile", "iam:DeleteLoginProfile")


def list_items(iam: IAMClient, user_name: str) -> tuple[LoginProfileItem, ...]:
    found = if_exists(lambda: iam.get_login_profile(UserName=user_name))
    if found is None:
        return ()
    profile = found["LoginProfile"]
    return (
        LoginProfileItem(
            create_date=profile.get("CreateDate"),
            password_reset_required=profile.get("PasswordResetRequired", False),
        ),
    )


def remove(iam: IAMClient, user_name: str, _item: str) -> None:
    iam.delete_login_profile(UserName=user_name)


SPEC = StepSpec(
    name="login_profile",
    label="password",
    title="password (login profile)",
    seed_commands=("delete-login-profile",),
    permissions=PERMISSIONS,
    action="iam:DeleteLoginProfile",
    list_items=list_items,
    remove=remove,
)
delete_login_profile = step_task(SPEC)
